"""A connect handler that needs what ``main()`` sets: it joins the room named
by ``app.config["ROOM"]``, which only ``main()`` configures (the chat and
dashboard scripts that read their settings in ``main`` before
``socketio.run``). Imported without ``main()`` -- by gunicorn, or by
emitcheck -- every connect raises ``KeyError: 'ROOM'``.

The first connect starts a background task that emits ``room_event`` to the
room every 0.2 s.

Run: ``PORT=5000 python connect_raises.py``.
emitcheck: ``connect_raises:socketio --event room_event --setup connect_raises:configure``
(without ``--setup``: the connect handler raises).
"""

import os

from flask import Flask
from flask_socketio import SocketIO, join_room

app = Flask(__name__)
socketio = SocketIO(app)
state = {"task": None}


def configure():
    app.config["ROOM"] = os.environ.get("ROOM", "lobby")


def announce():
    count = 0
    while True:
        count += 1
        socketio.emit("room_event", {"count": count}, to=app.config["ROOM"])
        socketio.sleep(0.2)


@socketio.on("connect")
def connected():
    join_room(app.config["ROOM"])
    if state["task"] is None:
        state["task"] = socketio.start_background_task(announce)


def main():
    configure()
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))


if __name__ == "__main__":
    main()
