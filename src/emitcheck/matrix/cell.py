"""A cell and the values it is made of: the factors, what a value declares
(``Variant`` and its hooks), the registry of every value, and ``Cell``.

One module, because a cell and its values refer to each other: a cell is
checked by its values (``conflict``), and a value's hooks take the cell.

The registry is modelled on python-engineio's ``async_drivers/``: a family is
a module of ``emitcheck.families``, looked up by name (``MODULES``) on first
use, whose ``VARIANTS`` list declares the values it brings. Nothing here
imports a family; the rest of emitcheck asks this registry and names none.

Adding a family: docs/architecture.md#adding-a-family.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, overload

from emitcheck.model.expectation import Expectation

if TYPE_CHECKING:
    from pathlib import Path

    from emitcheck.model.results import Emit, Observation, Target, Timing
    from emitcheck.system.process import ManagedProcess, ServerFiles

__all__ = ["FACTORS", "Factor", "Variant", "variant", "variants", "mode_value", "MODULES", "Cell",
           "CellError", "AppCellError", "Run", "Work"]


@dataclass(frozen=True)
class Factor:
    """One dimension of the matrix. Suffix factors (with a ``default``) are left
    out of a cell id at their default, so ids made before they existed keep
    their meaning."""
    name: str
    help: str
    default: str | None = None

    @property
    def is_suffix(self) -> bool:
        return self.default is not None


#: The factors, in the order their values appear in a cell id. Never reorder:
#: cell ids are public.
FACTORS: tuple[Factor, ...] = (
    Factor("mode", "the server's async_mode: SocketIO(app, async_mode=...) (auto = SocketIO(app)), "
           "or python-socketio's AsyncServer under ASGI (asgi) or aiohttp"),
    Factor("patch", "whether the server process monkey patches as its first statement"),
    Factor("spawn", "how the background work is started"),
    Factor("wait", "how the work waits between two emits"),
    Factor("transport", "how the probe's client connects", default="default"),
    Factor("queue", "the message queue every emit goes through", default="none"),
    Factor("server", "what serves the app", default="run"),
    Factor("client", "the probe's client", default="python"),
    Factor("pool", "the Celery worker's pool, for work that runs as a Celery task",
           default="none"),
    Factor("proxy", "what stands between the client and the server", default="none"),
    Factor("cluster", "how many server processes serve the app, and how a proxy spreads "
           "clients over them", default="single"),
    Factor("library", "the Socket.IO server library of a sync mode: Flask-SocketIO, or "
           "python-socketio's own Server", default="flask_socketio"),
    Factor("namespace", "the namespace the work emits to: the client's (/), or one no client "
           "is on", default="same"),
)

#: ``expected(cell)``, handed to a value's ``expect`` to ask about another cell.
Expect = Callable[["Cell"], "Expectation"]


@dataclass(eq=False)
class Variant:
    """One value of one factor. Subclass it where a value does something."""
    factor: ClassVar[str] = ""
    value: str = ""
    help: str = ""
    #: The docs section (``page.md#anchor``) that explains cells with this value.
    doc: str | None = None
    #: A Python package the cell's processes import; missing, the cell skips.
    package: str | None = None
    #: May the server of a cell with this value be forked from a zygote (a
    #: process that imported the stack once)? Only when the server script would
    #: import exactly what the zygote did, with nothing patched or started first.
    forkable: bool = True
    #: Can ``emitcheck repro`` write a cell with this value as one Python script?
    reproducible: bool = True
    #: Does the work keep a core busy? Such cells run one at a time.
    isolated: bool = False
    #: What a user changes in their code to get this value (for remedies), or "".
    remedy: str = ""
    #: What undoes this value, when it is a slip in doing what the value that
    #: replaces it does right: said instead of that value's ``remedy`` (an emit
    #: never awaited: "await it", not "start the work as a task", which it is).
    undo: str = ""
    #: Are cells with this value part of our own matrix? (False: the user's app,
    #: which ``emitcheck app`` runs; such cells are in no listing of ours.)
    matrix: bool = True
    #: Must a cell with this value reach the verdict of the same cell with the
    #: factor at its default (a second client, say)? The grid marks it where not.
    second_opinion: bool = False
    #: The title of the grid its cells go to, when not the factor's own
    #: (``"transport: polling"``); the base grid is ``""``.
    grid: str | None = None
    #: The composed families (their suffixes, in id order) that this value takes
    #: into the default matrix beyond one suffix at most: real deployments
    #: that need two suffixes, each measured (docs/matrix.md).
    composed: tuple[tuple[str, ...], ...] = ()
    module: str = ""  # set by the registry: the family module that declares it

    def unavailable(self, cell: Cell) -> str | None:
        """Why ``cell`` cannot run here because of this value (one line), or None."""
        if self.package and importlib.util.find_spec(self.package) is None:
            return f"{self.package} not installed"
        return None

    def conflict(self, cell: Cell) -> str | None:
        """Why this value cannot go with the rest of ``cell`` (one line naming
        the conflict and what would work), or None."""
        return None

    def alone(self, cell: Cell, why: str) -> str | None:
        """The conflict of a suffix value measured with every other suffix factor
        at its default (``why``: the reason), or None when ``cell`` has no other."""
        others = [v for v in cell.suffixes if v != self.value]
        if not others:
            return None
        return (f"{self.value} cells run with every other suffix factor at its default "
                f"({why}): drop -{'-'.join(others)}")

    def expect(self, cell: Cell, expected: Expect,
               resolved: str | None = None) -> Expectation | None:
        """The verdict we measured for ``cell``, when this value decides it;
        None to leave it to the values beneath (ask ``expected`` about other
        cells: the same cell with this factor at its default, say).
        ``resolved`` is the async mode the server reported, once it ran."""
        return None

    def in_default(self, cell: Cell) -> bool | None:
        """Is ``cell`` in the default matrix? None leaves it to the rule of
        ``cells.default_cells`` (one suffix at most, or one of the ``composed``
        families); a family whose cells are many says which of them run by
        default (False wins over True)."""
        return True if self.composed and tuple(cell.suffixes) in self.composed else None

    # The hooks of a cell's run, in the order ``CellRun.start`` calls them (each
    # phase for every value, in factor order, before the next phase): the queue
    # value's ``start_queue``, ``before_server``, the server value's ``start``,
    # ``after_server``, ``front``; once the window is over, ``after_window``.
    # What a phase starts is on ``run`` for the phases after it.

    def before_server(self, run: Run) -> None:
        """Start what the server needs first (a Celery worker, say). The cell's
        message queue is there already: ``run.queue_url``."""

    def after_server(self, run: Run) -> None:
        """Start what needs the server (an emitter in another process, say):
        ``run.server`` listens, or failed to."""

    def front(self, run: Run) -> ManagedProcess | None:
        """Start what the client connects to instead of the server (a proxy), once
        every value's ``after_server`` ran: it is ``run.front`` from then on.
        None: this value puts nothing in front. At most one value of a cell
        does (their ``conflict`` says so)."""
        return None

    def after_window(self, run: Run, obs: Observation) -> None:
        """Add what its processes saw to ``obs.facts`` (the server the client
        landed on, say), once the window is over and they are stopped (their
        files are still there)."""


@dataclass(eq=False)
class ServerVariant(Variant):
    """A value of the ``server`` factor: what serves the cell's app."""
    factor: ClassVar[str] = "server"
    #: Does it monkey patch with the mode's library before it loads the app (as
    #: gunicorn's gevent and eventlet workers do)? Its cells are then patched.
    patches_first: bool = False

    def start(self, run: Run, directory: Path) -> ManagedProcess:
        """Start the cell's server, its files in ``directory``."""
        raise NotImplementedError


@dataclass(eq=False)
class QueueVariant(Variant):
    """A value of the ``queue`` factor: the message queue every emit goes through."""
    factor: ClassVar[str] = "queue"

    def start_queue(self, run: Run) -> str | None:
        """Start the cell's message queue, first of all the cell's processes; its
        URL (``run.queue_url`` from then on: the server, an emitter, a Celery
        worker use it), or None when the cell has no queue."""
        return None


@dataclass(eq=False)
class ClientVariant(Variant):
    """A value of the ``client`` factor: what watches the window."""
    factor: ClassVar[str] = "client"

    def watch(self, obs: Observation, target: Target, timing: Timing,
              window_over: Callable[[], None],
              cadence: Callable[[], list[float]] | None = None,
              triggers: Sequence[Callable] = (),
              in_flight: Callable[[Observation], bool] | None = None) -> None:
        """Connect to ``target``, watch the window, fill ``obs``'s client fields;
        call ``window_over`` once the window is over (before disconnecting, where
        the client can). ``cadence``, ``triggers`` and ``in_flight``: see
        ``probe.watch`` (a client may ignore ``in_flight``)."""
        raise NotImplementedError


@dataclass(eq=False)
class TransportVariant(Variant):
    """A value of the ``transport`` factor: what the client may connect with."""
    factor: ClassVar[str] = "transport"
    #: python-socketio's ``transports`` argument (None: its default).
    transports: list[str] | None = None

    @property
    def upgrades(self) -> bool:
        """Does the client start on long-polling and upgrade to WebSocket when it
        can (python-socketio's default)? Staying on long-polling is then a finding."""
        return self.transports is None


@dataclass(eq=False)
class ModeVariant(Variant):
    """A value of the ``mode`` factor: an async mode of Flask-SocketIO."""
    factor: ClassVar[str] = "mode"
    #: Does it run a hub (eventlet, gevent)? Unpatched, OS threads and blocking
    #: calls then live beside the hub instead of inside it.
    greenlet: bool = False
    #: Does it have a monkey patching of its own (``-patched-`` cells)?
    patchable: bool = False
    #: What ``socketio.run`` imports for this mode beyond the server script's
    #: own imports: a zygote imports these once, before forking servers.
    preload: tuple[str, ...] = ()
    #: gunicorn's options for a worker that serves this mode; None: none does.
    gunicorn_worker: tuple[str, ...] | None = None
    #: Is it an async mode itself? False for a value that ``SocketIO(app)``
    #: resolves to one (``resolve``): its cells are judged as that mode's.
    concrete: bool = True
    #: Other names the server reports for this mode (``socketio.async_mode``):
    #: gevent under uWSGI is Flask-SocketIO's ``gevent_uwsgi``.
    reported_as: tuple[str, ...] = ()
    #: Is it served by an asyncio loop (python-socketio's ``AsyncServer``)? Its
    #: work is a coroutine, or an OS thread that must hand its emits to the loop.
    asyncio: bool = False
    #: The script (``emitcheck.scripts``) that serves our own work in this mode.
    script: str = "server_child"

    def resolve(self, have: Callable[[str], bool] | None = None) -> str:
        """The mode ``SocketIO(app)`` runs in, for a value that is not one itself,
        where ``have(module)`` says what is importable (default: here)."""
        return self.value


class Work(Protocol):
    """What a cell's server runs and what its window watches for: our own work
    (running/work.py's ``OurWork``) or the user's app (apps/user_app.py's
    ``UserApp``). A server value starts it; the client's window asks it."""

    def server_argv(self, cell_id: str, interval: float, files: ServerFiles, port: int,
                    queue_url: str | None) -> list[str]: ...

    def gunicorn_app(self, cell_id: str, interval: float, files: ServerFiles,
                     queue_url: str | None) -> str: ...

    def target(self, url: str, transport: str) -> Target: ...

    def triggers(self) -> Sequence[Callable]: ...

    def cadence(self, files: ServerFiles) -> Callable[[], list[float]] | None: ...

    def emits(self, files: ServerFiles) -> list[Emit]: ...

    def window_opens(self, files: ServerFiles) -> None: ...

    def in_flight(self, files: ServerFiles) -> Callable[[Observation], bool] | None: ...

    def facts(self, files: ServerFiles, stderr: str) -> dict[str, str]: ...

    def settle(self, obs: Observation) -> None: ...


class Forks(Protocol):
    """Zygotes (running/zygote.py): servers forked from a process that imported
    the stack once."""

    def serves(self, cell: Cell) -> bool: ...

    def fork(self, cell: Cell, interval: float, directory: Path,
             queue_url: str | None) -> ManagedProcess: ...


class Run(Protocol):
    """What a value's hooks see of the cell's run (running/cell_run.py's
    ``CellRun`` is the one there is). What the run started is read-only here:
    a hook hands the run what it started by returning it (``start_queue``,
    ``ServerVariant.start``, ``front``) or by ``add``."""

    @property
    def queue_url(self) -> str | None:
        """The message queue's URL (the queue value's ``start_queue``), or None."""

    @property
    def server(self) -> ManagedProcess | None:
        """The server, once it was started (from ``after_server`` on)."""

    @property
    def front(self) -> ManagedProcess | None:
        """What a value put in front of the server (its ``front``), or None."""

    @property
    def companions(self) -> Sequence[ManagedProcess]:
        """Other processes whose logs count as the server's (``add(..., True)``)."""

    @property
    def cell(self) -> Cell: ...

    @property
    def timing(self) -> Timing: ...

    @property
    def directory(self) -> Path: ...

    @property
    def work(self) -> Work: ...

    @property
    def zygotes(self) -> Forks | None: ...

    @property
    def others_python(self) -> str:
        """The interpreter of the cell's processes other than the web server (an
        emitter, a Celery worker, server 2 of two): ``sys.executable`` unless the
        run was given another (``--others-with``, ``--others-python``)."""

    def add(self, process: ManagedProcess, companion: bool = False) -> ManagedProcess: ...

    def wait_first_emit(self, worker: ManagedProcess) -> None: ...



#: The family modules of ``emitcheck.families``, in listing order (each declares
#: ``VARIANTS``).
MODULES = ("threading", "eventlet", "gevent", "auto", "patching", "spawns", "waits", "cpu",
           "transports", "queues", "redis", "emitters", "celery", "asyncio", "libraries",
           "servers", "gunicorn", "uwsgi", "clients", "node", "nginx", "cluster", "workers",
           "namespaces", "app")


@cache
def _registry() -> dict[tuple[str, str], Variant]:
    """Every declared value, by (factor, value): the family modules, imported on
    first use (they import only the standard library at import time)."""
    found: dict[tuple[str, str], Variant] = {}
    for name in MODULES:
        module = importlib.import_module(f"emitcheck.families.{name}")
        for value in module.VARIANTS:
            key = (value.factor, value.value)
            if key in found:
                raise RuntimeError(f"{value.factor} value {value.value!r} is declared twice")
            value.module = name
            found[key] = value
    return found


# The factors whose values share a Variant subclass: their hooks and fields are typed.
@overload
def variant(factor: Literal["mode"], value: str) -> ModeVariant: ...
@overload
def variant(factor: Literal["transport"], value: str) -> TransportVariant: ...
@overload
def variant(factor: Literal["queue"], value: str) -> QueueVariant: ...
@overload
def variant(factor: Literal["server"], value: str) -> ServerVariant: ...
@overload
def variant(factor: Literal["client"], value: str) -> ClientVariant: ...
@overload
def variant(factor: str, value: str) -> Variant: ...
def variant(factor: str, value: str) -> Variant:
    """The declaration of one factor value (KeyError when there is none)."""
    return _registry()[(factor, value)]


@overload
def variants(factor: Literal["mode"]) -> list[ModeVariant]: ...
@overload
def variants(factor: str) -> list[Variant]: ...
def variants(factor: str) -> list[Any]:  # list is invariant: the overloads say what it holds
    """Every value of a factor, in declaration order."""
    return [v for (f, _), v in _registry().items() if f == factor]


def mode_value(async_mode: str) -> str:
    """The mode value for an async mode a server reported (``gevent_uwsgi`` is
    gevent's), or ``async_mode`` itself when no mode value reports it so."""
    for mode in variants("mode"):
        if async_mode in mode.reported_as:
            return mode.value
    return async_mode


FACTOR_NAMES = tuple(f.name for f in FACTORS)
INDEX = {name: i for i, name in enumerate(FACTOR_NAMES)}
REQUIRED = tuple(f for f in FACTORS if not f.is_suffix)
SUFFIXES = tuple(f for f in FACTORS if f.is_suffix)
#: (index in a cell's values, default) of each suffix factor: read on every id.
_SUFFIX_DEFAULTS = tuple((INDEX[f.name], f.default) for f in SUFFIXES)
SHAPE = "-".join("{" + f.name + "}" for f in REQUIRED) + "".join(
    "[-" + f.name + "]" for f in SUFFIXES)


@cache
def values(factor: str) -> tuple[str, ...]:
    return tuple(v.value for v in variants(factor))


@cache
def suffix_factors() -> dict[str, str]:
    """Suffix value -> its factor (suffix values are unique across suffix factors)."""
    found = {v: f.name for f in SUFFIXES for v in values(f.name) if v != f.default}
    if len(found) != sum(len(values(f.name)) - 1 for f in SUFFIXES):
        raise RuntimeError("a suffix value is declared by two suffix factors")
    return found


class CellError(ValueError):
    """Bad input naming a cell or a factor value; the message lists what is valid."""


class AppCellError(CellError):
    """A valid cell id of a user's app given where our matrix's cells are wanted."""


class Cell:
    """One combination of factor values; ``cell.mode``, ``cell.transport``, ... read
    them. Immutable and hashable; ``str(cell)`` is its id."""

    __slots__ = ("_values",)
    _values: tuple[str, ...]

    def __init__(self, *args: str, **named: str):
        if len(args) > len(FACTORS):
            raise CellError(f"a cell has {len(FACTORS)} factors, not {len(args)}")
        given = dict(zip(FACTOR_NAMES, args, strict=False))
        for name, named_value in named.items():
            if name not in INDEX:
                raise CellError(f"unknown factor {name!r}; factors: {', '.join(FACTOR_NAMES)}")
            given[name] = named_value
        for factor in FACTORS:
            value = given.get(factor.name, factor.default)
            if value is None:
                raise CellError(f"no {factor.name} given; a cell id is {SHAPE}")
            if value not in values(factor.name):
                raise CellError(f"unknown {factor.name} {value!r}; valid {factor.name} "
                                f"values: {', '.join(values(factor.name))}")
            given[factor.name] = value
        object.__setattr__(self, "_values", tuple(given[n] for n in FACTOR_NAMES))
        for declared in self.variants():
            reason = declared.conflict(self)
            if reason:
                raise CellError(reason)

    def __getattr__(self, name: str) -> str:
        try:
            return self._values[INDEX[name]]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("cells are immutable: use cell.replace(...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other._values == self._values

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Cell({self.id!r})"

    def __str__(self) -> str:
        return self.id

    def __reduce__(self):
        return (Cell, self._values)

    def replace(self, **changes: str) -> Cell:
        """The same cell with some factors changed (a CellError if that is invalid)."""
        return Cell(**{**dict(zip(FACTOR_NAMES, self._values, strict=True)), **changes})

    def variants(self) -> list[Variant]:
        """The declaration of each of its values, in factor order."""
        return [variant(name, value) for name, value in zip(FACTOR_NAMES, self._values,
                                                            strict=True)]

    @overload
    def value_of(self, factor: Literal["mode"]) -> ModeVariant: ...
    @overload
    def value_of(self, factor: Literal["transport"]) -> TransportVariant: ...
    @overload
    def value_of(self, factor: Literal["queue"]) -> QueueVariant: ...
    @overload
    def value_of(self, factor: Literal["server"]) -> ServerVariant: ...
    @overload
    def value_of(self, factor: Literal["client"]) -> ClientVariant: ...
    @overload
    def value_of(self, factor: str) -> Variant: ...
    def value_of(self, factor: str) -> Variant:
        return variant(factor, self._values[INDEX[factor]])

    @property
    def suffixes(self) -> list[str]:
        """Its suffix values that are not at their default, in factor order."""
        values = self._values
        return [values[i] for i, default in _SUFFIX_DEFAULTS if values[i] != default]

    @property
    def id(self) -> str:
        return "-".join([*self._values[:len(REQUIRED)], *self.suffixes])

    @property
    def row(self) -> str:
        """Grid row label: how the server runs."""
        return f"{self.mode}-{self.patch}"

    @property
    def column(self) -> str:
        """Grid column label: how the work is started and waits; in a grid a
        value names (``Variant.grid``: one grid for a family whose cells have
        different suffixes), the suffixes too."""
        own = f"{self.spawn}-{self.wait}"
        if any(value.grid for value in self.variants()):
            return "-".join([own, *self.suffixes])
        return own

    @property
    def family(self) -> str:
        """The suffix part of the id ('' for base cells): one grid per family."""
        return "-".join(self.suffixes)

    @property
    def grid(self) -> str:
        """The title of the grid this cell is shown in ('' for the base grid)."""
        for value in self.variants():
            if value.grid:
                return value.grid
        return ", ".join(f"{suffix_factors()[v]}: {v}" for v in self.suffixes)

    @property
    def base(self) -> Cell:
        """The same cell with every suffix factor at its default (a CellError for
        cells that need a suffix, such as spawn process without a queue)."""
        return Cell(*(getattr(self, f.name) for f in REQUIRED))

    @property
    def isolated(self) -> bool:
        """Does the work keep a core busy (so the runner runs it alone)?"""
        return any(v.isolated for v in self.variants())

    @property
    def forkable(self) -> bool:
        """May its server be forked from a zygote (every value allows it)?"""
        return all(v.forkable for v in self.variants())

    @property
    def in_matrix(self) -> bool:
        """Is it a cell of our own matrix (not of a user's app)?"""
        return all(v.matrix for v in self.variants())

    @property
    def reproducible(self) -> bool:
        """Can ``emitcheck repro`` write it as one script?"""
        return all(v.reproducible for v in self.variants())

    def unavailable(self) -> str | None:
        """Why it cannot run here (a missing stack, binary or package), or None."""
        for value in self.variants():
            reason = value.unavailable(self)
            if reason:
                return reason
        return None
