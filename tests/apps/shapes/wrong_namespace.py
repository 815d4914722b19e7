"""A class-based ``Namespace`` registered on ``/`` while the background task
emits to ``/test``: the state of Flask-SocketIO's ``example/app_namespace.py``
since acc57af (docs/own-app.md, "Tried on apps written by others"). A client
of ``/`` connects and hears nothing; a client of ``/test`` is refused.

The first connect starts a background task that emits ``my_response`` to
``/test`` every 0.2 s.

Run: ``PORT=5000 python wrong_namespace.py``.
emitcheck: ``wrong_namespace:socketio --event my_response`` (silent: the app
emits it in ``/test``, nobody can receive it).
"""

import os
from threading import Lock

from flask import Flask
from flask_socketio import Namespace, SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
thread = None
thread_lock = Lock()


def background_thread():
    count = 0
    while True:
        count += 1
        socketio.emit("my_response", {"data": "Server generated event", "count": count},
                      namespace="/test")
        socketio.sleep(0.2)


class MyNamespace(Namespace):
    def on_connect(self):
        global thread
        with thread_lock:
            if thread is None:
                thread = socketio.start_background_task(background_thread)


socketio.on_namespace(MyNamespace("/"))

if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
