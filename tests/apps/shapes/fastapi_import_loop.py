"""FastAPI with python-socketio mounted at the root, whose OS thread emits with
``asyncio.run_coroutine_threadsafe(sio.emit(...), loop)`` onto a loop made when
the module was imported: the pattern of the questions on emitting to an
``AsyncServer`` from a thread ("run_coroutine_threadsafe does nothing"), whose
``loop`` is taken at module level, as apps write it to be rid of "There is no
current event loop", and not inside the server.

``uvicorn.run`` serves on a loop of its own; the module's ``loop`` is never
run, so every emit's coroutine waits on it forever, with no error. A
``threading.Thread`` started from the lifespan polls a device every 0.2 s
and emits each ``telemetry`` reading this way.

Run: ``PORT=8000 python fastapi_import_loop.py``.
emitcheck: ``fastapi_import_loop:app --event telemetry``.
"""

import asyncio
import os
import random
import threading
import time
from contextlib import asynccontextmanager

import socketio
import uvicorn
from fastapi import FastAPI

sio = socketio.AsyncServer(async_mode="asgi")
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)


def poll_device():
    count = 0
    while True:
        count += 1
        reading = {"n": count, "volts": round(11.5 + random.random(), 2)}
        asyncio.run_coroutine_threadsafe(sio.emit("telemetry", reading), loop)
        time.sleep(0.2)


@asynccontextmanager
async def lifespan(_app):
    threading.Thread(target=poll_device, daemon=True).start()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health():
    return {"ok": True}


app.mount("/", socketio.ASGIApp(sio))  # after the routes: it takes every other path


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", 8000)))
