"""An external service: a redis-py pub/sub subscriber thread relays the
messages of a Redis channel into Socket.IO emits (Flask-SocketIO issues 354
and 639: ``pubsub.subscribe(...)`` with a handler, ``run_in_thread``), in
threading mode. A producer in the same process publishes a price on the
channel every 0.2 s (in production another service would).

The first connect subscribes and starts the producer; each message becomes
an emit of ``price``. The Redis URL comes from ``REDIS_URL``.

Run: ``REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python redis_relay.py``.
emitcheck: ``redis_relay:socketio --event price --env REDIS_URL=redis://...``.
"""

import json
import os
import threading
import time

import redis
from flask import Flask
from flask_socketio import SocketIO

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL = "prices"

app = Flask(__name__)
socketio = SocketIO(app, async_mode="threading")
_lock = threading.Lock()
_started = []


def relay(message):
    socketio.emit("price", json.loads(message["data"]))


def produce(client):
    price = 50.0
    while True:
        price = round(price + 0.25, 2)
        client.publish(CHANNEL, json.dumps({"symbol": "ACME", "price": price}))
        time.sleep(0.2)


def start_relay():
    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(**{CHANNEL: relay})
    _started.append(pubsub.run_in_thread(sleep_time=0.01, daemon=True))
    threading.Thread(target=produce, args=(client,), daemon=True).start()


@socketio.on("connect")
def connected():
    with _lock:
        if not _started:
            start_relay()


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)), allow_unsafe_werkzeug=True)
