"""How the work waits between two emits (server_child.py's ``make_waiter``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant


@dataclass(eq=False)
class Wait(Variant):
    factor: ClassVar[str] = "wait"


VARIANTS = [
    Wait("time_sleep", "time.sleep(interval)"),
    Wait("socketio_sleep", "socketio.sleep(interval)",
         remedy="wait with socketio.sleep(), not time.sleep()"),
]
