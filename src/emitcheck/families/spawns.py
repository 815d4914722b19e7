"""How the background work starts, inside the server process (server_child.py
has the code of each: ``make_starter``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant


@dataclass(eq=False)
class Spawn(Variant):
    factor: ClassVar[str] = "spawn"


VARIANTS = [
    Spawn("thread", "threading.Thread(target=work, daemon=True).start()"),
    Spawn("task", "socketio.start_background_task(work)",
          remedy="start the work with socketio.start_background_task(work)"),
]
