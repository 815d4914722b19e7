"""What we measured for every cell: the verdict we expect, and why in one line.

Each entry was observed on real servers (see docs/matrix.md for the versions),
not copied from articles. Change an entry only after measuring the cell again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cells import parse
from .environment import auto_mode

#: Where the docs are published; a cell's ``doc`` is relative to this. Reports
#: that are pasted into bug trackers link here.
DOCS_URL = "https://github.com/emitcheck/emitcheck/blob/main/docs/"

_DOC_THREADING = "pitfall.md#threading-mode-delivered"
_DOC_PATCHED = "pitfall.md#monkey-patching"
_DOC_BLOCKS = "pitfall.md#a-greenlet-that-blocks-starved"
_DOC_GEVENT_THREAD = "pitfall.md#an-os-thread-under-gevent-delayed"
_DOC_EVENTLET_THREAD = "pitfall.md#an-os-thread-under-eventlet-lost-and-error"
_DOC_AUTO = "pitfall.md#which-mode-you-get"
_DOC_CPU = "pitfall.md#cpu-bound-work"
_DOC_QUEUE = "pitfall.md#a-message-queue-and-emitters-in-other-processes"
_DOC_GUNICORN = "pitfall.md#gunicorn"


@dataclass(frozen=True)
class Expectation:
    verdict: str
    why: str
    doc: str  # the docs section that explains the cell, relative to DOCS_URL

    @property
    def url(self) -> str:
        return DOCS_URL + self.doc


THREADING_OK = Expectation(
    "delivered", "threading mode: OS threads, time.sleep and socketio.sleep are all fine",
    _DOC_THREADING)
PATCHED_OK = Expectation(
    "delivered", "monkey patched: threads are greenlets and time.sleep yields to the hub",
    _DOC_PATCHED)
TASK_OK = Expectation(
    "delivered", "a greenlet that waits with socketio.sleep yields to the hub", _DOC_BLOCKS)
HUB_BLOCKED = Expectation(
    "starved", "time.sleep in a greenlet blocks the unpatched hub: the whole server stops "
    "answering", _DOC_BLOCKS)

THREADING_BUSY_OK = Expectation(
    "delivered", "threading mode: the interpreter hands the busy thread's lock to the "
    "others every 5 ms, so the server keeps running", _DOC_CPU)
BUSY_BLOCKS = Expectation(
    "starved", "a CPU loop in a greenlet never yields, patched or not: the hub, and so "
    "the whole server, stops", _DOC_CPU)
BUSY_BLOCKS_START = Expectation(
    "starved", "the patched thread is a greenlet whose CPU loop never yields: the server "
    "never even starts listening", _DOC_CPU)
YIELD_OK = Expectation(
    "delivered", "socketio.sleep(0) every 5 ms gives the hub its turns (under gevent, "
    "replies slow to about 230 ms)", _DOC_CPU)

EXPECTED: dict[str, Expectation] = {
    "threading-unpatched-thread-time_sleep": THREADING_OK,
    "threading-unpatched-thread-socketio_sleep": THREADING_OK,
    "threading-unpatched-task-time_sleep": THREADING_OK,
    "threading-unpatched-task-socketio_sleep": THREADING_OK,
    "eventlet-unpatched-thread-time_sleep": Expectation(
        "lost", "emit from an OS thread schedules the writer's wake-up on that thread's own "
        "hub, which never runs; the connection is wedged (acks too) while HTTP answers",
        _DOC_EVENTLET_THREAD),
    "eventlet-unpatched-thread-socketio_sleep": Expectation(
        "error", "socketio.sleep runs the OS thread's own hub, which tries to wake the main "
        "thread's writer greenlet: 'greenlet.error: Cannot switch to a different thread' is "
        "logged and the connection is wedged", _DOC_EVENTLET_THREAD),
    "eventlet-unpatched-task-time_sleep": HUB_BLOCKED,
    "eventlet-unpatched-task-socketio_sleep": TASK_OK,
    "eventlet-patched-thread-time_sleep": PATCHED_OK,
    "eventlet-patched-thread-socketio_sleep": PATCHED_OK,
    "eventlet-patched-task-time_sleep": PATCHED_OK,
    "eventlet-patched-task-socketio_sleep": PATCHED_OK,
    "gevent-unpatched-thread-time_sleep": Expectation(
        "delayed", "emit from an OS thread queues the packet but does not wake the hub: "
        "events leave only when traffic or a timer wakes the server", _DOC_GEVENT_THREAD),
    "gevent-unpatched-thread-socketio_sleep": Expectation(
        "delayed", "socketio.sleep in an OS thread runs that thread's own hub; the server's "
        "hub still only wakes on traffic or a timer", _DOC_GEVENT_THREAD),
    "gevent-unpatched-task-time_sleep": HUB_BLOCKED,
    "gevent-unpatched-task-socketio_sleep": TASK_OK,
    "gevent-patched-thread-time_sleep": PATCHED_OK,
    "gevent-patched-thread-socketio_sleep": PATCHED_OK,
    "gevent-patched-task-time_sleep": PATCHED_OK,
    "gevent-patched-task-socketio_sleep": PATCHED_OK,
    # CPU-bound work: a loop that never yields (busy), and the same loop calling
    # socketio.sleep(0) every 5 ms (busy_yield).
    "threading-unpatched-thread-busy": THREADING_BUSY_OK,
    "threading-unpatched-thread-busy_yield": THREADING_BUSY_OK,
    "threading-unpatched-task-busy": THREADING_BUSY_OK,
    "threading-unpatched-task-busy_yield": THREADING_BUSY_OK,
    "eventlet-unpatched-thread-busy": Expectation(
        "lost", "an OS thread under unpatched eventlet, as with time.sleep: the writer's "
        "wake-up goes to the thread's own hub, which never runs", _DOC_CPU),
    "eventlet-unpatched-thread-busy_yield": Expectation(
        "error", "socketio.sleep(0) in an OS thread runs that thread's own hub, which tries "
        "to wake the main thread's writer: 'Cannot switch to a different thread'", _DOC_CPU),
    "eventlet-unpatched-task-busy": BUSY_BLOCKS,
    "eventlet-unpatched-task-busy_yield": YIELD_OK,
    "eventlet-patched-thread-busy": BUSY_BLOCKS_START,
    "eventlet-patched-thread-busy_yield": YIELD_OK,
    "eventlet-patched-task-busy": BUSY_BLOCKS,
    "eventlet-patched-task-busy_yield": YIELD_OK,
    "gevent-unpatched-thread-busy": Expectation(
        "delayed", "an OS thread under unpatched gevent, as with time.sleep: the hub is not "
        "woken by the emit", _DOC_CPU),
    "gevent-unpatched-thread-busy_yield": Expectation(
        "delayed", "socketio.sleep(0) in an OS thread runs that thread's own hub; the "
        "server's hub still only wakes on traffic or a timer", _DOC_CPU),
    "gevent-unpatched-task-busy": BUSY_BLOCKS,
    "gevent-unpatched-task-busy_yield": YIELD_OK,
    "gevent-patched-thread-busy": BUSY_BLOCKS_START,
    "gevent-patched-thread-busy_yield": YIELD_OK,
    "gevent-patched-task-busy": BUSY_BLOCKS,
    "gevent-patched-task-busy_yield": YIELD_OK,
}


#: Cells whose verdict over a suffix transport differs from the base cell's.
#: Every other transport cell is expected to behave as its base cell.
BY_TRANSPORT: dict[str, Expectation] = {}

# Through Redis (the -redis suffix): every emit, the server's own included,
# goes to Redis and comes back through the listener the server starts at its
# first connect.
QUEUE_OK = Expectation(
    "delivered", "the emit goes to Redis and comes back through the server's listener, "
    "which runs in a real thread or a patched greenlet", _DOC_QUEUE)
QUEUE_REFUSED = Expectation(
    "error", "python-socketio's RedisManager will not run on unpatched eventlet or gevent: "
    "the first connect raises 'RuntimeError: Redis requires a monkey patched socket "
    "library' and the client is refused (HTTP 401)", _DOC_QUEUE)
QUEUE_HUB_BLOCKED = Expectation(
    "starved", "time.sleep in a greenlet blocks the unpatched hub before any client "
    "connects: the server never gets to refuse it", _DOC_QUEUE)
MANAGER_CHANNEL = Expectation(
    "lost", "python-socketio's RedisManager publishes on its default channel 'socketio'; "
    "Flask-SocketIO listens on 'flask-socketio' (pass channel='flask-socketio')", _DOC_QUEUE)
GUNICORN_OK = Expectation(
    "delivered", "gunicorn's gevent and eventlet workers monkey patch before they load "
    "the app, and gthread serves threading mode with OS threads", _DOC_GUNICORN)


def _through_redis(cell) -> Expectation:
    if cell.mode in ("eventlet", "gevent") and cell.patch == "unpatched":
        if cell.spawn == "task" and cell.wait == "time_sleep":
            return QUEUE_HUB_BLOCKED
        return QUEUE_REFUSED
    return MANAGER_CHANNEL if cell.spawn == "process_manager" else QUEUE_OK


def expected(cell_id: str, resolved: str | None = None) -> Expectation:
    """What we measured for a cell.

    An ``auto`` cell behaves as the cell of the mode ``SocketIO(app)`` resolves
    to: ``resolved`` when the server reported it, else the mode predicted from
    what is installed here. Cells through Redis and under gunicorn follow the
    rules above. A cell with a transport or client suffix behaves as its base
    cell (the Node client must agree with the Python one) unless
    ``BY_TRANSPORT`` says otherwise.
    """
    cell = parse(cell_id)
    if cell.mode == "auto":
        mode = resolved or auto_mode()
        concrete = cell_id.replace("auto-", ("gevent" if mode == "gevent_uwsgi" else mode) + "-", 1)
        same = expected(concrete)
        return Expectation(same.verdict, f"SocketIO(app) resolves to {mode} here, so this is "
                           f"{concrete}: {same.why}", _DOC_AUTO)
    if cell.queue == "redis":
        return _through_redis(cell)
    if cell.server == "gunicorn":
        return GUNICORN_OK
    if cell.family:
        if cell_id in BY_TRANSPORT:
            return BY_TRANSPORT[cell_id]
        same = EXPECTED[cell.base.id]
        how = "with the Node client" if cell.client == "node" else \
            "as over the default transport"
        return Expectation(same.verdict, f"{how}: {same.why}", same.doc)
    return EXPECTED[cell_id]
