"""FastAPI wrapped by python-socketio's ``socketio.ASGIApp(sio,
other_asgi_app=api)``, whose sync helper calls ``sio.emit(...)`` without
``await``: the slip python-socketio's asyncio docs warn of (an
``AsyncServer``'s emit is a coroutine), seen in questions where "emit does
nothing" and Python only warns that a coroutine was never awaited.

FastAPI's lifespan starts a coroutine that reads a sensor every 0.2 s and
hands each reading to ``notify()``, a plain function that calls ``sio.emit``.

Run: ``PORT=8000 python fastapi_unawaited.py``.
emitcheck: ``fastapi_unawaited:app --event reading``.
"""

import os
import random
from contextlib import asynccontextmanager

import socketio
import uvicorn
from fastapi import FastAPI

sio = socketio.AsyncServer(async_mode="asgi")


def notify(reading):
    sio.emit("reading", reading)


async def sample_sensor():
    count = 0
    while True:
        count += 1
        notify({"n": count, "celsius": round(20 + random.random(), 2)})
        await sio.sleep(0.2)


@asynccontextmanager
async def lifespan(_api):
    sio.start_background_task(sample_sensor)
    yield


api = FastAPI(lifespan=lifespan)


@api.get("/status")
async def status():
    return {"sensor": "on"}


app = socketio.ASGIApp(sio, other_asgi_app=api)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", 8000)))
