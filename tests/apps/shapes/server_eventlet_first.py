"""python-socketio's own ``socketio.Server`` in ``socketio.WSGIApp``, served
by ``eventlet.wsgi.server`` as its eventlet example does, patched first:
``eventlet.monkey_patch()`` is the module's first statement, so the
``threading.Thread`` and ``time.sleep`` it keeps are green.

The first client's connect starts a thread that emits ``progress`` every 0.2 s.

Run: ``PORT=5000 python server_eventlet_first.py``.
emitcheck: ``server_eventlet_first:sio --event progress``.
"""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import eventlet.wsgi  # noqa: E402
import socketio  # noqa: E402

sio = socketio.Server(async_mode="eventlet")
app = socketio.WSGIApp(sio)
started = threading.Lock()
running = []


def report_progress():
    done = 0
    while True:
        done += 1
        sio.emit("progress", {"done": done})
        time.sleep(0.2)


@sio.event
def connect(sid, environ):
    with started:
        if not running:
            running.append(threading.Thread(target=report_progress, daemon=True))
            running[0].start()


if __name__ == "__main__":
    eventlet.wsgi.server(eventlet.listen(("127.0.0.1", int(os.environ.get("PORT", 5000)))), app)
