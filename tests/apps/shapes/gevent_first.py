"""Patches first, gevent: ``from gevent import monkey; monkey.patch_all()`` is
the module's first statement (Flask-SocketIO's docs on gevent; the fix the
maintainer gave in issue 973, where emits from a thread arrived minutes late).

The work is a ``threading.Thread`` started at import, waiting with
``time.sleep``; patched, both are gevent's. It emits ``reading`` every 0.2 s.

Run: ``PORT=5000 python gevent_first.py``.
emitcheck: ``gevent_first:socketio --event reading``.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent")


def sample():
    count = 0
    while True:
        count += 1
        socketio.emit("reading", {"n": count, "value": count % 7})
        time.sleep(0.2)


threading.Thread(target=sample, daemon=True).start()

if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
