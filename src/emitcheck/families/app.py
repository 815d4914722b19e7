"""The user's own app as a family: ``emitcheck app MODULE:ATTR --event NAME``.

Its cells are ``{mode}-{patch}-app-own`` (and ``...-gunicorn``): the work is the
app's own (spawn ``app``: however the app starts it; wait ``own``: however it
waits), served in each mode and patching of our matrix (``auto``: the app's own
``async_mode``, untouched). The cell's process is app_child.py: it patches
first when the cell is patched, logs every emit the app makes, forces the
cell's mode, imports the app and serves it (``socketio.run``, or as a
python-socketio app's own stack serves it; an ``AsyncServer`` app's rows
are ``auto`` and its own asyncio mode: cli/app.py's ``app_modes``). These
cells are in no listing of ours (``matrix=False``): they need an app, which
user_app.py describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from emitcheck.matrix.cell import Variant
from emitcheck.model.docs import OWN_APP

DOC = OWN_APP


@dataclass(eq=False)
class AppValue(Variant):
    """``spawn app`` and ``wait own``: each needs the other, no queue, our client."""
    factor: ClassVar[str] = ""
    partner: str = ""

    def conflict(self, cell):
        other = "wait" if self.factor == "spawn" else "spawn"
        if getattr(cell, other) != self.partner:
            return f"{self.factor} {self.value} goes with {other} {self.partner} (the app's " \
                   "own work): ...-app-own"
        if cell.queue != "none" or cell.client != "python":
            return "an app's cells run without a queue suffix and with the Python client"
        return None

    def expect(self, cell, expected, resolved=None):
        from emitcheck.model.expectation import Expectation

        return Expectation("delivered", "a working app delivers its events in every cell; "
                           "where it does not, the remedy says what to change", DOC)

    def before_server(self, run):
        from emitcheck.apps.user_app import UserApp

        if self.factor == "spawn" and not isinstance(run.work, UserApp):
            raise RuntimeError("app cells need an app: run them with "
                               "'emitcheck app MODULE:ATTR --event NAME'")


@dataclass(eq=False)
class AppSpawn(AppValue):
    factor: ClassVar[str] = "spawn"


@dataclass(eq=False)
class AppWait(AppValue):
    factor: ClassVar[str] = "wait"


_COMMON: dict[str, Any] = {"doc": DOC, "forkable": False, "reproducible": False, "matrix": False}
VARIANTS = [
    AppSpawn("app", "the app under test starts its work itself", partner="own", **_COMMON),
    AppWait("own", "the app waits however it does", partner="app", **_COMMON),
]
