"""An app that starts helper programs with ``subprocess.Popen``: one when the
module is imported, one per client that connects.

The pattern of apps that launch a worker or a watcher next to the web server
(``subprocess.Popen([...])`` at module level, with no ``if __name__ ==
"__main__"`` guard) and of handlers that start a long job per client in a
session of its own (``start_new_session=True``, so that it outlives a Ctrl-C
in the server's terminal). Here the helpers are ``sleep 300``; the app emits
``tick`` every 0.2 s.

The helper started at import inherits the importing process's stdout and
stderr, as any child does unless told otherwise.

Run it by itself with ``PORT=5001 python spawns_popen.py``.
"""

import os
import subprocess

from flask import Flask
from flask_socketio import SocketIO

#: Started when the module is imported: by the server, and by whoever imports it.
HELPER = subprocess.Popen(["sleep", "300"])

app = Flask(__name__)
socketio = SocketIO(app)
started = []
jobs = []


def ticker():
    count = 0
    while True:
        count += 1
        socketio.emit("tick", {"count": count})
        socketio.sleep(0.2)


@socketio.on("connect")
def start_job():
    if not started:
        started.append(socketio.start_background_task(ticker))
    jobs.append(subprocess.Popen(["sleep", "300"], start_new_session=True))


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", "5000")), allow_unsafe_werkzeug=True)
