"""A connect handler that refuses a client without an API key header: it
returns ``False`` unless ``request.headers["X-API-KEY"]`` is right (the
``setup.py`` of Flask-SocketIO issue 769's reporter).

An accepted connect starts, once, a background task that emits ``metric``
every 0.2 s.

Run: ``PORT=5000 python auth_header.py``; connect with header ``X-API-KEY: k-123``.
emitcheck: ``auth_header:socketio --event metric --header X-API-KEY:k-123``
(without it: refused).
"""

import os

from flask import Flask, request
from flask_socketio import SocketIO

API_KEY = "k-123"

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def metrics():
    count = 0
    while True:
        count += 1
        socketio.emit("metric", {"requests": count * 3})
        socketio.sleep(0.2)


@socketio.on("connect")
def on_connect():
    if request.headers.get("X-API-KEY") != API_KEY:
        return False
    if state["task"] is None:
        state["task"] = socketio.start_background_task(metrics)
    return True


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
