"""Work started in the connect handler: Flask-SocketIO's ``example/app.py``
shape (a ``background_thread`` started once, under a lock, by the first
connect, emitting ``my_response``; the connect handler also answers with a
``my_response`` of its own). Upstream emits every 10 s; here every 0.2 s.

Run: ``PORT=5000 python start_on_connect.py``.
emitcheck: ``start_on_connect:socketio --event my_response``.
"""

import os
from threading import Lock

from flask import Flask, request
from flask_socketio import SocketIO, emit

app = Flask(__name__)
app.config["SECRET_KEY"] = "secret!"
socketio = SocketIO(app)
thread = None
thread_lock = Lock()


def background_thread():
    count = 0
    while True:
        socketio.sleep(0.2)
        count += 1
        socketio.emit("my_response", {"data": "Server generated event", "count": count})


@app.route("/")
def index():
    return "see the Socket.IO events"


@socketio.event
def connect():
    global thread
    with thread_lock:
        if thread is None:
            thread = socketio.start_background_task(background_thread)
    emit("my_response", {"data": "Connected", "count": 0, "sid": request.sid})


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
