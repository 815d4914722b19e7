"""Work started on a route: ``GET /start`` starts the background work (the
shape of Flask-SocketIO issue 434, a page whose view starts the thread that
reports progress; here started the way the docs advise, with
``socketio.start_background_task``).

It emits ``progress`` every 0.2 s once /start was requested.

Run: ``PORT=5000 python start_on_route.py``.
emitcheck: ``start_on_route:socketio --event progress --trigger get:/start``.
"""

import os

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
job = {"task": None}


def run_job():
    percent = 0
    while True:
        percent = (percent + 1) % 101
        socketio.emit("progress", {"percent": percent})
        socketio.sleep(0.2)


@app.route("/start")
def start():
    if job["task"] is None:
        job["task"] = socketio.start_background_task(run_job)
        return "started"
    return "already running"


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
