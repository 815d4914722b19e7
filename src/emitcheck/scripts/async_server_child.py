"""The server of an asyncio cell: python-socketio's ``AsyncServer``, run as a script.

Usage: ``python async_server_child.py CELL_ID EMIT_LOG INTERVAL PORT [QUEUE_URL]``;
gunicorn's uvicorn worker loads ``gunicorn_app(...)`` from this file for
``-gunicorn`` cells (the cell id then comes from ``EMITCHECK_CELL``).

The cell's mode says how it is served, as python-socketio's examples do:
``asgi`` is ``socketio.ASGIApp`` under ``uvicorn.run(app, ...)``, ``aiohttp``
an ``aiohttp.web.Application`` under ``web.run_app(app, ...)``. The work starts
when the server does (ASGI's lifespan startup, aiohttp's ``on_startup``), from
the serving loop, and emits a numbered ``tick`` carrying the server time
forever; after each emit it appends ``seq time`` to EMIT_LOG, as server_child.py
does, so that "the work never ran" and "it emitted but nothing arrived" differ.

The ``spawn`` values are the ways apps hand work to the loop
(docs/pitfall.md#asyncio-servers), written as apps write them: a coroutine
started with ``sio.start_background_task``; an OS thread that emits with
``asyncio.run_coroutine_threadsafe`` onto the serving loop, with
``asyncio.run(sio.emit(...))``, or onto a loop captured when the module was
imported; a sync helper that calls ``sio.emit`` without awaiting it; blocking
work in ``loop.run_in_executor`` that emits back onto the loop. It imports
nothing of emitcheck (``emitcheck repro`` embeds it whole).

Deployments (families/asyncio.py says which are measured): a message queue
(``QUEUE_URL``: ``AsyncRedisManager``), the work in another process (spawn
``process_manager``: this server runs none), the second server of a cluster
(``SECOND_SERVER``), and uvicorn with two workers on one port (``two_workers``).
"""

import asyncio
import os
import sys
import threading
import time

import socketio

EVENT = "tick"
ACK_EVENT = "probe"

_CELL = sys.argv[1] if __name__ == "__main__" else os.environ.get("EMITCHECK_CELL", "")


def _loop_at_import():
    """What an app gets with ``loop = asyncio.get_event_loop()`` at module level:
    a loop that the server (which makes its own) never runs."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return asyncio.get_event_loop()
    except RuntimeError:  # Python 3.14 no longer makes one
        return asyncio.new_event_loop()


#: Captured at import for the cells that do (a server forked from a zygote, which
#: imported this module for every cell, captures it before it serves: create_server).
IMPORT_LOOP = _loop_at_import() if "-thread_import_loop-" in f"-{_CELL}-" else None


def make_async_waiter(sio, wait):
    """How a coroutine waits between two emits, one per ``wait`` value."""
    async def socketio_sleep(interval):
        await sio.sleep(interval)

    async def time_sleep(interval):
        time.sleep(interval)  # blocks the loop: nothing else runs meanwhile

    async def event_wait(interval):
        threading.Event().wait(interval)  # blocks the loop as time.sleep does

    async def busy(interval):
        end = time.perf_counter() + interval
        while time.perf_counter() < end:
            pass

    async def busy_yield(interval, slice_s=0.005):
        # The same loop, giving the event loop a turn every 5 ms.
        end = last = time.perf_counter()
        end += interval
        while (now := time.perf_counter()) < end:
            if now - last >= slice_s:
                await sio.sleep(0)
                last = time.perf_counter()

    waiters = {"socketio_sleep": socketio_sleep, "time_sleep": time_sleep,
               "event_wait": event_wait, "busy": busy, "busy_yield": busy_yield}
    return waiters[wait]


class Ticks:
    """The numbered ticks and their log."""

    def __init__(self, emit_log_path):
        self.log = open(emit_log_path, "a", buffering=1)
        self.seq = 0

    def next(self):
        self.seq += 1
        return {"seq": self.seq, "t": time.time()}

    def logged(self, tick):
        self.log.write(f"{tick['seq']} {tick['t']:.6f}\n")


#: Where the work of an ``-other_namespace`` cell emits: a namespace no handler
#: serves and no client is on (families/namespaces.py); other cells emit to ``/``.
OTHER_NAMESPACE = "/other"


def make_starter(sio, spawn, wait, interval, ticks, namespace="/"):
    """The coroutine the server runs at startup, which starts the work."""
    def emit(event, tick):
        return sio.emit(event, tick, namespace=namespace)

    async def coroutine_work():
        pause = make_async_waiter(sio, wait)
        while True:
            tick = ticks.next()
            await emit(EVENT, tick)
            ticks.logged(tick)
            await pause(interval)

    def notify(tick):
        emit(EVENT, tick)  # a coroutine, never awaited: nothing is sent

    async def unawaited_work():
        pause = make_async_waiter(sio, wait)
        while True:
            tick = ticks.next()
            notify(tick)
            ticks.logged(tick)
            await pause(interval)

    def thread_work(emit_from_thread):
        while True:  # an OS thread cannot await: it waits with time.sleep
            tick = ticks.next()
            emit_from_thread(tick)
            ticks.logged(tick)
            time.sleep(interval)

    async def start():
        loop = asyncio.get_running_loop()
        emitters = {
            "thread_threadsafe": lambda tick: asyncio.run_coroutine_threadsafe(
                emit(EVENT, tick), loop),
            "thread_asyncio_run": lambda tick: asyncio.run(emit(EVENT, tick)),
            "thread_import_loop": lambda tick: asyncio.run_coroutine_threadsafe(
                emit(EVENT, tick), IMPORT_LOOP),  # type: ignore[arg-type]
        }
        if spawn == "task":
            sio.start_background_task(coroutine_work)
        elif spawn == "unawaited":
            sio.start_background_task(unawaited_work)
        elif spawn == "executor":
            loop.run_in_executor(None, thread_work, emitters["thread_threadsafe"])
        else:
            threading.Thread(target=thread_work, args=(emitters[spawn],), daemon=True).start()

    return start


#: The spawns whose work runs in another process, emitting through the queue
#: (server_child.py's ``emitter``): the server runs none.
ELSEWHERE = ("process", "process_manager")
#: The spawns whose work is a Celery task the web app sends (families/celery/).
CELERY_SPAWNS = ("celery",)
#: Routes beside ``/health`` (``path -> function(query string) -> body``).
ROUTES: dict = {}


def create_server(cell_id, emit_log_path, interval, queue_url=None):
    """The AsyncServer, its ack handler, and the coroutine that starts the work
    (which starts none where the work is elsewhere: another process, the other
    server of a cluster)."""
    global IMPORT_LOOP
    mode, _patch, spawn, wait = cell_id.split("-")[:4]
    if spawn == "thread_import_loop" and IMPORT_LOOP is None:
        IMPORT_LOOP = _loop_at_import()
    options = {"client_manager": socketio.AsyncRedisManager(queue_url)} if queue_url else {}
    sio = socketio.AsyncServer(async_mode=mode, **options)

    @sio.on(ACK_EVENT)
    async def probe(sid, data):
        return {"echo": data, "t": time.time()}

    if os.environ.get(SECOND_SERVER):
        return sio, log_connects(sio, os.environ[SECOND_SERVER])
    if spawn in ELSEWHERE:
        return sio, log_connects(sio, None)
    if spawn in CELERY_SPAWNS:
        ROUTES[CELERY_ROUTE] = celery_route(cell_id, emit_log_path, interval, queue_url)
        return sio, log_connects(sio, None)
    namespace = OTHER_NAMESPACE if "other_namespace" in cell_id.split("-")[4:] else "/"
    return sio, make_starter(sio, spawn, wait, interval, Ticks(emit_log_path), namespace)


# --- cluster (families/cluster.py): a second server process that runs no work ---
#: Set in the environment of the second server of a ``two_*`` cell, to the file
#: where it logs the clients that connect to it (server_child.py's name).
SECOND_SERVER = "EMITCHECK_SECOND_SERVER"


def log_connects(sio, connect_log_path):
    """Log each Socket.IO connect to ``connect_log_path`` (``time transport``), so
    that the cell can tell on which server its client landed (None: log none);
    the coroutine that starts no work."""
    if connect_log_path:
        @sio.event
        async def connect(sid, environ, auth=None):
            with open(connect_log_path, "a") as log:
                log.write(f"{time.time():.6f} {sio.transport(sid)}\n")

    async def start():
        pass

    return start


# --- end of cluster ---


# --- Celery (families/celery/): the web app starts the work as a Celery task ---
#: server_child.py's route, which families/celery/worker.py asks.
CELERY_ROUTE = "/celery/start"


def celery_route(cell_id, emit_log_path, interval, queue_url):
    """``GET CELERY_ROUTE?broker=URL`` sends the task by name, as ``.delay()``
    would from a FastAPI route (server_child.py's ``add_celery_route``); the
    worker's task emits with python-socketio's ``RedisManager``, as its docs
    show for other processes (celery_worker.py)."""
    from urllib.parse import parse_qs

    from celery import Celery

    def send(query):
        broker = parse_qs(query)["broker"][0]
        return Celery(broker=broker).send_task(
            "emitcheck.emit_ticks", args=(cell_id, emit_log_path, interval, broker, queue_url)).id

    return send
# --- end of Celery ---


def asgi_app(sio, on_startup):
    async def health(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/health":
            status, body = 200, b"ok"
        elif path in ROUTES:
            status, body = 200, ROUTES[path](scope["query_string"].decode()).encode()
        else:
            status, body = 404, b""
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return socketio.ASGIApp(sio, other_asgi_app=health, on_startup=on_startup)


def aiohttp_app(sio, on_startup):
    from aiohttp import web

    app = web.Application()
    sio.attach(app)

    async def health(request):
        return web.Response(text="ok")

    async def startup(_app):
        await on_startup()

    app.router.add_get("/health", health)
    app.on_startup.append(startup)
    return app


def gunicorn_app(cell_id, emit_log_path, interval, queue_url=None):
    """The ASGI app for gunicorn's uvicorn worker (``'async_server_child:gunicorn_app(...)'``)."""
    sio, start = create_server(cell_id, emit_log_path, interval, queue_url)
    print(f"emitcheck server {cell_id}: async_mode={sio.async_mode}", flush=True)
    return asgi_app(sio, start)


# --- uvicorn --workers 2 (families/workers.py): two processes on one port ---
#: The cluster value of cells served by ``uvicorn.run(..., workers=2)``.
TWO_WORKERS = "two_workers"
#: uvicorn's workers import the app by name: the parameters go by environment.
WORKER_PARAMETERS = ("EMITCHECK_EMIT_LOG", "EMITCHECK_INTERVAL", "EMITCHECK_QUEUE")
#: Beside the emit log: each worker's connects (``time transport pid``), and the
#: file whose creation the first worker with a client wins (it holds its pid).
WORKER_CONNECTS, CLIENT_CLAIM = "worker-connects.log", "client.claim"


def workers_app():
    """One worker's ASGI app (``uvicorn.run("async_server_child:workers_app",
    factory=True, workers=2)``). The work runs in the worker the client did not
    land on, as work started by a request that the kernel handed to the other
    worker does: the first worker that gets a Socket.IO connect claims the
    client; the other worker, seeing the claim, starts the work. Each logs its
    clients' connects with its pid, so the evidence says where the client was."""
    emit_log, interval, queue_url = (os.environ.get(name, "") for name in WORKER_PARAMETERS)
    folder = os.path.dirname(emit_log)
    claim, me = os.path.join(folder, CLIENT_CLAIM), str(os.getpid())
    sio, start_work = create_server(_CELL, emit_log, float(interval), queue_url or None)

    @sio.event
    async def connect(sid, environ, auth=None):
        try:
            with open(claim, "x") as claimed:
                claimed.write(me)
        except FileExistsError:
            pass
        with open(os.path.join(folder, WORKER_CONNECTS), "a") as log:
            log.write(f"{time.time():.6f} {sio.transport(sid)} {me}\n")

    def claimant():
        try:
            with open(claim) as claimed:
                return claimed.read()
        except FileNotFoundError:
            return ""

    async def start():
        async def work_where_the_client_is_not():
            while not (client := claimant()):
                await asyncio.sleep(0.05)
            if client != me:
                await start_work()

        sio.start_background_task(work_where_the_client_is_not)

    print(f"emitcheck server {_CELL} worker {me}: async_mode={sio.async_mode}", flush=True)
    return asgi_app(sio, start)


def serve_workers(cell_id, emit_log_path, interval, port, queue_url):
    import uvicorn

    os.environ.update(zip(WORKER_PARAMETERS, (emit_log_path, str(interval), queue_url or ""),
                          strict=True))
    os.environ["EMITCHECK_CELL"] = cell_id
    module = os.path.splitext(os.path.basename(__file__))[0]
    uvicorn.run(f"{module}:workers_app", factory=True, workers=2, host="127.0.0.1", port=port,
                log_level="warning")
# --- end of uvicorn --workers ---


def main(cell_id, emit_log_path, interval, port, queue_url=None):
    if TWO_WORKERS in cell_id.split("-")[4:]:
        return serve_workers(cell_id, emit_log_path, interval, port, queue_url)
    sio, start = create_server(cell_id, emit_log_path, interval, queue_url)
    print(f"emitcheck server {cell_id}: async_mode={sio.async_mode}", flush=True)
    if sio.async_mode == "aiohttp":
        from aiohttp import web

        web.run_app(aiohttp_app(sio, start), host="127.0.0.1", port=port, print=None)
    else:
        import uvicorn

        uvicorn.run(asgi_app(sio, start), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
