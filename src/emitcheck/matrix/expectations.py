"""What we measured for every cell: the verdict we expect, and why in one line.

Each entry was observed on real servers (see docs/matrix.md for the versions),
not copied from articles. Change an entry only after measuring the cell again.
The base and CPU-bound cells are in ``EXPECTED``; each family module
(families/) declares how its values change them (its ``expect``).
"""

from __future__ import annotations

from emitcheck.matrix.cell import Cell
from emitcheck.matrix.cells import parse
from emitcheck.model.expectation import Expectation

_DOC_THREADING = "pitfall.md#threading-mode-delivered"
_DOC_PATCHED = "pitfall.md#monkey-patching"
_DOC_BLOCKS = "pitfall.md#a-greenlet-that-blocks-starved"
_DOC_GEVENT_THREAD = "pitfall.md#an-os-thread-under-gevent-delayed"
_DOC_EVENTLET_THREAD = "pitfall.md#an-os-thread-under-eventlet-lost-and-error"
_DOC_CPU = "pitfall.md#cpu-bound-work"


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


def expected(cell: Cell | str, resolved: str | None = None) -> Expectation:
    """What we measured for a cell.

    The values of the cell decide, outermost first: the mode (``auto`` is
    judged as the mode it resolves to: ``resolved`` when the server reported
    it), then the suffix factors from the last declared to the first (a server
    that patches by itself makes its cell the patched one, beneath which a
    queue has its own rules), each by its ``expect`` (families/). Where no
    value decides, the cell is its base cell, measured in ``EXPECTED``.
    """
    cell = parse(cell) if isinstance(cell, str) else cell
    for value in _outermost_first(cell):
        decided = value.expect(cell, expected, resolved)
        if decided is not None:
            return decided
    base = EXPECTED[cell.base.id]
    if not cell.suffixes:
        return base
    said = "; ".join(v.help for v in cell.variants() if v.value in cell.suffixes)
    return Expectation(base.verdict, f"as {cell.base.id} ({said}): {base.why}", base.doc)


def _outermost_first(cell: Cell) -> list:
    values = cell.variants()
    return [values[0], *reversed(values[4:]), *values[1:4]]
