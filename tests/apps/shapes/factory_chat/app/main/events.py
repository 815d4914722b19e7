"""The chat's Socket.IO events, all in the ``/chat`` namespace."""

from flask_socketio import emit, join_room, leave_room

from .. import socketio

ROOM = "lobby"
_presence = {"task": None}


def announce():
    count = 0
    while True:
        count += 1
        socketio.emit("status", {"msg": f"{count} ticks in {ROOM}"}, to=ROOM,
                      namespace="/chat")
        socketio.sleep(0.2)


@socketio.on("joined", namespace="/chat")
def joined(message):
    join_room(ROOM)
    if _presence["task"] is None:
        _presence["task"] = socketio.start_background_task(announce)


@socketio.on("text", namespace="/chat")
def text(message):
    emit("message", {"msg": (message or {}).get("msg", "")}, to=ROOM)


@socketio.on("left", namespace="/chat")
def left(message):
    leave_room(ROOM)
