"""Flask-SocketIO issue 973: gevent mode, nothing monkey patched, and a
``threading.Thread`` that emits; the events "never arrive, or minutes after
they were sent".

The first connect starts the thread; it emits ``message`` every 0.2 s,
waiting with ``time.sleep``.

Run: ``PORT=5000 python gevent_unpatched.py``.
emitcheck: ``gevent_unpatched:socketio --event message``.
"""

import os
import threading
import time

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent")
sender = None


def send_messages():
    count = 0
    while True:
        count += 1
        socketio.emit("message", {"text": f"message {count}"})
        time.sleep(0.2)


@socketio.on("connect")
def connected():
    global sender
    if sender is None:
        sender = threading.Thread(target=send_messages, daemon=True)
        sender.start()


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
