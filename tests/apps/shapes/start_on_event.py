"""Work started on a client event: a handler of ``start`` starts the
background work (the shape of Flask-SocketIO issue 192, a handler of a
client command that starts a thread; here with
``socketio.start_background_task``, as the maintainer advised).

It emits ``log_line`` every 0.2 s once a client emitted ``start``.

Run: ``PORT=5000 python start_on_event.py``.
emitcheck: ``start_on_event:socketio --event log_line --trigger emit:start``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app)
tail = {"task": None}


def follow():
    line = 0
    while True:
        line += 1
        socketio.emit("log_line", {"line": line, "text": f"line {line}"})
        socketio.sleep(0.2)


@socketio.on("start")
def start(_data=None):
    if tail["task"] is None:
        tail["task"] = socketio.start_background_task(follow)
    emit("started", {"ok": True})


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
