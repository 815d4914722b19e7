"""The client's transport. Every cell over ``polling`` or ``websocket`` was
measured to get its default-transport verdict, so these declare no expectation.

A WebSocket-only cell needs the server to have WebSocket at all: python-engineio
serves it through a package of its own in threading mode (simple-websocket, a
requirement only from python-engineio 4.8.0 on) and, before 4.8.0, through
gevent-websocket in gevent mode. On an older stack without them the server offers
no WebSocket (the default transport stays on long-polling), so such a cell cannot
exist there and skips, saying which package is missing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from emitcheck.matrix.cell import TransportVariant

#: The first python-engineio whose gevent mode falls back to simple-websocket.
GEVENT_SIMPLE_WEBSOCKET = (4, 8)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _engineio_release() -> tuple[int, ...]:
    try:
        release = importlib.metadata.version("python-engineio")
    except importlib.metadata.PackageNotFoundError:
        return ()
    return tuple(int(part) for part in release.split(".")[:2] if part.isdigit())


@dataclass(eq=False)
class WebSocketOnly(TransportVariant):
    def unavailable(self, cell):
        from emitcheck.matrix.cell import variant

        mode = variant("mode", cell.mode).resolve()
        if mode == "threading" and not _installed("simple_websocket"):
            return ("simple-websocket not installed: python-engineio has no WebSocket in "
                    "threading mode without it (a requirement from python-engineio 4.8.0 on)")
        if (mode == "gevent" and not _installed("geventwebsocket")
                and _engineio_release() < GEVENT_SIMPLE_WEBSOCKET):
            return ("gevent-websocket not installed: python-engineio before 4.8.0 has no "
                    "WebSocket in gevent mode without it")
        return super().unavailable(cell)


VARIANTS = [
    TransportVariant("default", "long-polling upgraded to WebSocket (python-socketio's "
                     "default)"),
    TransportVariant("polling", "long-polling only", doc="pitfall.md#transports",
                     transports=["polling"]),
    WebSocketOnly("websocket", "WebSocket only", doc="pitfall.md#transports",
                  transports=["websocket"]),
]
