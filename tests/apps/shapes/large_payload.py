"""Large payloads: a 1 MB binary ``frame`` every 0.5 s (the camera and image
streaming apps that push JPEG frames over Socket.IO).

The first connect starts a background task that emits them.

Run: ``PORT=5000 python large_payload.py``.
emitcheck: ``large_payload:socketio --event frame``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO

FRAME_BYTES = 1_000_000

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def frames():
    number = 0
    while True:
        number += 1
        data = bytes([number % 256]) * FRAME_BYTES
        socketio.emit("frame", {"number": number, "jpeg": data})
        socketio.sleep(0.5)


@socketio.on("connect")
def connected():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(frames)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
