"""aiohttp with python-socketio, whose background task waits with
``time.sleep``: the blocked event loop python-socketio's docs warn of ("any
blocking calls ... will block the whole server"), as in the questions where
"the server freezes once the task starts".

A dashboard: clients subscribe with the ``watch`` event, which puts them in
the ``watchers`` room; the first client's connect starts, with
``sio.start_background_task``, a coroutine that emits ``status`` to that room
every 0.2 s and waits with ``time.sleep(0.2)``. While the room is empty its
emit awaits nothing, so the loop never gets a turn again: the ``watch`` that
would fill it is never read.

Run: ``PORT=8080 python aiohttp_time_sleep.py``.
emitcheck: ``aiohttp_time_sleep:app --event status --trigger emit:watch``.
"""

import os
import time

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp")
app = web.Application()
sio.attach(app)
worker = {"task": None}


async def report_status():
    step = 0
    while True:
        step += 1
        await sio.emit("status", {"step": step}, room="watchers")
        time.sleep(0.2)


@sio.event
async def connect(sid, environ):
    if worker["task"] is None:
        worker["task"] = sio.start_background_task(report_status)


@sio.event
async def watch(sid, data=None):
    await sio.enter_room(sid, "watchers")


if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", 8080)))
