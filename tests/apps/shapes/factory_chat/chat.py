"""Application factory + Blueprint + ``socketio.init_app(app)``, handlers in a
namespace: the layout of miguelgrinberg/Flask-SocketIO-Chat (a ``chat.py``
that calls ``create_app()`` and ``socketio.run``; the package ``app`` with the
factory; the blueprint ``app/main`` with its routes and its ``/chat`` events).

A client that emits ``joined`` in ``/chat`` joins the room; the first join
starts a background task that emits ``status`` to the room every 0.2 s.

Run: ``PORT=5000 python chat.py`` (in this folder).
emitcheck: ``'app:create_app()' --event status --namespace /chat
--trigger 'emit:joined:{}' --path tests/apps/shapes/factory_chat``.
"""

import os

from app import create_app, socketio

app = create_app()

if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", 5000)))
