"""One sample app, three ways its work starts: at import (here: when the factory
runs), on a first HTTP request, and on a client event. emitcheck must see each
with the right trigger, and say ``silent`` without it."""

from flask import Flask
from flask_socketio import SocketIO


def _ticker(socketio):
    def run():
        count = 0
        while True:
            count += 1
            socketio.emit("tick", {"count": count})
            socketio.sleep(0.2)
    return run


def at_import():
    app = Flask(__name__)
    socketio = SocketIO(app)
    socketio.start_background_task(_ticker(socketio))
    return app


def on_request():
    app = Flask(__name__)
    socketio = SocketIO(app)
    started = []

    @app.route("/start")
    def start():
        if not started:
            started.append(socketio.start_background_task(_ticker(socketio)))
        return "started"

    return app


def on_event():
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("go")
    def go(_data):
        socketio.start_background_task(_ticker(socketio))

    return app
