"""A connect handler that refuses a client without a token in its auth dict:
``def connect(auth)`` reading ``auth["token"]`` and raising
``ConnectionRefusedError``, as python-socketio's and Flask-SocketIO's docs on
authentication show (and Flask-SocketIO-Chat issue 38 asks for).

An authorized connect starts, once, a background task that emits ``balance``
every 0.2 s.

Run: ``PORT=5000 python auth_token.py``; connect with ``auth={"token": "s3cret"}``.
emitcheck: ``auth_token:socketio --event balance --auth '{"token": "s3cret"}'``
(without it: refused, "unauthorized").
"""

import os

from flask import Flask
from flask_socketio import ConnectionRefusedError, SocketIO

TOKEN = os.environ.get("API_TOKEN", "s3cret")

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def balances():
    cents = 0
    while True:
        cents += 7
        socketio.emit("balance", {"cents": cents})
        socketio.sleep(0.2)


@socketio.on("connect")
def connect(auth):
    if not auth or auth.get("token") != TOKEN:
        raise ConnectionRefusedError("unauthorized")
    if state["task"] is None:
        state["task"] = socketio.start_background_task(balances)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
