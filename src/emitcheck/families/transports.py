"""The client's transport. Every cell over ``polling`` or ``websocket`` was
measured to get its default-transport verdict, so these declare no expectation."""

from .base import TransportVariant

VARIANTS = [
    TransportVariant("default", "long-polling upgraded to WebSocket (python-socketio's "
                     "default)"),
    TransportVariant("polling", "long-polling only", doc="pitfall.md#transports",
                     transports=["polling"]),
    TransportVariant("websocket", "WebSocket only", doc="pitfall.md#transports",
                     transports=["websocket"]),
]
