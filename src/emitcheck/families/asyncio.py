"""python-socketio's ``AsyncServer`` on an asyncio loop: ``asgi`` (``socketio.ASGIApp``
under uvicorn) and ``aiohttp`` (``web.run_app``), and the ways apps hand work
to the loop (scripts/async_server_child.py has the code of each).

The work of an asyncio cell is a coroutine (``task``, ``unawaited``) or an OS
thread that must get its emits onto the serving loop (``thread_threadsafe``,
``thread_asyncio_run``, ``thread_import_loop``, ``executor``); such a thread
cannot await, so it waits with ``time_sleep``.

Asyncio cells take the suffixes we measured them with (``DEPLOYMENTS``), each
family deciding its cells' verdicts: ``-gunicorn`` (gunicorn's uvicorn worker),
``-redis`` (``AsyncRedisManager``, and work in another process emitting
through it: ``process_manager``), two servers behind nginx (families/cluster.py),
and uvicorn with two workers (families/workers.py); an emit to a namespace no client
is on (families/namespaces.py), the one suffix aiohttp cells take yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import ModeVariant, Variant
from emitcheck.model.expectation import Expectation

DOC = "pitfall.md#asyncio-servers"
_DOC_BLOCKED = "pitfall.md#a-coroutine-that-blocks-the-loop-starved"
_DOC_THREAD = "pitfall.md#an-os-thread-and-the-loop"
_DOC_UNAWAITED = "pitfall.md#an-emit-never-awaited-lost"

_LOOP_OK = Expectation(
    "delivered", "a coroutine that waits with await sio.sleep gives the loop its turns", DOC)
_LOOP_BLOCKED = Expectation(
    "starved", "time.sleep in a coroutine blocks the event loop: the whole server stops "
    "answering", _DOC_BLOCKED)

#: What we measured, by (spawn, wait), in both modes unless ``MODE_EXPECTED`` says
#: otherwise; event_wait blocks as time_sleep does (families/waits.py).
EXPECTED: dict[tuple[str, str], Expectation] = {
    ("task", "socketio_sleep"): _LOOP_OK,
    ("task", "time_sleep"): _LOOP_BLOCKED,
    ("task", "busy"): Expectation(
        "starved", "a CPU loop in a coroutine never yields: the event loop, and so the "
        "whole server, stops", _DOC_BLOCKED),
    ("task", "busy_yield"): Expectation(
        "delivered", "await sio.sleep(0) every 5 ms gives the event loop its turns",
        "pitfall.md#cpu-bound-work"),
    ("unawaited", "socketio_sleep"): Expectation(
        "lost", "sio.emit(...) without await makes a coroutine that never runs: nothing "
        "is sent, and Python says only 'RuntimeWarning: coroutine ... was never awaited'",
        _DOC_UNAWAITED),
    ("thread_threadsafe", "time_sleep"): Expectation(
        "delivered", "asyncio.run_coroutine_threadsafe hands each emit to the serving loop, "
        "which sends it", _DOC_THREAD),
    ("executor", "time_sleep"): Expectation(
        "delivered", "blocking work in loop.run_in_executor that hands each emit back to "
        "the loop with run_coroutine_threadsafe", _DOC_THREAD),
    ("thread_import_loop", "time_sleep"): Expectation(
        "lost", "run_coroutine_threadsafe onto a loop captured at import, which the server "
        "(with a loop of its own) never runs: every emit waits forever, with no error",
        _DOC_THREAD),
    ("thread_asyncio_run", "time_sleep"): Expectation(
        "delivered", "asyncio.run(sio.emit(...)) in an OS thread queues each packet from a "
        "loop of its own, which does not wake the serving loop; uvicorn wakes it every "
        "100 ms (its main loop's tick), so the packets leave within 100 ms", _DOC_THREAD),
}
#: The (spawn, wait) of the work that runs on the serving loop, each way.
_LOOP_CELLS = (("task", "socketio_sleep"), ("task", "time_sleep"),
               ("unawaited", "socketio_sleep"), ("thread_threadsafe", "time_sleep"),
               ("thread_asyncio_run", "time_sleep"), ("thread_import_loop", "time_sleep"),
               ("executor", "time_sleep"))
#: A server whose work never blocks its loop: where the deployment is the question.
_SERVING = (("task", "socketio_sleep"),)
#: The deployments asyncio cells were measured in (3+ runs each), by mode: a
#: cell's suffixes, in id order -> the (spawn, wait) measured with them. Any other
#: suffix is a conflict, until it is measured.
DEPLOYMENTS: dict[str, dict[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "asgi": {
        ("gunicorn",): _LOOP_CELLS,
        ("polling",): _SERVING,
        ("websocket",): _SERVING,
        ("redis",): (("task", "socketio_sleep"), ("task", "time_sleep"),
                     ("thread_threadsafe", "time_sleep"), ("process_manager", "time_sleep")),
        # a Celery task that emits with python-socketio's RedisManager (families/celery/)
        ("prefork",): (("celery", "time_sleep"),),
        ("redis", "prefork"): (("celery", "time_sleep"),),
        ("polling", "redis"): _SERVING,
        ("websocket", "redis"): _SERVING,
        # two servers behind nginx: the default matrix's cluster cells (cluster.py)
        ("redis", "two_ip_hash"): _SERVING,
        ("polling", "redis", "two_ip_hash"): _SERVING,
        ("websocket", "redis", "two_ip_hash"): _SERVING,
        ("two_ip_hash",): _SERVING,
        ("polling", "two_ip_hash"): _SERVING,
        ("websocket", "two_ip_hash"): _SERVING,
        ("websocket", "redis", "two_round_robin"): _SERVING,
        ("websocket", "two_round_robin"): _SERVING,
        # uvicorn --workers 2, the work in the worker the client is not on (workers.py)
        ("websocket", "two_workers"): _SERVING,
        ("websocket", "redis", "two_workers"): _SERVING,
        # work that emits to a namespace no client is on (namespaces.py)
        ("other_namespace",): _SERVING,
    },
    "aiohttp": {
        ("other_namespace",): _SERVING,
    },
}
MODE_EXPECTED: dict[tuple[str, str, str], Expectation] = {
    ("aiohttp", "thread_asyncio_run", "time_sleep"): Expectation(
        "delayed", "asyncio.run(sio.emit(...)) in an OS thread queues each packet from a "
        "loop of its own, which does not wake the serving loop; aiohttp has no tick, so "
        "the packets leave only when traffic or a timer wakes it", _DOC_THREAD),
}


@dataclass(eq=False)
class AsyncMode(ModeVariant):
    asyncio: bool = True
    script: str = "async_server_child"

    def conflict(self, cell):
        if not cell.suffixes:
            return None
        measured = DEPLOYMENTS.get(self.value, {})
        suffixes = "-".join(cell.suffixes)
        if not measured:
            return (f"{self.value} cells take no suffix yet (their deployments are not "
                    f"measured): drop -{suffixes}")
        works = measured.get(tuple(cell.suffixes))
        if works is None:
            return _unmeasured(self.value, cell, measured)
        if (cell.spawn, cell.wait) not in works:
            return (f"{self.value}-...-{suffixes} is measured with "
                    f"{', '.join('-'.join(w) for w in works)}: use "
                    f"{self.value}-{cell.patch}-{'-'.join(works[0])}-{suffixes}")
        return None

    def expect(self, cell, expected, resolved=None):
        from emitcheck.matrix.cell import suffix_factors

        if not cell.in_matrix:
            return None  # an app's cell (spawn app, wait own): families/app.py decides
        if any(suffix_factors()[v] != "transport" for v in cell.suffixes):
            return None  # the family of the suffix decides (gunicorn, redis, cluster, ...)
        if cell.wait == "event_wait":
            return None  # it blocks as time_sleep does (families/waits.py)
        # A client's transport changes nothing here (measured).
        key = (cell.spawn, cell.wait)
        return MODE_EXPECTED.get((self.value, *key)) or EXPECTED[key]


def _unmeasured(mode: str, cell, measured) -> str:
    """The conflict of suffixes not measured together: the measured cell that
    has them all, or the suffixes to drop."""
    wanted = set(cell.suffixes)
    for suffixes, works in measured.items():
        if wanted <= set(suffixes):
            return (f"{mode}-...-{'-'.join(cell.suffixes)} is not measured; "
                    f"{mode}-{cell.patch}-{'-'.join(works[0])}-{'-'.join(suffixes)} is")
    known = {v for suffixes in measured for v in suffixes}
    drop = [v for v in cell.suffixes if v not in known] or cell.suffixes
    singles = ", ".join(f"-{s[0]}" for s in measured if len(s) == 1)
    return (f"{mode} cells are measured with {singles} and a few combinations "
            f"('emitcheck list --all'): drop -{'-'.join(drop)}")


@dataclass(eq=False)
class AsyncSpawn(Variant):
    """A way to hand work to an asyncio server's loop; only asyncio modes have one."""
    factor: ClassVar[str] = "spawn"
    #: The waits it goes with (an OS thread cannot await: it waits with time.sleep).
    waits: tuple[str, ...] = ("time_sleep",)

    def conflict(self, cell):
        from emitcheck.matrix.cell import variant

        if not variant("mode", cell.mode).asyncio:
            return (f"spawn {self.value} hands work to an asyncio loop: use asgi- or "
                    f"aiohttp-unpatched-{self.value}-...; {cell.mode} mode takes thread or task")
        if cell.wait not in self.waits:
            return (f"spawn {self.value} goes with wait {', '.join(self.waits)} "
                    f"(not {cell.wait})")
        return None


_SERVER = "python-socketio's AsyncServer"
VARIANTS = [
    AsyncMode("asgi", f"{_SERVER}(async_mode='asgi') in socketio.ASGIApp, served by "
              "uvicorn.run(app)", package="uvicorn",
              # uvicorn's protocols: httptools or h11, websockets or wsproto,
              # whichever is installed (the zygote passes over the others).
              preload=("engineio.async_drivers.asgi", "uvicorn", "uvicorn.main",
                       "uvicorn.protocols.http.httptools_impl",
                       "uvicorn.protocols.http.h11_impl",
                       "uvicorn.protocols.websockets.websockets_impl",
                       "uvicorn.protocols.websockets.wsproto_impl"),
              doc=DOC, grid="asyncio: ASGI and aiohttp",
              gunicorn_worker=("--worker-class", "uvicorn_worker.UvicornWorker"),
              remedy="hand emits to the serving loop: await sio.emit in a coroutine, or "
              "asyncio.run_coroutine_threadsafe(sio.emit(...), loop) from a thread"),
    AsyncMode("aiohttp", f"{_SERVER}(async_mode='aiohttp') attached to an aiohttp "
              "web.Application, served by web.run_app(app)", package="aiohttp",
              preload=("engineio.async_drivers.aiohttp", "aiohttp.web"), doc=DOC,
              grid="asyncio: ASGI and aiohttp"),
    AsyncSpawn("unawaited", "a sync helper calls sio.emit(...) without await, from a "
               "coroutine started with sio.start_background_task", doc=_DOC_UNAWAITED,
               waits=("socketio_sleep",),
               undo="await every sio.emit(...): call it from a coroutine, as await "
                    "sio.emit(...)"),
    AsyncSpawn("thread_threadsafe", "threading.Thread whose work emits with "
               "asyncio.run_coroutine_threadsafe(sio.emit(...), loop) onto the serving loop",
               doc=_DOC_THREAD,
               remedy="from a thread, emit with asyncio.run_coroutine_threadsafe(sio.emit(...), "
                      "loop), loop = asyncio.get_running_loop() taken in the server"),
    AsyncSpawn("thread_asyncio_run", "threading.Thread whose work emits with "
               "asyncio.run(sio.emit(...))", doc=_DOC_THREAD),
    AsyncSpawn("thread_import_loop", "threading.Thread whose work emits with "
               "run_coroutine_threadsafe onto loop = asyncio.get_event_loop() taken at import",
               doc=_DOC_THREAD),
    AsyncSpawn("executor", "loop.run_in_executor(None, work), whose work emits back with "
               "run_coroutine_threadsafe onto the serving loop", doc=_DOC_THREAD),
]
