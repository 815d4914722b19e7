"""A high rate: about 1,000 small ``sample`` events a second (sensor and
market-data streams), one emit every millisecond.

The first connect starts a background task that emits them.

Run: ``PORT=5000 python high_rate.py``.
emitcheck: ``high_rate:socketio --event sample``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def stream():
    n = 0
    while True:
        n += 1
        socketio.emit("sample", {"n": n, "v": n % 1000})
        socketio.sleep(0.001)


@socketio.on("connect")
def connected():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(stream)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
