"""The app module of a project that patches in its entry script (wsgi.py):
this module does not patch. Its work is a ``threading.Thread`` with
``time.sleep`` (as in Flask-SocketIO issue 357, where the worker lives in
another file than the one that patches), started by the first connect and
emitting ``score`` every 0.2 s: it works because wsgi.py patched first.
"""

import threading
import time

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
_started = threading.Lock()
worker = None


def scores():
    count = 0
    while True:
        count += 1
        socketio.emit("score", {"home": count, "away": count // 3})
        time.sleep(0.2)


@socketio.on("connect")
def connected():
    global worker
    with _started:
        if worker is None:
            worker = threading.Thread(target=scores, daemon=True)
            worker.start()
