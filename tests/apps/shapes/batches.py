"""Batches by design: every second the work emits 10 events back to back
(a log shipper or a poller that flushes what it collected each second).
Arrivals come in clumps of 10 a second apart; that is the design, not a
delay.

The first connect starts a background task that emits ``log_batch_item``.

Run: ``PORT=5000 python batches.py``.
emitcheck: ``batches:socketio --event log_batch_item``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO

BATCH = 10
EVERY = 1.0

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def ship():
    batch = 0
    while True:
        batch += 1
        for line in range(BATCH):
            socketio.emit("log_batch_item", {"batch": batch, "line": line})
        socketio.sleep(EVERY)


@socketio.on("connect")
def connected():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(ship)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
