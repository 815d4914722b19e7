"""A python-socketio server without Flask-SocketIO (``socketio.Server`` +
``WSGIApp``), as python-socketio's own examples write it: ``emitcheck app``
cannot serve it and must say what to run instead."""

import socketio

sio = socketio.Server(async_mode="threading")
app = socketio.WSGIApp(sio)
