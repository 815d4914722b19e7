"""``auto`` mode: ``SocketIO(app)`` with no async_mode, as most apps are written.

python-engineio tries eventlet, gevent_uwsgi, gevent and threading in that
order and keeps the first that imports, so the mode depends on what is
installed. A cell of this mode is judged as the cell of the mode it resolved
to (the server reports it; before it runs, ``resolve`` predicts it from what
is installed, importing nothing).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from emitcheck.matrix.cell import Expect, ModeVariant


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@dataclass(eq=False)
class Auto(ModeVariant):
    def resolve(self, have=None) -> str:
        have = have or _installed
        if have("eventlet"):
            return "eventlet"
        if have("gevent") and have("uwsgi"):
            return "gevent_uwsgi"
        if have("gevent"):
            return "gevent"
        return "threading"

    def expect(self, cell, expected: Expect, resolved: str | None = None):
        from emitcheck.matrix.cell import CellError, mode_value
        from emitcheck.model.expectation import Expectation

        mode = resolved or self.resolve()
        try:
            concrete = cell.replace(mode=mode_value(mode))
        except CellError:  # that mode does not go with the rest: its suffixes decide
            return None
        same = expected(concrete)
        return Expectation(same.verdict, f"SocketIO(app) resolves to {mode} here, so this is "
                           f"{concrete.id}: {same.why}", self.doc or same.doc)


VARIANTS = [Auto(
    "auto", "SocketIO(app): the first of eventlet, gevent_uwsgi, gevent, threading that "
    "is installed", doc="pitfall.md#which-mode-you-get",
    # Forked from the zygote of the mode it resolves to (running/zygote.py): that
    # zygote has imported what SocketIO(app) finds first here.
    concrete=False)]
