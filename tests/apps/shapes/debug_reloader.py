"""An app that calls ``socketio.run(app, debug=True)`` at module level.

The pattern of the quick-start snippets that end with ``socketio.run(app,
debug=True)`` written without the ``if __name__ == "__main__":`` guard: the
server starts as soon as the module is imported, whoever imports it. With
``debug=True`` Werkzeug's reloader is on: the process that imports the module
starts a second copy of its own command line (``WERKZEUG_RUN_MAIN=true``),
which listens on the port, and waits for it forever. The app emits ``tick``
every 0.2 s once a client connects.

Run it with ``PORT=5001 python debug_reloader.py`` (importing it does the same).
"""

import os

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
started = []


def ticker():
    count = 0
    while True:
        count += 1
        socketio.emit("tick", {"count": count})
        socketio.sleep(0.2)


@socketio.on("connect")
def start_ticker():
    if not started:
        started.append(socketio.start_background_task(ticker))


socketio.run(app, debug=True, use_reloader=True, port=int(os.environ.get("PORT", "5000")),
             allow_unsafe_werkzeug=True)
