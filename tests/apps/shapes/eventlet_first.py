"""Patches first, eventlet: ``eventlet.monkey_patch()`` is the module's first
statement, as Flask-SocketIO's deployment docs and the maintainer's answers
(issues 192, 357) tell users who keep ``threading.Thread`` and ``time.sleep``.

The first client's connect starts a ``threading.Thread`` that emits ``tick``
every 0.2 s; patched, that thread is a green thread and ``time.sleep`` yields.

Run: ``PORT=5000 python eventlet_first.py``.
emitcheck: ``eventlet_first:socketio --event tick``.
"""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet")
worker = None


def ticker():
    count = 0
    while True:
        count += 1
        socketio.emit("tick", {"count": count})
        time.sleep(0.2)


@socketio.on("connect")
def connected():
    global worker
    if worker is None:
        worker = threading.Thread(target=ticker, daemon=True)
        worker.start()


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
