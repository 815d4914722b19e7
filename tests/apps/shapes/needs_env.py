"""Configuration from an environment variable read at import
(``os.environ["FEED_SYMBOL"]``, the twelve-factor way): without it the
module does not import at all (``KeyError: 'FEED_SYMBOL'``).

The first connect starts a background task that emits ``ticker`` for that
symbol every 0.2 s.

Run: ``FEED_SYMBOL=ACME PORT=5000 python needs_env.py``.
emitcheck: ``needs_env:socketio --event ticker --env FEED_SYMBOL=ACME``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO

SYMBOL = os.environ["FEED_SYMBOL"]

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def feed():
    price = 10.0
    while True:
        price = round(price + 0.01, 2)
        socketio.emit("ticker", {"symbol": SYMBOL, "price": price})
        socketio.sleep(0.2)


@socketio.on("connect")
def connected():
    if state["task"] is None:
        state["task"] = socketio.start_background_task(feed)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
