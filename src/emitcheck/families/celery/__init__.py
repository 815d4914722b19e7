"""Work that runs as a Celery task in a real Celery worker (issue 12).

The ``celery`` and ``celery_app`` spawns: the web app's route sends the task
``emitcheck.emit_ticks`` (server_child.add_celery_route) and a Celery worker
runs the task (celery_worker.py), which emits ticks as the other work does.
``celery`` emits with ``SocketIO(message_queue=URL)`` and no app, the way
Flask-SocketIO documents for other processes; ``celery_app`` with the web
app's own ``socketio`` object, made in the worker as the web server makes it:
with ``message_queue`` only in ``-redis`` cells, the classic mistake otherwise
(Flask-SocketIO 472, 1446, 1359). ``-redis`` is the web server's queue, as
everywhere; the broker is always a redis-server of the cell's own
(worker.py).

The ``pool`` factor: the worker's ``--pool``, for those spawns (``none`` for
every other cell). The gevent and eventlet pools patch the worker (Celery's
entry point does it, before anything else).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, ClassVar

from emitcheck.families.spawns import Spawn
from emitcheck.matrix.cell import Expect, Variant

DOC = "deployments.md#celery-workers"
#: One grid for the family, its suffixes in the columns.
GRID = "Celery workers"
SPAWNS = ("celery", "celery_app")
WAITS = ("time_sleep", "socketio_sleep")

#: The default matrix's Celery cells (the rest run by id): on each row that runs
#: in a tox environment of its own stack, both ways of emitting with and without
#: the web server's queue, and each pool where it belongs (the green pools with
#: their own mode: an environment has one green library at most).
DEFAULT_CELLS = frozenset({
    "threading-unpatched-celery-time_sleep-prefork",
    "threading-unpatched-celery-time_sleep-redis-prefork",
    "threading-unpatched-celery_app-time_sleep-prefork",
    "threading-unpatched-celery_app-time_sleep-redis-prefork",
    "threading-unpatched-celery-time_sleep-redis-threads",
    "threading-unpatched-celery-socketio_sleep-redis-solo",
    "gevent-patched-celery-time_sleep-gevent_pool",
    "gevent-patched-celery-time_sleep-redis-gevent_pool",
    "gevent-patched-celery_app-time_sleep-gevent_pool",
    "gevent-patched-celery_app-socketio_sleep-redis-gevent_pool",
    "gevent-patched-celery-time_sleep-redis-prefork",
    "gevent-unpatched-celery-time_sleep-redis-gevent_pool",
    "eventlet-patched-celery-time_sleep-eventlet_pool",
    "eventlet-patched-celery-time_sleep-redis-eventlet_pool",
    "eventlet-patched-celery_app-time_sleep-eventlet_pool",
    "eventlet-patched-celery_app-socketio_sleep-redis-eventlet_pool",
    "eventlet-unpatched-celery-time_sleep-redis-eventlet_pool",
    "asgi-unpatched-celery-time_sleep-prefork",
    "asgi-unpatched-celery-time_sleep-redis-prefork",
})


def _pools() -> str:
    """The Celery pools, for messages: "prefork, threads, ..."."""
    from emitcheck.matrix.cell import variants

    return ", ".join(v.value for v in variants("pool") if isinstance(v, CeleryPool))


@dataclass(eq=False)
class CelerySpawn(Spawn):
    def conflict(self, cell):
        if cell.wait not in WAITS:
            return (f"the Celery task waits with {' or '.join(WAITS)}, not {cell.wait}: "
                    f"use {self.value}-time_sleep")
        if cell.pool == "none":
            return (f"spawn {self.value} runs in a Celery worker: add its pool, e.g. "
                    f"{cell.id}-prefork (pools: {_pools()})")
        return None


@dataclass(eq=False)
class Pool(Variant):
    factor: ClassVar[str] = "pool"


@dataclass(eq=False)
class CeleryPool(Pool):
    #: Celery's ``--pool`` value.
    celery_pool: str = ""
    #: The library the pool patches the worker with (gevent, eventlet), if any.
    patches: str | None = None

    def conflict(self, cell):
        if cell.spawn not in SPAWNS:
            return (f"pool {self.value} is a Celery worker's pool: it goes with spawn "
                    f"{' or '.join(SPAWNS)}, e.g. {cell.mode}-{cell.patch}-celery-"
                    f"time_sleep-{self.value}")
        return None

    def unavailable(self, cell):
        from emitcheck.families.redis import redis_unavailable

        if importlib.util.find_spec("celery") is None:
            return "celery not installed (pip install 'emitcheck[celery]')"
        if reason := redis_unavailable():  # the broker
            return reason
        if self.patches and importlib.util.find_spec(self.patches) is None:
            return f"{self.patches} not installed"
        return None

    def in_default(self, cell):
        return cell.id in DEFAULT_CELLS

    def expect(self, cell, expected: Expect, resolved=None):
        from emitcheck.matrix.cell import CellError, variant
        from emitcheck.model.expectation import Expectation

        if cell.queue == "none":
            if cell.spawn == "celery":
                return Expectation(
                    "lost", "the task publishes its emits on Redis, but the web server has "
                    "no message_queue: nothing listens, nothing arrives", DOC)
            return Expectation(
                "lost", "the app's socketio, imported into the worker, has no message_queue: "
                "its emits go to the worker's own Socket.IO server, which has no clients",
                DOC)
        asyncio = variant("mode", cell.mode).asyncio
        try:  # the web server's side is the process spawn's: another process, through Redis
            twin = expected(cell.replace(spawn="process_manager" if asyncio else "process",
                                         pool="none"))
        except CellError:
            return None
        how = "SocketIO(message_queue=URL)" if cell.spawn == "celery" else \
            "the app's socketio (it has message_queue)"
        if asyncio:
            how = "python-socketio's RedisManager(URL, write_only=True)"
        return Expectation(twin.verdict, f"the task emits with {how} through Redis to the "
                           f"web server, as another process would: {twin.why}", DOC)

    def before_server(self, run):
        from emitcheck.families.celery.worker import start_worker

        start_worker(run, self.celery_pool)  # it starts while the web server does

    def after_server(self, run):
        from emitcheck.families.celery.worker import start_task, worker_of

        worker = worker_of(run)
        assert worker is not None  # before_server started it
        start_task(run, worker)

    def after_window(self, run, obs):
        from emitcheck.families.celery.worker import worker_of
        from emitcheck.system.environment import versions_of

        worker = worker_of(run)
        if worker is None:
            return
        try:  # the worker's own release: it may run another environment (--others-with)
            celery = versions_of(run.others_python).get("celery") or "(not installed)"
        except RuntimeError:
            celery = "(unknown)"
        obs.facts["worker"] = f"celery {celery}, {self.celery_pool} pool"
        received = " received" in worker.log()  # "Task emitcheck.emit_ticks[ID] received"
        obs.facts["task"] = worker.send_outcome + (
            ", received by the worker" if received else ", never received by the worker")
        obs.facts["events via"] = _events_via(run.cell)


def _events_via(cell) -> str:
    if cell.spawn == "celery" and cell.queue == "none":
        return "the Redis queue, which the web server does not listen to"
    if cell.queue == "none":
        return "the worker's own socketio, no queue: nowhere"
    return "the Redis queue"


_FAMILY: dict[str, Any] = {"reproducible": False, "doc": DOC, "grid": GRID}
VARIANTS = [
    CelerySpawn("celery", "the web app sends a task (.delay()); a Celery worker's task emits "
                "with SocketIO(message_queue=URL) and no app",
                remedy="emit from the Celery task with SocketIO(message_queue=URL)", **_FAMILY),
    CelerySpawn("celery_app", "the web app sends a task (.delay()); a Celery worker's task "
                "emits with the app's own socketio, imported into the worker", **_FAMILY),
    Pool("none", "no Celery worker"),
    CeleryPool("prefork", "a Celery worker with the prefork pool (Celery's default): the "
               "task runs in a forked child", celery_pool="prefork", **_FAMILY),
    CeleryPool("threads", "a Celery worker with the threads pool", celery_pool="threads",
               **_FAMILY),
    CeleryPool("solo", "a Celery worker with the solo pool: the task runs in the worker's "
               "main thread", celery_pool="solo", **_FAMILY),
    CeleryPool("gevent_pool", "a Celery worker with the gevent pool (Celery monkey patches "
               "the worker with gevent first)", celery_pool="gevent", patches="gevent",
               **_FAMILY),
    CeleryPool("eventlet_pool", "a Celery worker with the eventlet pool (Celery monkey "
               "patches the worker with eventlet first)", celery_pool="eventlet",
               patches="eventlet", **_FAMILY),
]
