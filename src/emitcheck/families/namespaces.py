"""``-other_namespace``: the work emits to ``/other``, a namespace that no handler
serves and no client connects to, while the client is on ``/``.

An emit goes to the clients connected to its namespace. Where there are none
it is dropped without a word: no error, no warning, and the server logs the
emit as made. Flask-SocketIO's own ``example/app_namespace.py`` has been in this
state since acc57af: its namespace class is registered on ``/`` while the
background task emits to ``/test`` (docs/own-app.md). A client cannot even go
to ``/test``: the server refuses a namespace it has no handler for (python-
socketio's ``namespaces`` option, ``['/']`` by default).

Its cells are the ones whose work is delivered on ``/`` (one per mode), so that
the namespace is the only thing wrong (``in_default``); any other cell is
lost, or starved where the server stops answering anyway (``expect``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant
from emitcheck.model.expectation import Expectation

DOC = "pitfall.md#an-emit-to-a-namespace-nobody-is-on-lost"
#: The namespace the work of an ``-other_namespace`` cell emits to (the server
#: scripts read it from the cell id: scripts/server_child.py, async_server_child.py).
OTHER = "/other"


@dataclass(eq=False)
class Namespace(Variant):
    factor: ClassVar[str] = "namespace"


@dataclass(eq=False)
class OtherNamespace(Namespace):
    def conflict(self, cell):
        alone = self.alone(cell, "the namespace is the only thing wrong in them")
        if alone:
            return alone
        if cell.spawn not in ("thread", "task"):
            return (f"{self.value} cells start the work in the server (spawn thread or task), "
                    f"not spawn {cell.spawn}")
        return None

    def in_default(self, cell):
        # The cell of each mode whose work reaches clients on "/": (cell.base) is
        # delivered, so the namespace alone makes the difference.
        from emitcheck.matrix.cell import variant

        mode = variant("mode", cell.mode)
        if not mode.concrete:
            return False
        green = mode.value in ("eventlet", "gevent")
        return (cell.spawn, cell.wait) == ("task", "socketio_sleep") and \
            cell.patch == ("patched" if green else "unpatched")

    def expect(self, cell, expected, resolved=None):
        # Measured: a server that stops answering (starved) still does; any other
        # twin is lost here, an eventlet OS thread's 'error' too (with no client
        # in the namespace, no writer on the main hub is ever woken).
        twin = expected(cell.replace(namespace="same"), resolved)
        if twin.verdict == "starved":
            return Expectation("starved", f"the work emits to {OTHER}, and besides: "
                               f"{twin.why}", twin.doc)
        return Expectation("lost", f"the work emits to {OTHER}, where no client is (the "
                           "client is on /, and the server has no handler there): the "
                           "emits are dropped without an error", DOC)


VARIANTS = [
    Namespace("same", "the work emits to the namespace the client is on (/)"),
    OtherNamespace("other_namespace", f"the work emits to {OTHER}, which no handler serves "
                   "and no client is on; the client is on /", doc=DOC,
                   undo="emit to the namespace your clients connect to (namespace='/' "
                   "here), or register a handler on the namespace you emit to and connect "
                   "the clients there"),
]
