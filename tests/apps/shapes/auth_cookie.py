"""A connect handler that refuses a client without a session cookie (the
"log in over HTTP, then the Socket.IO connection carries the cookie" shape of
Flask-Login apps): ``request.cookies["session_id"]`` must name a known
session, else ``ConnectionRefusedError("login required")``.

An accepted connect starts, once, a background task that emits
``notification`` every 0.2 s.

Run: ``PORT=5000 python auth_cookie.py``; connect with header
``Cookie: session_id=abc``.
emitcheck: ``auth_cookie:socketio --event notification --header 'Cookie:session_id=abc'``.
"""

import os

from flask import Flask, request
from flask_socketio import ConnectionRefusedError, SocketIO

SESSIONS = {"abc": "ada"}

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def notify():
    count = 0
    while True:
        count += 1
        socketio.emit("notification", {"unread": count})
        socketio.sleep(0.2)


@socketio.on("connect")
def connect():
    if request.cookies.get("session_id") not in SESSIONS:
        raise ConnectionRefusedError("login required")
    if state["task"] is None:
        state["task"] = socketio.start_background_task(notify)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
