"""The server of an asyncio cell: python-socketio's ``AsyncServer``, run as a script.

Usage: ``python async_server_child.py CELL_ID EMIT_LOG INTERVAL PORT [QUEUE_URL]``.

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


def thread_waiter(wait):
    """How work in an OS thread waits (it cannot await)."""
    def event_wait(interval):
        threading.Event().wait(interval)

    return {"time_sleep": time.sleep, "event_wait": event_wait}[wait]


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


def make_starter(sio, spawn, wait, interval, ticks):
    """The coroutine the server runs at startup, which starts the work."""
    async def coroutine_work():
        pause = make_async_waiter(sio, wait)
        while True:
            tick = ticks.next()
            await sio.emit(EVENT, tick)
            ticks.logged(tick)
            await pause(interval)

    def notify(tick):
        sio.emit(EVENT, tick)  # a coroutine, never awaited: nothing is sent

    async def unawaited_work():
        pause = make_async_waiter(sio, wait)
        while True:
            tick = ticks.next()
            notify(tick)
            ticks.logged(tick)
            await pause(interval)

    def thread_work(emit_from_thread):
        pause = thread_waiter(wait)
        while True:
            tick = ticks.next()
            emit_from_thread(tick)
            ticks.logged(tick)
            pause(interval)

    async def start():
        loop = asyncio.get_running_loop()
        emitters = {
            "thread_threadsafe": lambda tick: asyncio.run_coroutine_threadsafe(
                sio.emit(EVENT, tick), loop),
            "thread_asyncio_run": lambda tick: asyncio.run(sio.emit(EVENT, tick)),
            "thread_import_loop": lambda tick: asyncio.run_coroutine_threadsafe(
                sio.emit(EVENT, tick), IMPORT_LOOP),  # type: ignore[arg-type]
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


def create_server(cell_id, emit_log_path, interval, queue_url=None):
    """The AsyncServer, its ack handler, and the coroutine that starts the work."""
    mode, _patch, spawn, wait = cell_id.split("-")[:4]
    options = {"client_manager": socketio.AsyncRedisManager(queue_url)} if queue_url else {}
    sio = socketio.AsyncServer(async_mode=mode, **options)

    @sio.on(ACK_EVENT)
    async def probe(sid, data):
        return {"echo": data, "t": time.time()}

    return sio, make_starter(sio, spawn, wait, interval, Ticks(emit_log_path))


def asgi_app(sio, on_startup):
    async def health(scope, receive, send):
        if scope["type"] != "http":
            return
        found = scope["path"] == "/health"
        await send({"type": "http.response.start", "status": 200 if found else 404,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if found else b""})

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


def main(cell_id, emit_log_path, interval, port, queue_url=None):
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
