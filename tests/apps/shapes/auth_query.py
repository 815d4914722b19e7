"""A connect handler that reads a token from the query string: the client
connects to ``http://host:port?token=...`` and the handler checks
``request.args.get("token")`` (the tutorials that pass a JWT in the Socket.IO
URL), refusing with ``ConnectionRefusedError("bad token")``.

An accepted connect starts, once, a background task that emits ``quote``
every 0.2 s.

Run: ``PORT=5000 python auth_query.py``; connect to ``...?token=t0k``.
emitcheck: ``auth_query:socketio --event quote --query token=t0k``.
"""

import os

from flask import Flask, request
from flask_socketio import ConnectionRefusedError, SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def quotes():
    price = 100.0
    while True:
        price = round(price * 1.001, 3)
        socketio.emit("quote", {"symbol": "ACME", "price": price})
        socketio.sleep(0.2)


@socketio.on("connect")
def connect():
    if request.args.get("token") != "t0k":
        raise ConnectionRefusedError("bad token")
    if state["task"] is None:
        state["task"] = socketio.start_background_task(quotes)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
