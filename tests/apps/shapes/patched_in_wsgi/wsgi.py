"""Patching in the entry script: ``eventlet.monkey_patch()`` first in wsgi.py,
which then imports the app module (board.py, which does not patch) -- the
layout of Flask-SocketIO issue 357 ("monkey patching is done only once, in
the main script, before anything else is imported") and of the ``wsgi.py``
files gunicorn deployments point at.

Run: ``PORT=5000 python wsgi.py`` (in this folder).
emitcheck: ``wsgi:app --event score --path tests/apps/shapes/patched_in_wsgi``.
"""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

from board import app, socketio  # noqa: E402, F401

if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
