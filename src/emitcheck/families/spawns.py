"""How the background work starts, inside the server process (server_child.py
has the code of each: ``make_starter``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant


@dataclass(eq=False)
class Spawn(Variant):
    factor: ClassVar[str] = "spawn"


@dataclass(eq=False)
class Thread(Spawn):
    def conflict(self, cell):
        from emitcheck.matrix.cell import variant

        if variant("mode", cell.mode).asyncio:
            return (f"an OS thread cannot emit into {cell.mode}'s loop by itself: use spawn "
                    "thread_threadsafe, thread_asyncio_run or thread_import_loop")
        return None


VARIANTS = [
    Thread("thread", "threading.Thread(target=work, daemon=True).start()"),
    Spawn("task", "socketio.start_background_task(work) (asyncio: a coroutine)",
          remedy="start the work with socketio.start_background_task(work)"),
]
