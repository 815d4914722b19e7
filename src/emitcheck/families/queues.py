"""No message queue: emits go from the server's own queue to its clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant


@dataclass(eq=False)
class Queue(Variant):
    factor: ClassVar[str] = "queue"


VARIANTS = [Queue("none", "no message queue")]
