"""The classic bug, as reported in Flask-SocketIO issue 434 (and 192): a view
starts a ``threading.Thread`` that emits, with eventlet installed and nothing
monkey patched, so ``SocketIO(app)`` runs in eventlet mode and the emits of an
OS thread never reach the client.

``GET /start`` starts the thread; it emits ``sim_status`` every 0.2 s,
waiting with ``time.sleep``.

Run: ``PORT=5000 python thread_unpatched.py``.
emitcheck: ``thread_unpatched:socketio --event sim_status --trigger get:/start``.
"""

import os
import threading
import time

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
sims = {"thread": None}


def check_sim_status():
    step = 0
    while True:
        step += 1
        socketio.emit("sim_status", {"step": step})
        time.sleep(0.2)


@app.route("/start")
def all_sims():
    if sims["thread"] is None:
        sims["thread"] = threading.Thread(target=check_sim_status, daemon=True)
        sims["thread"].start()
    return "simulations started"


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
