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
}


#: Cells whose verdict over a suffix transport differs from the base cell's.
#: Every other transport cell is expected to behave as its base cell.
BY_TRANSPORT: dict[str, Expectation] = {}


def expected(cell_id: str, resolved: str | None = None) -> Expectation:
    """What we measured for a cell.

    An ``auto`` cell behaves as the cell of the mode ``SocketIO(app)`` resolves
    to: ``resolved`` when the server reported it, else the mode predicted from
    what is installed here. A cell with a transport suffix behaves as its base
    cell unless ``BY_TRANSPORT`` says otherwise.
    """
    cell = parse(cell_id)
    if cell.mode == "auto":
        mode = resolved or auto_mode()
        concrete = cell_id.replace("auto-", ("gevent" if mode == "gevent_uwsgi" else mode) + "-", 1)
        same = expected(concrete)
        return Expectation(same.verdict, f"SocketIO(app) resolves to {mode} here, so this is "
                           f"{concrete}: {same.why}", _DOC_AUTO)
    if cell.family:
        if cell_id in BY_TRANSPORT:
            return BY_TRANSPORT[cell_id]
        same = EXPECTED[cell.base.id]
        return Expectation(same.verdict, f"as over the default transport: {same.why}", same.doc)
    return EXPECTED[cell_id]
