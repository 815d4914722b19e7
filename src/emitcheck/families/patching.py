"""Monkey patching: ``eventlet.monkey_patch()`` / ``gevent.monkey.patch_all()`` as
the server process's first statement (server_child.py does it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Variant


@dataclass(eq=False)
class Patch(Variant):
    factor: ClassVar[str] = "patch"

    def conflict(self, cell):
        from emitcheck.matrix.cell import variant

        if self.value == "patched" and not variant("mode", cell.mode).patchable:
            return (f"{cell.mode} mode has no monkey patching: use "
                    f"{cell.mode}-unpatched-...")
        return None


VARIANTS = [
    Patch("unpatched", "the server process imports the stack as it is"),
    # Patching comes before every other import: a patched server is forked from
    # a zygote that patched first (running/zygote.py), or starts fresh.
    Patch("patched", "the server process monkey patches as its first statement",
          doc="pitfall.md#monkey-patching",
          remedy="monkey patch first: eventlet.monkey_patch() or gevent.monkey.patch_all() "
                 "as the very first statement, before any other import"),
]
