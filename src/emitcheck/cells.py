"""The cell model: factors, their values, and cell ids.

A cell is one combination of factor values. Its id joins the values in factor
order with ``-`` (``eventlet-unpatched-thread-time_sleep``); values never
contain ``-``, so ids parse back without ambiguity. Users cite these ids in bug
reports, so the order of factors and the spelling of values must stay stable.
New factors are added at the end of ``FACTORS``; a new value is added to the end
of its factor's tuple.
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Factor:
    name: str
    values: tuple[str, ...]
    help: str


FACTORS: tuple[Factor, ...] = (
    Factor("mode", ("threading", "eventlet", "gevent", "auto"),
           "async_mode passed to SocketIO(app, async_mode=...); auto = SocketIO(app), "
           "which picks the first of eventlet, gevent_uwsgi, gevent, threading installed"),
    Factor("patch", ("unpatched", "patched"),
           "whether the server process monkey patches as its first statement"),
    Factor("spawn", ("thread", "task"),
           "thread = threading.Thread(...).start(); task = socketio.start_background_task(...)"),
    Factor("wait", ("time_sleep", "socketio_sleep"),
           "how the work waits between two emits"),
)
FACTOR_NAMES = tuple(f.name for f in FACTORS)
_BY_NAME = {f.name: f for f in FACTORS}

#: The stack (the package to import) each async mode needs, None when stdlib only.
MODE_PACKAGE = {"threading": None, "eventlet": "eventlet", "gevent": "gevent", "auto": None}


class CellError(ValueError):
    """Bad input naming a cell or a factor value; the message lists what is valid."""


@dataclass(frozen=True, order=True)
class Cell:
    mode: str
    patch: str
    spawn: str
    wait: str

    def __post_init__(self) -> None:
        for name in FACTOR_NAMES:
            value = getattr(self, name)
            if value not in _BY_NAME[name].values:
                raise CellError(
                    f"unknown {name} {value!r}; valid {name} values: "
                    + ", ".join(_BY_NAME[name].values))
        if self.mode == "threading" and self.patch != "unpatched":
            raise CellError("threading mode has no monkey patching: use "
                            "threading-unpatched-...")
        if self.mode == "auto" and self.patch != "unpatched":
            raise CellError("auto mode is SocketIO(app) as it is, with no patching: use "
                            "auto-unpatched-..., or eventlet-patched-/gevent-patched-...")

    @property
    def id(self) -> str:
        return "-".join(getattr(self, name) for name in FACTOR_NAMES)

    @property
    def row(self) -> str:
        """Grid row label: how the server runs."""
        return f"{self.mode}-{self.patch}"

    @property
    def column(self) -> str:
        """Grid column label: how the work is started and waits."""
        return f"{self.spawn}-{self.wait}"

    @property
    def package(self) -> str | None:
        return MODE_PACKAGE[self.mode]

    def __str__(self) -> str:
        return self.id


def parse(cell_id: str) -> Cell:
    """Turn an id such as ``gevent-patched-task-time_sleep`` into a Cell."""
    parts = cell_id.strip().split("-")
    if len(parts) != len(FACTORS):
        raise CellError(
            f"cell id {cell_id!r} has {len(parts)} part(s), expected "
            f"{len(FACTORS)}: {'-'.join('{' + n + '}' for n in FACTOR_NAMES)}; "
            "run 'emitcheck list' for every valid id")
    return Cell(*parts)


def all_cells() -> list[Cell]:
    """Every valid cell, in a stable order (factor order, then value order)."""
    cells = []
    for values in itertools.product(*(f.values for f in FACTORS)):
        try:
            cells.append(Cell(*values))
        except CellError:  # an impossible combination, e.g. patched threading
            continue
    return cells


def select(pattern: str | None) -> list[Cell]:
    """Cells whose id contains ``pattern`` (or matches it as a glob).

    Several patterns may be given separated by commas; a cell matches when it
    matches any of them. An empty or None pattern selects every cell.
    """
    cells = all_cells()
    if not pattern:
        return cells
    wanted = [p.strip() for p in pattern.split(",") if p.strip()]
    chosen = [c for c in cells
              if any(p in c.id or fnmatch.fnmatchcase(c.id, p) for p in wanted)]
    if not chosen:
        raise CellError(f"pattern {pattern!r} matches no cell; "
                        "run 'emitcheck list' for every valid id")
    return chosen


def rows(cells: list[Cell]) -> list[str]:
    return list(dict.fromkeys(c.row for c in cells))


def columns(cells: list[Cell]) -> list[str]:
    return list(dict.fromkeys(c.column for c in cells))
