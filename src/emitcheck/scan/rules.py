"""The rules of ``emitcheck scan``, as data: each has a code, the cells of our
matrix that prove it (``evidence``: tests/test_scan_evidence.py runs them on
real servers and fails when one is delivered), what it says and what to change.
Its matcher (matchers.py) finds where the code does what the cells do, and
names the cell of the app's own row (its mode, patching, spawn, wait); a match
whose cell we measured delivered is no finding (findings.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from emitcheck.scan import matchers
from emitcheck.scan.matchers import Match
from emitcheck.scan.program import Program


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    evidence: tuple[str, ...]     # the cells that prove it, run by the evidence test
    summary: str                  # one line: what the rule finds
    remedy: str                   # what to change, when the cell names no nearer way
    match: Callable[[Program], Iterator[Match]]
    #: the installed stack the evidence needs (auto resolving to eventlet needs eventlet)
    needs: str | None = None

    @property
    def anchor(self) -> str:
        return f"scan.md#{self.code.lower()}-{self.name}"


RULES: tuple[Rule, ...] = (
    Rule("ECK101", "thread-emits-unpatched",
         ("eventlet-unpatched-thread-time_sleep", "gevent-unpatched-thread-time_sleep"),
         "an OS thread (threading.Thread, Timer, ThreadPoolExecutor, an APScheduler job) "
         "emits under eventlet or gevent with nothing monkey patched",
         "monkey patch first (eventlet.monkey_patch() or gevent.monkey.patch_all() as the "
         "entry module's first statement), or start the work with "
         "socketio.start_background_task and wait with socketio.sleep",
         matchers.thread_emits_unpatched),
    Rule("ECK102", "blocking-wait-in-task",
         ("eventlet-unpatched-task-time_sleep", "gevent-unpatched-task-time_sleep"),
         "time.sleep or another blocking call in start_background_task work under a green "
         "mode, unpatched: it blocks the hub and the whole server",
         "wait with socketio.sleep(), not time.sleep(), or monkey patch first",
         matchers.blocking_wait_in_task),
    Rule("ECK103", "cpu-loop-never-yields", ("eventlet-unpatched-task-busy",),
         "a CPU loop with no yield in background work: under a green mode (patched or "
         "not) or an event loop, nothing else runs until it ends",
         "in CPU-bound loops, call socketio.sleep(0) (await sio.sleep(0)) every few "
         "milliseconds, or move the work to a process",
         matchers.cpu_loop),
    Rule("ECK104", "patch-not-first", ("eventlet-unpatched-thread-time_sleep",),
         "monkey patching that is not the first statement of its module: what was "
         "imported before it stays unpatched, as in the unpatched cells",
         "move eventlet.monkey_patch() / gevent.monkey.patch_all() to the very top of the "
         "entry module, before any other import",
         matchers.patch_not_first),
    Rule("ECK105", "other-process-app-server",
         ("threading-unpatched-celery_app-time_sleep-prefork",),
         "another process (a Celery task, multiprocessing) emits with the app's own server, "
         "which has no message_queue: its emits reach no client",
         "give the server message_queue=URL (python-socketio: client_manager="
         "socketio.RedisManager(URL)) and emit from the other process with "
         "SocketIO(message_queue=URL)",
         matchers.other_process_app_server),
    Rule("ECK106", "emitter-without-queue",
         ("threading-unpatched-celery-time_sleep-prefork",
          "asgi-unpatched-celery-time_sleep-prefork"),
         "another process emits through a message queue (SocketIO(message_queue=URL), a "
         "write_only manager) but the web server listens to none",
         "give the web server the same queue: SocketIO(app, message_queue=URL) "
         "(python-socketio: client_manager=socketio.RedisManager(URL); an AsyncServer: "
         "socketio.AsyncRedisManager(URL))",
         matchers.emitter_without_queue),
    Rule("ECK107", "auto-mode-green-dependency", ("auto-unpatched-thread-time_sleep",),
         "async_mode left to auto while eventlet (or gevent) is a dependency: the server "
         "resolves to it, and the work it runs then is not delivered",
         "pass async_mode='threading' explicitly, or keep the green mode and monkey patch "
         "first (with socketio.start_background_task and socketio.sleep for the work)",
         matchers.auto_mode_green, needs="eventlet"),
    Rule("ECK108", "workers-without-manager",
         ("asgi-unpatched-task-socketio_sleep-two_ip_hash",
          "threading-unpatched-task-socketio_sleep-two_ip_hash"),
         "several server processes (gunicorn -w, uvicorn --workers) without a message "
         "queue: each process's emits reach only its own clients",
         "give every server a message queue: SocketIO(app, message_queue=URL) "
         "(python-socketio: client_manager=socketio.AsyncRedisManager(URL)), and sticky "
         "sessions in front of them",
         matchers.workers_without_manager),
    Rule("ECK109", "emit-to-unserved-namespace",
         ("threading-unpatched-task-socketio_sleep-other_namespace",
          "asgi-unpatched-task-socketio_sleep-other_namespace"),
         "an emit with namespace= naming a namespace that no handler of the project serves: "
         "no client can connect there, so the emit reaches nobody, without an error",
         "emit to the namespace your clients connect to, or register a handler on the "
         "namespace you emit to (@socketio.on('connect', namespace=...), "
         "on_namespace(MyNamespace(...))) and connect the clients there",
         matchers.emit_to_unserved_namespace),
    Rule("ECK201", "emit-not-awaited", ("asgi-unpatched-unawaited-socketio_sleep",),
         "an AsyncServer's emit called without await: a coroutine that never runs, so "
         "nothing is sent",
         "await every sio.emit(...) from a coroutine; from a thread, use "
         "asyncio.run_coroutine_threadsafe(sio.emit(...), loop)",
         matchers.emit_not_awaited),
    Rule("ECK202", "asyncio-run-emit",
         ("aiohttp-unpatched-thread_asyncio_run-time_sleep",),
         "asyncio.run(sio.emit(...)) from a thread: the packet is queued from a loop of its "
         "own, which does not wake the serving loop (under uvicorn its 100 ms tick does: "
         "delivered there)",
         "from a thread, emit with asyncio.run_coroutine_threadsafe(sio.emit(...), loop), "
         "loop = asyncio.get_running_loop() taken in the server",
         matchers.asyncio_run_emit),
    Rule("ECK203", "loop-captured-at-import",
         ("asgi-unpatched-thread_import_loop-time_sleep",),
         "run_coroutine_threadsafe onto a loop captured at import "
         "(asyncio.get_event_loop() at module level), which the server never runs: every "
         "emit waits forever",
         "take the loop inside the server, with asyncio.get_running_loop() in a coroutine "
         "it runs (a startup handler, the connect handler)",
         matchers.import_loop),
    Rule("ECK204", "blocking-call-in-coroutine", ("asgi-unpatched-task-time_sleep",),
         "time.sleep or another blocking call in a coroutine of an AsyncServer's app: it "
         "blocks the event loop and the whole server",
         "await sio.sleep() (or asyncio.sleep()) instead; run blocking calls with "
         "await asyncio.to_thread(...)",
         matchers.blocking_in_coroutine),
)

BY_CODE = {rule.code: rule for rule in RULES}
