"""An external service: ``SocketIO(app, message_queue=REDIS_URL)`` (Flask-
SocketIO's docs on using multiple workers and emitting from an external
process; issue 721), gevent patched first. Every emit goes out to Redis and
comes back through the server's Redis listener before it reaches a client.

The first connect starts a background task that emits ``job_update`` every
0.2 s. The Redis URL comes from ``REDIS_URL``.

Run: ``REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python redis_queue.py``.
emitcheck: ``redis_queue:socketio --event job_update --env REDIS_URL=redis://...``.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

app = Flask(__name__)
socketio = SocketIO(app, message_queue=REDIS_URL, async_mode="gevent")
state = {"task": None}


def job():
    step = 0
    while True:
        step += 1
        socketio.emit("job_update", {"step": step})
        socketio.sleep(0.2)


@socketio.on("connect")
def connected():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(job)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
