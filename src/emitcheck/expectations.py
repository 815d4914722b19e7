"""What we measured for every cell: the verdict we expect, and why in one line.

Each entry was observed on real servers (see docs/matrix.md for the versions),
not copied from articles. Change an entry only after measuring the cell again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expectation:
    verdict: str
    why: str


_OK_THREADING = "threading mode: OS threads, time.sleep and socketio.sleep are all fine"
_OK_PATCHED = "monkey patched: threads are greenlets and time.sleep yields to the hub"
_OK_TASK = "a greenlet that waits with socketio.sleep yields to the hub"
_FREEZE = ("time.sleep in a greenlet blocks the unpatched hub: the whole server "
           "stops answering")

EXPECTED: dict[str, Expectation] = {
    "threading-unpatched-thread-time_sleep": Expectation("delivered", _OK_THREADING),
    "threading-unpatched-thread-socketio_sleep": Expectation("delivered", _OK_THREADING),
    "threading-unpatched-task-time_sleep": Expectation("delivered", _OK_THREADING),
    "threading-unpatched-task-socketio_sleep": Expectation("delivered", _OK_THREADING),
    "eventlet-unpatched-thread-time_sleep": Expectation(
        "lost", "emit from an OS thread schedules the writer's wake-up on that thread's own "
                "hub, which never runs; the connection is wedged (acks too) while HTTP answers"),
    "eventlet-unpatched-thread-socketio_sleep": Expectation(
        "error", "socketio.sleep runs the OS thread's own hub, which tries to wake the main "
                 "thread's writer greenlet: 'greenlet.error: Cannot switch to a different "
                 "thread' is logged and the connection is wedged"),
    "eventlet-unpatched-task-time_sleep": Expectation("starved", _FREEZE),
    "eventlet-unpatched-task-socketio_sleep": Expectation("delivered", _OK_TASK),
    "eventlet-patched-thread-time_sleep": Expectation("delivered", _OK_PATCHED),
    "eventlet-patched-thread-socketio_sleep": Expectation("delivered", _OK_PATCHED),
    "eventlet-patched-task-time_sleep": Expectation("delivered", _OK_PATCHED),
    "eventlet-patched-task-socketio_sleep": Expectation("delivered", _OK_PATCHED),
    "gevent-unpatched-thread-time_sleep": Expectation(
        "delayed", "emit from an OS thread queues the packet but does not wake the hub: "
                   "events leave only when traffic or a timer wakes the server"),
    "gevent-unpatched-thread-socketio_sleep": Expectation(
        "delayed", "socketio.sleep in an OS thread runs that thread's own hub; the server's "
                   "hub still only wakes on traffic or a timer"),
    "gevent-unpatched-task-time_sleep": Expectation("starved", _FREEZE),
    "gevent-unpatched-task-socketio_sleep": Expectation("delivered", _OK_TASK),
    "gevent-patched-thread-time_sleep": Expectation("delivered", _OK_PATCHED),
    "gevent-patched-thread-socketio_sleep": Expectation("delivered", _OK_PATCHED),
    "gevent-patched-task-time_sleep": Expectation("delivered", _OK_PATCHED),
    "gevent-patched-task-socketio_sleep": Expectation("delivered", _OK_PATCHED),
}


def expected(cell_id: str) -> Expectation:
    return EXPECTED[cell_id]
