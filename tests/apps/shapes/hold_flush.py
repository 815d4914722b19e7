"""Holds its events and flushes them later: the work takes a reading every
0.2 s, keeps them, and every 3 s emits all it holds back to back (15
``reading`` events) -- a buffered reporter. The clumps are the design.

The first connect starts it.

Run: ``PORT=5000 python hold_flush.py``.
emitcheck: ``hold_flush:socketio --event reading``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO

SAMPLE_EVERY = 0.2
FLUSH_EVERY = 3.0

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def report():
    held, sample = [], 0
    while True:
        for _ in range(int(round(FLUSH_EVERY / SAMPLE_EVERY))):
            sample += 1
            held.append({"sample": sample, "value": sample % 11})
            socketio.sleep(SAMPLE_EVERY)
        for reading in held:
            socketio.emit("reading", reading)
        held = []


@socketio.on("connect")
def connected():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(report)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
