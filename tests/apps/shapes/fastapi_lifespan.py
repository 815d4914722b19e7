"""FastAPI with python-socketio mounted at the root, its work started from the
lifespan: the pattern of python-socketio's ASGI docs (``socketio.ASGIApp``) as
FastAPI apps mount it, ``app.mount("/", socketio.ASGIApp(sio))``.

The lifespan starts a coroutine with ``sio.start_background_task``; it emits
``price`` every 0.2 s with ``await sio.emit`` and waits with ``await
sio.sleep``, giving the event loop its turns.

Run: ``PORT=8000 python fastapi_lifespan.py``.
emitcheck: ``fastapi_lifespan:app --event price``.
"""

import os
from contextlib import asynccontextmanager

import socketio
import uvicorn
from fastapi import FastAPI

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")


async def publish_prices():
    price = 100.0
    while True:
        price = round(price + 0.25, 2)
        await sio.emit("price", {"symbol": "ACME", "price": price})
        await sio.sleep(0.2)


@asynccontextmanager
async def lifespan(_app):
    sio.start_background_task(publish_prices)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health():
    return {"ok": True}


app.mount("/", socketio.ASGIApp(sio))  # after the routes: it takes every other path


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", 8000)))
