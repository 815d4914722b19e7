"""What a factor value can declare. Every hook has a default that does nothing,
so a family module states only what is special about its values."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    from ..cells import Cell
    from ..expectations import Expectation
    from ..model import Observation, Target, Timing
    from ..process import ManagedProcess
    from ..runs import CellRun

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
    #: Are cells with this value part of our own matrix? (False: the user's app,
    #: which ``emitcheck app`` runs; such cells are in no listing of ours.)
    matrix: bool = True
    #: Must a cell with this value reach the verdict of the same cell with the
    #: factor at its default (a second client, say)? The grid marks it where not.
    second_opinion: bool = False
    #: The title of the grid its cells go to, when not the factor's own
    #: (``"transport: polling"``); the base grid is ``""``.
    grid: str | None = None
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

    def expect(self, cell: Cell, expected: Expect,
               resolved: str | None = None) -> Expectation | None:
        """The verdict we measured for ``cell``, when this value decides it;
        None to leave it to the values beneath (ask ``expected`` about other
        cells: the same cell with this factor at its default, say).
        ``resolved`` is the async mode the server reported, once it ran."""
        return None

    def in_default(self, cell: Cell) -> bool | None:
        """Is ``cell`` in the default matrix? None leaves it to the rule of
        ``cells.default_cells`` (one suffix at most, or a composed family); a
        family whose cells are many says which of them run by default (False
        wins over True)."""
        return None

    def before_server(self, run: CellRun) -> None:
        """Start what the server needs first (a message queue, say)."""

    def after_server(self, run: CellRun) -> None:
        """Start what needs the server (an emitter in another process, say). A
        value that puts something in front of the server (a proxy) sets
        ``run.front`` to it: the client then connects there."""

    def after_window(self, run: CellRun, obs: Observation) -> None:
        """Add what its processes saw to ``obs.facts`` (the server the client
        landed on, say), once the window is over and they are stopped (their
        files are still there)."""


@dataclass(eq=False)
class ServerVariant(Variant):
    """A value of the ``server`` factor: what serves the cell's app."""
    factor: ClassVar[str] = "server"

    def start(self, run: CellRun, directory: Path) -> ManagedProcess:
        """Start the cell's server, its files in ``directory``."""
        raise NotImplementedError


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

    def resolve(self) -> str:
        """The mode ``SocketIO(app)`` runs in, for a value that is not one itself."""
        return self.value
