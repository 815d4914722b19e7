"""Only a greeting: the connect handler emits one ``welcome`` to the client
and there is no background work (the "Connected" answer of Flask-SocketIO's
``example/app.py`` on its own; issue 989).

Run: ``PORT=5000 python greeting.py``.
emitcheck: ``greeting:socketio --event welcome``.
"""

import os

from flask import Flask, request
from flask_socketio import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app)


@socketio.on("connect")
def connected():
    emit("welcome", {"data": "Connected", "sid": request.sid})


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
