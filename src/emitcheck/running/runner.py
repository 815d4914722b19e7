"""Run cells: the cell's processes (``runs.CellRun``), its client, its verdict.

``run_cell`` runs one cell and never raises for a cell's trouble: a missing
stack is a skip, a failure of emitcheck's own machinery (a Node probe that
hangs, a zygote that does not answer, a redis-server that does not start) is
the cell's ``failure``, and the server's misbehaviour is its verdict. A
``CellPool`` runs many side by side, owns their zygotes and their running
cells, and stops them all when it closes (Ctrl-C included).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import pkgutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from emitcheck.clients.python_client import observe
from emitcheck.matrix.cell import Cell
from emitcheck.matrix.expectations import expected
from emitcheck.matrix.remedies import for_cell
from emitcheck.model.results import CellResult, Observation, Timing
from emitcheck.model.verdicts import APP_EXCEPTION, REFUSED_BY, classify
from emitcheck.running.cell_run import CellRun, Interrupted
from emitcheck.running.work import OurWork
from emitcheck.running.zygote import Zygotes
from emitcheck.system import warden
from emitcheck.system.cpu_quota import CpuQuota
from emitcheck.system.environment import mixed_releases, versions

#: A CPU-bound greenlet can keep a patched server from ever listening; that is
#: its verdict (starved), found sooner than the general ready timeout.
ISOLATED_READY_TIMEOUT = 8.0
#: CPU-bound cells run at once when each is held to its share of a core
#: (``cpu_quota``); without a quota, one at a time.
ISOLATED_AT_ONCE = 2
#: Set this environment variable to run CPU-bound cells one at a time, unconfined.
NO_CPU_QUOTA = "EMITCHECK_NO_CPU_QUOTA"


class Limits:
    """How many cells start at once, and the slots isolated cells queue for.

    Starting a server is CPU-bound (it imports the whole stack) while its
    window is mostly waiting: only a few servers start at once, so that the
    windows of cells already running overlap the imports of the next ones. A
    CPU-bound cell keeps a core busy from start to stop unless a CPU quota
    holds it to a share of one: with a quota, ``ISOLATED_AT_ONCE`` run at once;
    without, one at a time, so that the others keep a core.
    """

    def __init__(self, isolated_at_once: int = 1) -> None:
        self.starting = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))
        self.isolated = threading.BoundedSemaphore(isolated_at_once)


def _observe(cell: Cell, timing: Timing, workdir: Path | None, limits: Limits,
             zygotes: Zygotes | None, closing: threading.Event | None,
             live: set[CellRun], work: OurWork | None,
             quota: CpuQuota | None, others_python: str | None) -> Observation:
    """Start the cell's processes (holding a start slot until the server listens),
    watch it, stop them all. When a process other than the web server ran
    ``others_python``, the facts name the releases on both sides."""
    starting = contextlib.nullcontext() if cell.isolated else limits.starting
    # The warden removes the directory if this process is killed before it does.
    with warden.TemporaryDirectory(prefix=f"emitcheck-{cell.id}-", dir=workdir) as tmp, \
            CellRun(cell, timing, Path(tmp), zygotes, closing, work, quota,
                    others_python) as run:
        live.add(run)
        try:
            with starting:
                started = time.perf_counter()
                server = run.start()
                start_s = time.perf_counter() - started
            obs = observe(server, cell, timing, run.companions, window_over=run.stop,
                          work=run.work, front=run.front)
            for value in cell.variants():
                value.after_window(run, obs)
            if run.others_started:
                obs.facts.update(mixed_releases(run.others_python))
        finally:
            live.discard(run)
    obs.phases = {**obs.phases, "ready": round(start_s, 3)}
    return obs


def run_cell(cell: Cell, timing: Timing = Timing(), workdir: Path | None = None, *,
             limits: Limits | None = None, zygotes: Zygotes | None = None,
             closing: threading.Event | None = None,
             live: set[CellRun] | None = None, work: OurWork | None = None,
             quota: CpuQuota | None = None, others_python: str | None = None) -> CellResult:
    """Run one cell and judge it. Without ``zygotes``, its server starts fresh;
    with ``quota``, a CPU-bound server is held to its share of a core once it
    listens. ``work`` is what its server runs (default: our own, server_child.py);
    ``others_python`` the interpreter of its other processes (default: ours)."""
    result = not_run(cell)
    limits = limits or Limits()
    live = set() if live is None else live
    try:
        reason = cell.unavailable()
        if reason:
            result.skipped = reason
            return result
        if cell.isolated:
            with limits.isolated:
                timing = replace(timing, ready_timeout=min(timing.ready_timeout,
                                                           ISOLATED_READY_TIMEOUT))
                obs = _observe(cell, timing, workdir, limits, zygotes, closing, live, work,
                               quota, others_python)
        else:
            obs = _observe(cell, timing, workdir, limits, zygotes, closing, live, work, None,
                           others_python)
    except Interrupted:
        raise
    except Exception as exc:  # our own machinery failed: this cell's result, not the run's end
        result.failure = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return result
    if obs.async_mode and obs.async_mode != cell.mode:  # auto: judged as what it resolved to
        exp = expected(cell, obs.async_mode)
        result.expected, result.why, result.doc = exp.verdict, exp.why, exp.url
    judged = classify(obs)
    result.verdict, result.evidence = judged.verdict, judged.evidence + _facts(cell, obs)
    result.metrics, result.observation = judged.metrics, obs
    if cell.in_matrix and judged.verdict != "delivered":  # an app's cells: user_app's remedies
        result.remedies = for_cell(cell, obs.async_mode)
    return result


def not_run(cell: Cell, skipped: str | None = None) -> CellResult:
    """The result of ``cell`` before it runs (with ``skipped``: one that will not)."""
    exp = expected(cell)
    return CellResult(cell.id, exp.verdict, exp.why, exp.url, versions=versions(),
                      skipped=skipped)


#: Facts the verdict's evidence states itself (a cause), or that are said only
#: when they are a finding (the transport).
_STATED = ("transport", APP_EXCEPTION, REFUSED_BY)


def _facts(cell: Cell, obs: Observation) -> str:
    """The facts a cell's values recorded, for its evidence. The transport the
    client ended on is said only where it stayed on long-polling although it
    may upgrade: that is a finding (a proxy that drops the Upgrade header)."""
    shown = {name: fact for name, fact in obs.facts.items() if name not in _STATED}
    if obs.facts.get("transport") == "polling" and cell.value_of("transport").upgrades:
        shown = {"transport": "stayed on long-polling (never upgraded to WebSocket)", **shown}
    return "".join(f"; {name}: {fact}" for name, fact in shown.items())


def default_jobs() -> int:
    """How many cells run at once. A running cell mostly waits; what costs CPU is
    starting its server, and ``Limits.starting`` bounds that, so this can be generous."""
    return max(4, 16 * (os.cpu_count() or 1))


def longest_first(cells: list[Cell]) -> list[Cell]:
    """Start first the isolated cells (they queue for one slot), then the cells
    expected to hit a timeout (lost, error, starved): they take longest."""
    slow = {"lost": 0, "error": 0, "starved": 1}
    return sorted(cells, key=lambda c: (not c.isolated, slow.get(expected(c).verdict, 2)))


#: What a cell's run imports on first use (its values' hooks, the processes they
#: start, what they read back: the families, the binaries, the server scripts'
#: constants), as packages or modules of emitcheck.
RUN_IMPORTS = ("families", "running", "clients", "system", "model", "matrix",
               "scripts.server_child", "scripts.async_server_child")


@functools.cache
def import_before_threads() -> None:
    """Import ``RUN_IMPORTS`` in this thread, before a pool's threads run cells,
    when pytest rewrites the asserts of our modules as it imports them (it
    marks the whole package of a plugin: this is one). A rewrite is an
    ``ast.parse``, and on CPython 3.11 two threads parsing at once can fail
    with "SystemError: AST constructor recursion depth mismatch" (CPython
    gh-106905, pytest 10763): seen once on a fresh clone, a cell failing that
    way. Elsewhere nothing is done: the CLI keeps its lazy imports."""
    if not any(type(finder).__module__ == "_pytest.assertion.rewrite"
               for finder in sys.meta_path):
        return
    for name in RUN_IMPORTS:
        module = importlib.import_module(f"emitcheck.{name}")
        for found in pkgutil.walk_packages(getattr(module, "__path__", []),
                                           f"{module.__name__}."):
            importlib.import_module(found.name)


class CellPool:
    """Runs cells concurrently; ``submit`` returns a Future of a CellResult.

    It owns everything its cells start: ``close()`` stops the running cells'
    processes and the zygotes, and no cell starts anything afterwards.
    """

    def __init__(self, jobs: int | None = None, timing: Timing = Timing(),
                 workdir: Path | None = None, work: OurWork | None = None,
                 others_python: str | None = None):
        self.timing = timing
        self.work = work
        #: The interpreter of the cells' processes other than the web server.
        self.others_python = others_python
        self.workdir = workdir
        self.quota = None if os.environ.get(NO_CPU_QUOTA) else CpuQuota()
        held = self.quota is not None and self.quota.available()
        self.limits = Limits(ISOLATED_AT_ONCE if held else 1)
        import_before_threads()
        self.zygotes = Zygotes()
        self.closing = threading.Event()
        self.live: set[CellRun] = set()
        self.executor = ThreadPoolExecutor(max_workers=jobs or default_jobs(),
                                           thread_name_prefix="emitcheck-cell")

    def _run(self, cell: Cell) -> CellResult:
        if self.closing.is_set():
            raise Interrupted("the pool is closed")
        return run_cell(cell, self.timing, self.workdir, limits=self.limits,
                        zygotes=self.zygotes, closing=self.closing, live=self.live,
                        work=self.work, quota=self.quota, others_python=self.others_python)

    def submit(self, cell: Cell) -> Future:
        return self.executor.submit(self._run, cell)

    def close(self, interrupt: bool = False) -> None:
        """Wait for the cells (or, with ``interrupt``, stop them now), then stop
        the zygotes. Idempotent."""
        if interrupt:
            self.closing.set()
            for run in list(self.live):
                run.stop()
        self.executor.shutdown(wait=True, cancel_futures=interrupt)
        self.closing.set()
        self.zygotes.stop()

    def __enter__(self) -> CellPool:
        return self

    def __exit__(self, exc_type, *_rest) -> None:
        self.close(interrupt=exc_type is not None)


def _tell(done: Future, on_result: Callable[[CellResult], None]) -> None:
    if not done.cancelled() and done.exception() is None:
        on_result(done.result())


def run_many(cells: list[Cell], jobs: int | None = None, timing: Timing = Timing(),
             work: OurWork | None = None, others_python: str | None = None,
             on_result: Callable[[CellResult], None] | None = None) -> list[CellResult]:
    """Run cells side by side; results in the order of ``cells``. Ctrl-C stops
    every process at once and raises KeyboardInterrupt. ``on_result`` is called
    with each result as its cell ends (in the cell's thread)."""
    with CellPool(jobs, timing, work=work, others_python=others_python) as pool:
        futures = {cell: pool.submit(cell) for cell in longest_first(cells)}
        if on_result is not None:
            for future in futures.values():
                future.add_done_callback(lambda done: _tell(done, on_result))
        return [futures[cell].result() for cell in cells]
