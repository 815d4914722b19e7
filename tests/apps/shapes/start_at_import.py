"""Work started at import: a module-level ``socketio.start_background_task``,
the "start the feed when the server starts" shape of many tutorials (no
client needed: it emits whether anyone listens or not).

It emits ``heartbeat`` every 0.2 s from the moment the module is imported.

Run: ``PORT=5000 python start_at_import.py``.
emitcheck: ``start_at_import:socketio --event heartbeat``.
"""

import os
import time

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)


def beat():
    count = 0
    while True:
        count += 1
        socketio.emit("heartbeat", {"n": count, "server_time": time.time()})
        socketio.sleep(0.2)


socketio.start_background_task(beat)

if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
