"""python-socketio's own ``socketio.Server`` in ``socketio.WSGIApp`` under
``eventlet.wsgi.server``, nothing monkey patched, its work in a
``threading.Thread`` that waits with ``time.sleep``: what python-socketio's
deployment docs warn of (eventlet needs the standard library patched), as
users hit it in the questions where emits "arrive all at once, or never".

``GET /start`` (the WSGI app beside the Socket.IO server) starts the thread;
it emits ``progress`` every 0.2 s.

Run: ``PORT=5000 python server_thread_unpatched.py``.
emitcheck: ``server_thread_unpatched:sio --event progress --trigger get:/start``.
"""

import os
import threading
import time

import eventlet
import eventlet.wsgi
import socketio

sio = socketio.Server(async_mode="eventlet")
running = []


def report_progress():
    done = 0
    while True:
        done += 1
        sio.emit("progress", {"done": done})
        time.sleep(0.2)


def start(environ, start_response):
    if environ["PATH_INFO"] == "/start" and not running:
        running.append(threading.Thread(target=report_progress, daemon=True))
        running[0].start()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"started" if running else b"nothing here"]


app = socketio.WSGIApp(sio, start)

if __name__ == "__main__":
    eventlet.wsgi.server(eventlet.listen(("127.0.0.1", int(os.environ.get("PORT", 5000)))), app)
