"""The cell model: factors, their values, and cell ids.

A cell is one combination of factor values. Its id joins the values in factor
order with ``-`` (``eventlet-unpatched-thread-time_sleep``); values never
contain ``-``, so ids parse back without ambiguity. Users cite these ids in bug
reports, so the order of factors and the spelling of values must stay stable.

The first four factors are always in the id. Factors added later are
*suffixes*: they have a default value, which is left out of the id, so the base
ids never change (``...-time_sleep`` is the default transport,
``...-time_sleep-polling`` is long-polling only). Suffix values are unique
across suffix factors, so each suffix part names its factor. A cell varies one
suffix factor at most, so each suffix value is a family with a grid of its own. A new value goes at
the end of its factor's tuple; a new factor goes at the end of ``FACTORS``.
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
    default: str | None = None  # set for suffix factors: the value left out of the id

    @property
    def is_suffix(self) -> bool:
        return self.default is not None


FACTORS: tuple[Factor, ...] = (
    Factor("mode", ("threading", "eventlet", "gevent", "auto"),
           "async_mode passed to SocketIO(app, async_mode=...); auto = SocketIO(app), "
           "which picks the first of eventlet, gevent_uwsgi, gevent, threading installed"),
    Factor("patch", ("unpatched", "patched"),
           "whether the server process monkey patches as its first statement"),
    Factor("spawn", ("thread", "task", "process", "process_manager"),
           "thread = threading.Thread(...).start(); task = socketio.start_background_task(...); "
           "process = another process emits through the message queue with "
           "SocketIO(message_queue=URL) and no app, as a Celery worker does; "
           "process_manager = another process emits with python-socketio's "
           "RedisManager(URL, write_only=True) as its docs show (queue cells only)"),
    Factor("wait", ("time_sleep", "socketio_sleep", "busy", "busy_yield"),
           "how the work waits between two emits: busy = a CPU-bound loop that never "
           "yields; busy_yield = the same loop calling socketio.sleep(0) every 5 ms"),
    Factor("transport", ("default", "polling", "websocket"),
           "how the probe's client connects: default = long-polling upgraded to WebSocket "
           "(python-socketio's default), polling = long-polling only, websocket = WebSocket "
           "only", default="default"),
    Factor("queue", ("none", "redis"),
           "the message queue: none, or redis = SocketIO(app, message_queue=URL) with a "
           "private redis-server, so every emit goes through Redis", default="none"),
    Factor("server", ("run", "gunicorn"),
           "what serves the app: run = socketio.run(app); gunicorn = gunicorn with the "
           "worker class the mode needs (gevent: -k gevent; threading: -k gthread "
           "--threads 4; eventlet: -k eventlet where the installed gunicorn has it)",
           default="run"),
    Factor("client", ("python", "node"),
           "the probe's client: python = python-socketio; node = the official JavaScript "
           "socket.io-client on Node.js, which must reach the same verdicts",
           default="python"),
)
FACTOR_NAMES = tuple(f.name for f in FACTORS)
_BY_NAME = {f.name: f for f in FACTORS}
_REQUIRED = tuple(f for f in FACTORS if not f.is_suffix)
_SUFFIXES = tuple(f for f in FACTORS if f.is_suffix)
_SUFFIX_OF_VALUE = {v: f for f in _SUFFIXES for v in f.values if v != f.default}
#: Where each suffix family comes in the listing: factor order, then value order.
_FAMILY_RANK = {"": 0, **{v: i + 1 for i, v in enumerate(_SUFFIX_OF_VALUE)}}

#: Waits that keep a core busy for the whole life of the server.
CPU_BOUND_WAITS = ("busy", "busy_yield")

#: Spawns that run the work in another process (they need a message queue).
OTHER_PROCESS_SPAWNS = ("process", "process_manager")

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
    transport: str = "default"
    queue: str = "none"
    server: str = "run"
    client: str = "python"

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
        changed = [f.name for f in _SUFFIXES if getattr(self, f.name) != f.default]
        if len(changed) > 1:
            raise CellError("a cell varies one suffix factor at most (one grid per "
                            f"family), not {' and '.join(changed)}")
        if self.wait in CPU_BOUND_WAITS and changed:
            raise CellError(f"{self.wait} cells run with every suffix factor at its default "
                            "(each burns a core; one family of them is enough)")
        if self.spawn in OTHER_PROCESS_SPAWNS and self.queue == "none":
            raise CellError(f"spawn {self.spawn} emits through a message queue: add a queue "
                            "suffix, e.g. ...-time_sleep-redis")
        if self.spawn == "process_manager" and self.wait != "time_sleep":
            raise CellError("process_manager has no socketio.sleep (a bare RedisManager "
                            "is not a server): use process_manager-time_sleep")
        if self.mode == "auto" and self.server != "run":
            raise CellError("auto mode runs with socketio.run only: under gunicorn the "
                            "worker class decides the mode; use threading-, eventlet- "
                            "or gevent-...-gunicorn")
        if self.mode == "auto" and self.patch != "unpatched":
            raise CellError("auto mode is SocketIO(app) as it is, with no patching: use "
                            "auto-unpatched-..., or eventlet-patched-/gevent-patched-...")

    @property
    def id(self) -> str:
        parts = [getattr(self, f.name) for f in _REQUIRED]
        parts += [getattr(self, f.name) for f in _SUFFIXES if getattr(self, f.name) != f.default]
        return "-".join(parts)

    @property
    def row(self) -> str:
        """Grid row label: how the server runs."""
        return f"{self.mode}-{self.patch}"

    @property
    def column(self) -> str:
        """Grid column label: how the work is started and waits."""
        return f"{self.spawn}-{self.wait}"

    @property
    def family(self) -> str:
        """The suffix part of the id ('' for base cells): one grid per family."""
        return "-".join(getattr(self, f.name) for f in _SUFFIXES
                        if getattr(self, f.name) != f.default)

    @property
    def grid(self) -> str:
        """The title of the grid this cell is shown in ('' for the base grid)."""
        if self.cpu_bound:
            return "CPU-bound work"
        if not self.family:
            return ""
        return f"{_SUFFIX_OF_VALUE[self.family].name}: {self.family}"

    @property
    def base(self) -> Cell:
        """The same cell with every suffix factor at its default (a CellError for
        cells that need their suffix, such as spawn process without a queue)."""
        return Cell(*(getattr(self, f.name) for f in _REQUIRED))

    @property
    def cpu_bound(self) -> bool:
        """Does the work keep a core busy (so the runner isolates the cell)?"""
        return self.wait in CPU_BOUND_WAITS

    @property
    def package(self) -> str | None:
        return MODE_PACKAGE[self.mode]

    def __str__(self) -> str:
        return self.id


def parse(cell_id: str) -> Cell:
    """Turn an id such as ``gevent-patched-task-time_sleep-polling`` into a Cell."""
    parts = cell_id.strip().split("-")
    shape = "-".join("{" + f.name + "}" for f in _REQUIRED) + "".join(
        "[-" + f.name + "]" for f in _SUFFIXES)
    if len(parts) < len(_REQUIRED) or len(parts) > len(FACTORS):
        raise CellError(
            f"cell id {cell_id!r} has {len(parts)} part(s), expected {len(_REQUIRED)} "
            f"to {len(FACTORS)}: {shape}; run 'emitcheck list' for every valid id")
    values = dict(zip((f.name for f in _REQUIRED), parts, strict=False))
    for part in parts[len(_REQUIRED):]:
        factor = _SUFFIX_OF_VALUE.get(part)
        if factor is None or factor.name in values:
            valid = ", ".join(v for f in _SUFFIXES for v in f.values if v != f.default)
            raise CellError(f"unknown suffix {part!r} in {cell_id!r}; valid suffixes: "
                            f"{valid} (the default is left out of the id)")
        values[factor.name] = part
    return Cell(**values)


def all_cells() -> list[Cell]:
    """Every valid cell, in a stable order: the base cells (suffixes at their
    defaults) first, then the CPU-bound ones, then each suffix family (polling,
    websocket, redis, gunicorn, node); within, factor and value order."""
    cells = []
    for values in itertools.product(*(f.values for f in FACTORS)):
        try:
            cells.append(Cell(*values))
        except CellError:  # an impossible combination, e.g. patched threading
            continue
    return sorted(cells, key=lambda c: (
        _FAMILY_RANK[c.family], c.cpu_bound,
        *(f.values.index(getattr(c, f.name)) for f in _REQUIRED)))


def base_cells() -> list[Cell]:
    """The 20 base cells: no auto mode, no CPU-bound wait, no suffix."""
    return [c for c in all_cells() if c.mode != "auto" and not c.cpu_bound and not c.family]


def _matches(cell: Cell, pattern: str) -> bool:
    try:
        return parse(pattern) == cell  # a whole cell id names exactly that cell
    except CellError:
        return pattern in cell.id or fnmatch.fnmatchcase(cell.id, pattern)


def select(pattern: str | None) -> list[Cell]:
    """Cells named by ``pattern``: a whole cell id selects exactly that cell;
    anything else selects the cells whose id contains it or matches it as a glob.

    Several patterns may be given separated by commas; a cell is selected when
    any of them selects it. An empty or None pattern selects every cell.
    """
    cells = all_cells()
    if not pattern:
        return cells
    wanted = [p.strip() for p in pattern.split(",") if p.strip()]
    chosen = [c for c in cells if any(_matches(c, p) for p in wanted)]
    if not chosen:
        raise CellError(f"pattern {pattern!r} matches no cell; "
                        "run 'emitcheck list' for every valid id")
    return chosen
