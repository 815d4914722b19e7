"""Fixtures for YOUR project's CI: serve your app in a mode, observe an event.

A pytest plugin of its own (entry point ``emitcheck-app``). Importing it costs
only pytest: emitcheck's servers and clients load when a fixture is used.

- ``emitcheck_serve(TARGET, mode="threading-unpatched", server="run", path=".")``
  serves ``MODULE:ATTR`` as a cell of ``emitcheck app`` does (patching first when
  ``-patched``, every emit logged, loopback, a free port, bounded start) and
  returns a ``Served`` with its ``url``. Every app it served is stopped when
  the test ends, however it ends (the test or the start of an app raised, or
  stopping another app did); each cell's files are in a directory of
  ``tmp_path_factory``, kept as pytest keeps its temporary directories.
  ``MODULE:ATTR`` is any app ``emitcheck app`` takes: a Flask-SocketIO app or a
  ``socketio.Server`` in a sync row (``threading-unpatched``, ``gevent-patched``,
  ...), an ASGI app (FastAPI) in ``asgi-unpatched``, an aiohttp app in
  ``aiohttp-unpatched``, any of them in ``auto-unpatched`` (its own mode); a
  row that cannot serve the app fails its start, naming the rows that can.
- ``served.observe(event, ...)`` watches one window and returns the result
  (``.verdict``, ``.evidence``, ``.remedies``); the app's emit log tells ``lost``
  from ``silent``.
- ``emitcheck_observe(url, event, ...)`` does the same for any URL (no emit
  log: see docs/probe.md for what that cannot tell).
- ``emitcheck_mode`` is parametrized over the modes to test: the
  ``emitcheck_modes`` marker, else the ``emitcheck_modes`` ini option, else
  ``auto-unpatched`` (your app as it is).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DEFAULT_MODES = ("auto-unpatched",)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("emitcheck_modes", type="linelist", default=list(DEFAULT_MODES),
                  help="mode-patch rows emitcheck_mode runs each test in (e.g. "
                       "threading-unpatched gevent-patched)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emitcheck_modes(*rows): run the test once per "
                                       "mode-patch row (e.g. 'gevent-patched')")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "emitcheck_mode" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("emitcheck_modes")
    rows = list(marker.args) if marker else metafunc.config.getini("emitcheck_modes")
    metafunc.parametrize("emitcheck_mode", rows, ids=str)


@pytest.fixture
def emitcheck_mode(request: pytest.FixtureRequest) -> str:
    """A mode-patch row (``gevent-patched``): parametrized by marker or ini option."""
    return request.param


@dataclass
class Served:
    """Your app, served in one cell; ``observe`` watches it."""
    url: str
    cell: str
    spec: Any
    run: Any
    results: list = field(default_factory=list)

    def observe(self, event: str, namespace: str = "/", triggers=("connect",),
                ack: str | None = None, every: float | None = None, timeout: float = 30.0,
                auth: dict | None = None, headers: dict | None = None,
                query: dict | None = None):
        """One window on the served app; the result has .verdict, .evidence, .remedies.
        ``auth``, ``headers`` and ``query`` are what the client connects with."""
        from dataclasses import replace

        from emitcheck.apps.user_app import UserApp
        from emitcheck.model.results import Timing

        spec = replace(self.spec, event=event, namespace=namespace,
                       triggers=tuple(triggers), ack=ack,
                       credentials=_credentials(auth, headers, query))
        return _judge(self.cell, self.run.server, UserApp(spec),
                      Timing(timeout=timeout, every=every))


def _credentials(auth: dict | None, headers: dict | None, query: dict | None):
    """The fixtures' keyword arguments as model.Credentials."""
    from emitcheck.model.results import Credentials

    return Credentials(auth, tuple((headers or {}).items()), tuple((query or {}).items()))


def _judge(cell_id: str, server, work, timing):
    from emitcheck.apps.user_app import DOC, what_to_change
    from emitcheck.clients.python_client import observe
    from emitcheck.matrix.cells import parse
    from emitcheck.model.results import CellResult
    from emitcheck.model.verdicts import classify

    obs = observe(server, parse(cell_id), timing, work=work)
    judged = classify(obs)
    return CellResult(cell_id, "delivered", "a working app delivers its events", DOC,
                      judged.verdict, judged.evidence, metrics=judged.metrics,
                      observation=obs,
                      remedies=what_to_change(work.spec, cell_id, obs, judged.verdict))


@pytest.fixture
def emitcheck_serve(tmp_path_factory: pytest.TempPathFactory):
    """``emitcheck_serve(TARGET, mode=..., server=..., path=...)`` -> ``Served``."""
    from emitcheck.apps.user_app import AppError, AppSpec, UserApp
    from emitcheck.matrix.cell import Cell
    from emitcheck.model.results import Timing
    from emitcheck.running.cell_run import CellRun

    runs = ExitStack()  # stops every run, last first, even when stopping one raises

    def serve(target: str, mode: str = "threading-unpatched", server: str = "run",
              path: str | Path = ".", setup: str | None = None,
              env: dict | None = None) -> Served:
        """``setup``: ``MODULE:FUNCTION`` called once the app is loaded (what its
        main() sets up); ``env``: set in the app's process environment."""
        row_mode, _, patch = mode.partition("-")
        cell = Cell(row_mode, patch or "unpatched", "app", "own", server=server)
        spec = AppSpec(target, "", str(path), triggers=(), setup=setup,
                       env=tuple((env or {}).items()))
        # Entered before starting: a start that raises is stopped too.
        run = runs.enter_context(CellRun(cell, Timing(), tmp_path_factory.mktemp(f"{cell.id}-"),
                                         work=UserApp(spec)))
        started = run.start()  # waits (bounded) until it listens, or says why not
        if not started.listening:
            log = started.files.stderr.read_text(errors="replace").strip()[-2000:]
            raise AppError(f"{target} in {cell.id} did not start: {started.not_ready}\n{log}")
        return Served(f"http://127.0.0.1:{started.port}", cell.id, spec, run)

    with runs:
        yield serve


@pytest.fixture
def emitcheck_observe():
    """``emitcheck_observe(url, event, ...)``: one window on any Socket.IO server."""
    from emitcheck.apps.user_app import SOCKETIO_GET
    from emitcheck.clients.python_client import watch
    from emitcheck.model.results import CellResult, Observation, Target, Timing
    from emitcheck.model.verdicts import classify

    def observe(url: str, event: str, namespace: str = "/", ack: str | None = None,
                every: float | None = None, timeout: float = 30.0,
                transport: str = "default", auth: dict | None = None,
                headers: dict | None = None, query: dict | None = None) -> CellResult:
        timing = Timing(timeout=timeout, every=every)
        obs = Observation(cell=url, interval=timing.interval, emits_logged=False)
        watch(obs, Target(url.rstrip("/"), transport, event, ack, SOCKETIO_GET, namespace,
                          _credentials(auth, headers, query)), timing)
        judged = classify(obs)
        return CellResult(url, "delivered", "a working server delivers its events", "",
                          judged.verdict, judged.evidence, metrics=judged.metrics,
                          observation=obs)

    return observe
