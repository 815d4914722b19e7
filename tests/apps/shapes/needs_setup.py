"""Set-up that only ``main()`` does: ``start_feed()`` configures the app
(``app.config["FEED_EVERY"]``) and starts the background work before
``socketio.run`` -- the ``if __name__ == "__main__": init(); socketio.run(app)``
scripts. Imported without ``main()``, nothing ever emits.

``start_feed()`` starts a task that emits ``gauge`` every
``FEED_EVERY`` (0.2) s.

Run: ``PORT=5000 python needs_setup.py``.
emitcheck: ``needs_setup:socketio --event gauge --setup needs_setup:start_feed``
(without it: silent).
"""

import os

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)


def gauge():
    level = 0
    while True:
        level = (level + 5) % 100
        socketio.emit("gauge", {"level": level})
        socketio.sleep(app.config["FEED_EVERY"])


def start_feed():
    app.config["FEED_EVERY"] = 0.2
    socketio.start_background_task(gauge)


def main():
    start_feed()
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))


if __name__ == "__main__":
    main()
