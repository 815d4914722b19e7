"""The same sample app, written as Flask-SocketIO's docs advise: the work is
started with socketio.start_background_task and waits with socketio.sleep."""

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
        socketio.sleep(0.2)


@socketio.on("connect")
def start_ticker():
    global worker
    if worker is None:
        worker = socketio.start_background_task(ticker)
