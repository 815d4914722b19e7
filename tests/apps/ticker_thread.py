"""A sample app with the classic bug: the background work is a threading.Thread
that waits with time.sleep (Flask-SocketIO issues 192, 491, 2140).
The first client's connect starts it, as in Flask-SocketIO's own example."""

import threading
import time

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
worker = None


def ticker():
    count = 0
    while True:
        count += 1
        socketio.emit("tick", {"count": count})
        time.sleep(0.2)


@socketio.on("connect")
def start_ticker():
    global worker
    if worker is None:
        worker = threading.Thread(target=ticker, daemon=True)
        worker.start()
