"""No message queue: emits go from the server's own queue to its clients."""

from __future__ import annotations

from dataclasses import dataclass

from emitcheck.matrix.cell import QueueVariant


@dataclass(eq=False)
class Queue(QueueVariant):
    pass


VARIANTS = [Queue("none", "no message queue")]
