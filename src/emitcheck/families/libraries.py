"""The server library of a sync mode: Flask-SocketIO (the default), or
python-socketio's own ``socketio.Server`` in ``socketio.WSGIApp``, served as
python-socketio's examples serve it (scripts/server_child.py: Werkzeug with
threads, ``eventlet.wsgi.server``, gevent's ``pywsgi.WSGIServer``).

Flask-SocketIO is a layer over python-socketio's ``Server``: the emit, the
queue and the hub are the same, and so are the verdicts (measured: every cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant
from emitcheck.model.expectation import Expectation

DOC = "pitfall.md#python-socketios-server"


@dataclass(eq=False)
class Library(Variant):
    factor: ClassVar[str] = "library"


@dataclass(eq=False)
class PythonSocketio(Library):
    def conflict(self, cell):
        from emitcheck.matrix.cell import variant

        if variant("mode", cell.mode).asyncio:
            return (f"{cell.mode} mode is python-socketio's AsyncServer already: "
                    f"drop -{self.value}")
        return self.alone(cell, "its deployments are Flask-SocketIO's")

    def expect(self, cell, expected, resolved=None):
        twin = expected(cell.replace(library="flask_socketio"), resolved)
        return Expectation(twin.verdict, "python-socketio's Server, as Flask-SocketIO over "
                           f"it (measured): {twin.why}", self.doc or twin.doc)


VARIANTS = [
    Library("flask_socketio", "Flask-SocketIO: SocketIO(app)"),
    PythonSocketio("python_socketio", "python-socketio: socketio.Server() in "
                   "socketio.WSGIApp, served as its examples do", doc=DOC,
                   grid="python-socketio's Server"),
]
