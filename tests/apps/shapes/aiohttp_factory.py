"""aiohttp with python-socketio attached (``sio.attach(app)``), made by a
coroutine factory that ``web.run_app`` awaits: python-socketio's aiohttp
example, with its background task started from ``app.on_startup``.

The task emits ``tick`` every 0.2 s with ``await sio.emit`` and waits with
``await sio.sleep``.

Run: ``PORT=8080 python aiohttp_factory.py``.
emitcheck: ``'aiohttp_factory:create_app()' --event tick``.
"""

import os
import time

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp")


async def ticker():
    count = 0
    while True:
        count += 1
        await sio.emit("tick", {"count": count, "at": time.time()})
        await sio.sleep(0.2)


async def start_ticker(_app):
    sio.start_background_task(ticker)


async def index(_request):
    return web.Response(text="ticking")


async def create_app():
    app = web.Application()
    sio.attach(app)
    app.router.add_get("/", index)
    app.on_startup.append(start_ticker)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", 8080)))
