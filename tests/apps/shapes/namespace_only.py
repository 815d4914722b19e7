"""Handlers only in a namespace: ``@socketio.on('connect', namespace='/live')``
and nothing on ``/``, as in shanealynn/async_flask (its random-number thread
runs in namespace ``/test``, started by the first connect there).

The first connect to ``/live`` starts a background task that emits
``number`` to ``/live`` every 0.2 s. A client of ``/`` is refused (nobody
handles it).

Run: ``PORT=5000 python namespace_only.py``.
emitcheck: ``namespace_only:socketio --event number --namespace /live``.
"""

import os
import random

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def numbers():
    while True:
        socketio.emit("number", {"number": round(random.random() * 10, 3)}, namespace="/live")
        socketio.sleep(0.2)


@socketio.on("connect", namespace="/live")
def live_connect():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(numbers)


@socketio.on("disconnect", namespace="/live")
def live_disconnect(reason=None):
    pass


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
