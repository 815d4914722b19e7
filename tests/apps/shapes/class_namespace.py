"""A class-based ``Namespace`` registered with ``socketio.on_namespace``, as in
Flask-SocketIO's ``example/app_namespace.py`` (here registered on the
namespace its background task emits to, ``/feed``).

``on_connect`` starts, once, a background task that emits ``update`` to
``/feed`` every 0.2 s.

Run: ``PORT=5000 python class_namespace.py``.
emitcheck: ``class_namespace:socketio --event update --namespace /feed``.
"""

import os
from threading import Lock

from flask import Flask
from flask_socketio import Namespace, SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app)
task = None
task_lock = Lock()


def publish_updates():
    count = 0
    while True:
        count += 1
        socketio.emit("update", {"version": count}, namespace="/feed")
        socketio.sleep(0.2)


class FeedNamespace(Namespace):
    def on_connect(self):
        global task
        with task_lock:
            if task is None:
                task = socketio.start_background_task(publish_updates)

    def on_ping_feed(self, data):
        emit("pong_feed", data)

    def on_disconnect(self, reason=None):
        pass


socketio.on_namespace(FeedNamespace("/feed"))

if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
