"""How the work waits between two emits (scripts/server_child.py's ``make_waiter``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant
from emitcheck.model.expectation import Expectation


@dataclass(eq=False)
class Wait(Variant):
    factor: ClassVar[str] = "wait"


@dataclass(eq=False)
class BlocksLike(Wait):
    """A wait that blocks its OS thread as ``like`` does (unless monkey patched),
    and so reaches the same verdict in every cell; measured, not assumed
    (docs/pitfall.md#waiting-on-a-threading-primitive). Its cells take no suffix:
    one grid of them is enough."""
    like: str = "time_sleep"

    def conflict(self, cell):
        if cell.suffixes:
            return (f"{self.value} cells run with every suffix factor at its default "
                    f"(they behave as {self.like}: one grid of them is enough)")
        return None

    def expect(self, cell, expected, resolved=None):
        twin = expected(cell.replace(wait=self.like), resolved)
        return Expectation(twin.verdict, f"{self.help} blocks like {self.like}: {twin.why}",
                           self.doc or twin.doc)


VARIANTS = [
    Wait("time_sleep", "time.sleep(interval)"),
    Wait("socketio_sleep", "socketio.sleep(interval)",
         remedy="wait with socketio.sleep(), not time.sleep()"),
    BlocksLike("event_wait", "threading.Event().wait(interval)",
               doc="pitfall.md#waiting-on-a-threading-primitive",
               grid="waiting on a threading primitive"),
]
