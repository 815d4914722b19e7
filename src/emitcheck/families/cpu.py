"""CPU-bound work: a loop that never yields (``busy``), and the same loop giving
the hub a turn with ``socketio.sleep(0)`` every 5 ms (``busy_yield``).

Each keeps a core busy for the whole life of its server, so these cells run
one at a time, start fresh (a forked server would share nothing useful), and
take no suffix: one grid of them is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from emitcheck.matrix.cell import Variant


@dataclass(eq=False)
class CpuBound(Variant):
    factor: ClassVar[str] = "wait"

    def conflict(self, cell):
        if cell.suffixes:
            return (f"{self.value} cells run with every suffix factor at its default "
                    "(each burns a core; one family of them is enough)")
        return None


_COMMON: dict[str, Any] = {"doc": "pitfall.md#cpu-bound-work", "isolated": True, "forkable": False,
           "grid": "CPU-bound work"}
VARIANTS = [
    CpuBound("busy", "a CPU-bound loop that never yields", **_COMMON),
    CpuBound("busy_yield", "the same loop calling socketio.sleep(0) every 5 ms",
             remedy="in CPU-bound loops, call socketio.sleep(0) every few milliseconds",
             **_COMMON),
]
