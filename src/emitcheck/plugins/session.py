"""The heavy half of the pytest plugin (``matrix.py`` imports it on first use):
running cells for a pytest process, sharing them between xdist workers, judging
a test's outcome from its cell's verdict, and the grid, files and baseline at
the end of the run.

Sharing under xdist, so that each cell runs once in the session: the
controller gives every worker one directory (``workerinput``), and each cell
has a file lock there (``filelock.FileLock`` on ``<cell id>.lock``: an
``flock``, which the system releases when its process ends, however it ends).

- A worker that needs a cell tries its lock without waiting. If it gets it and
  ``<cell id>.json`` is not there yet, the cell is its own: it writes its pid
  to ``<cell id>.pid`` (for messages only), runs the cell, writes the result
  to ``<cell id>.json`` (``CellResult.to_json()``, replaced atomically) and only
  then lets the lock go.
- Any other worker waits for that lock (bounded) and then reads the file. A
  lock it gets with no file beside it means the owner ended without writing
  one (its process ended, so the system let its lock go): the test fails
  naming the file.

Ctrl-C is pytest's: nothing here catches KeyboardInterrupt, so the session ends
as interrupted and ``close()`` stops every cell still running. A cell stopped
that way has no result and is no failure: its worker writes ``{"interrupted":
...}`` instead, and a worker waiting for it ends its session as interrupted too
(as xdist ends the whole run once one worker is).

A SIGINT to the xdist controller alone (``kill -INT``) reaches no worker: the
controller leaves ``RUN_INTERRUPTED`` in the shared directory (``matrix.py``),
and a worker looks for it while it waits for a cell (every ``POLL`` seconds)
and before a test takes its result, and then ends its session as interrupted.
Without it a worker would go on until xdist's teardown, whose execnet sends it
SIGINT only 5 s later (which may then land in any hook, ``pytest_sessionfinish``
included) and SIGKILL 10 s later.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from concurrent.futures import wait as wait_for_futures
from functools import partial
from pathlib import Path
from typing import NoReturn

import pytest
from filelock import FileLock, Timeout

from emitcheck.matrix import baselines
from emitcheck.matrix.cell import Cell, CellError
from emitcheck.matrix.cells import parse
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import CellResult, results_document
from emitcheck.outputs import grid
from emitcheck.plugins.state import PROPERTY, RESULT, RUN_INTERRUPTED, STATE
from emitcheck.running.cell_run import Interrupted
from emitcheck.running.runner import CellPool, longest_first
from emitcheck.system import environment

#: The longest a test waits for its cell's result. Every step of a cell is bounded
#: (emitcheck.model.results.Timing), so this is only reached when emitcheck itself hangs
#: or when very many cells queue for the one slot of CPU-bound cells.
RESULT_TIMEOUT = 600.0
#: The key of a shared file whose cell was stopped by its worker's interruption.
INTERRUPTED = "interrupted"
#: How often an xdist worker waiting for a cell looks whether the run was interrupted.
POLL = 0.1


def cell_of(item: pytest.Item) -> Cell | None:
    """The cell an item is parametrized with (None when it has none or a bad id;
    the fixture then says what is wrong)."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("emitcheck_cell") if callspec else None
    if isinstance(value, str):
        try:
            return parse(value)
        except CellError:
            return None
    return value if isinstance(value, Cell) else None


def interrupted(reason: str) -> NoReturn:
    """End the session as Ctrl-C does (pytest's exit status 2, "Interrupted"),
    saying why."""
    pytest.exit(reason, returncode=pytest.ExitCode.INTERRUPTED)


def _done_within(future: Future, seconds: float) -> bool:
    return not wait_for_futures([future], timeout=seconds).not_done


def _free_within(lock: FileLock, seconds: float) -> bool:
    """Is the lock free (taken and let go) within ``seconds``?"""
    try:
        lock.acquire(timeout=seconds)
    except Timeout:
        return False
    lock.release()
    return True


def _failed(cell: Cell, reason: str) -> CellResult:
    """A result saying that emitcheck's own machinery failed for the cell."""
    exp = expected(cell)
    return CellResult(cell.id, exp.verdict, exp.why, exp.url, failure=reason)


class Session:
    """The cells of one pytest process: its pool, and under xdist the directory
    it shares with the other workers."""

    def __init__(self, config: pytest.Config, shared: Path | None):
        self.config = config
        self.shared = shared if shared is not None and shared.is_dir() else None
        self.pool: CellPool | None = None
        self.futures: dict[Cell, Future] = {}   # cells this process runs
        self.elsewhere: set[Cell] = set()       # cells another worker runs
        self.locks: dict[Cell, FileLock] = {}   # xdist: the locks of cells running here

    # -- running cells -------------------------------------------------------

    def _submit(self, cell: Cell) -> Future:
        if self.pool is None:
            self.pool = CellPool(self.config.option.emitcheck_jobs)
        return self.pool.submit(cell)

    def start(self, cell: Cell) -> None:
        """Make sure the cell runs, once: here, or (under xdist) in the worker
        that claimed it first."""
        if cell in self.futures or cell in self.elsewhere:
            return
        if self.shared is None:
            self.futures[cell] = self._submit(cell)
            return
        if not self._claim(cell):
            self.elsewhere.add(cell)
            return
        try:
            future = self._submit(cell)
        except BaseException:
            self.locks.pop(cell).release()
            raise
        future.add_done_callback(partial(self._publish, cell))
        self.futures[cell] = future

    def collected(self, items: list[pytest.Item], prefetch_all: bool) -> None:
        """Collection is done: without xdist, start every selected cell (the
        longest first); an xdist worker starts them as its tests come."""
        if prefetch_all:
            wanted = dict.fromkeys(c for c in map(cell_of, items) if c is not None)
            for cell in longest_first(list(wanted)):
                self.start(cell)

    def prefetch(self, items: list[pytest.Item]) -> None:
        if self._run_interrupted():  # its test ends the session (``result``)
            return
        for item in items:
            cell = cell_of(item)
            if cell is not None:
                self.start(cell)

    def result(self, cell: Cell) -> CellResult:
        """The cell's result, waiting for it (bounded). Ctrl-C while waiting for
        it (KeyboardInterrupt) goes on to pytest, which ends the session as
        interrupted."""
        self._stop_if_run_interrupted()
        self.start(cell)
        if cell not in self.futures:
            return self._shared_result(cell)
        future = self.futures[cell]
        if not self._waited(partial(_done_within, future), RESULT_TIMEOUT):
            return _failed(cell, f"no result within {RESULT_TIMEOUT:g} s (emitcheck's own "
                                 "wait for the cell; each of its steps is bounded)")
        return self._outcome(cell, future)

    def _waited(self, ready: Callable[[float], bool], timeout: float) -> bool:
        """Wait until ``ready(seconds)``, which waits at most that long, says that
        what it waits for is there: True, or False after ``timeout``. Under
        xdist, in steps of ``POLL``, before each of which the session ends as
        interrupted if the controller's was (``RUN_INTERRUPTED``)."""
        if self.shared is None:
            return ready(timeout)
        deadline = time.monotonic() + timeout
        while True:
            self._stop_if_run_interrupted()
            left = deadline - time.monotonic()
            if ready(max(0.0, min(POLL, left))):
                return True
            if left <= POLL:
                return False

    def _run_interrupted(self) -> bool:
        """Under xdist: was the controller's session interrupted?"""
        return self.shared is not None and (self.shared / RUN_INTERRUPTED).exists()

    def _stop_if_run_interrupted(self) -> None:
        if self._run_interrupted():
            interrupted("the pytest-xdist controller's session was interrupted "
                        "(Ctrl-C or SIGINT to it alone, or pytest.exit)")

    def _outcome(self, cell: Cell, future: Future) -> CellResult:
        """The result of a cell whose future is done. A cell that did not run
        because the pool was closed under it ends the session as interrupted:
        that is no failure of emitcheck in that cell."""
        try:
            return future.result(timeout=0)
        except (CancelledError, Interrupted):
            interrupted(f"{cell.id} was stopped: the session is ending")
        except Exception as exc:  # our own machinery raised outside run_cell's care
            return _failed(cell, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])

    # -- sharing between xdist workers ----------------------------------------

    def _path(self, cell: Cell, suffix: str) -> Path:
        assert self.shared is not None  # only under xdist
        return self.shared / f"{cell.id}.{suffix}"

    def _lock(self, cell: Cell) -> FileLock:
        # Not thread-local: the pool's thread that finishes the cell releases it.
        return FileLock(self._path(cell, "lock"), thread_local=False)

    def _claim(self, cell: Cell) -> bool:
        """Take the cell's lock without waiting: is the cell this worker's to run?
        Not when another worker holds it, nor when one ran it already."""
        lock = self._lock(cell)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        if self._path(cell, "json").exists():
            lock.release()
            return False
        self._path(cell, "pid").write_text(str(os.getpid()))
        self.locks[cell] = lock
        return True

    def _publish(self, cell: Cell, future: Future) -> None:
        """Write a finished cell's result for the other workers, then let its lock
        go (a done callback). A cell stopped by the end of this worker's session
        (Ctrl-C, ``-x``) has none: the file says so, and a worker that waits for
        it stops as interrupted too."""
        try:
            if future.cancelled() or isinstance(future.exception(), Interrupted):
                data = {INTERRUPTED: f"{cell.id} was stopped: the session of the pytest-xdist "
                                     f"worker running it (pid {os.getpid()}) ended (Ctrl-C, -x)"}
            else:
                data = self._outcome(cell, future).to_json()
            part = self._path(cell, f"json.{os.getpid()}.part")
            part.write_text(json.dumps(data))
            os.replace(part, self._path(cell, "json"))
        finally:
            lock = self.locks.pop(cell, None)
            if lock is not None:
                lock.release()

    def _owner(self, cell: Cell) -> str:
        try:
            return f"pid {int(self._path(cell, 'pid').read_text())}"
        except (OSError, ValueError):  # not written yet
            return "pid unknown"

    def _shared_result(self, cell: Cell) -> CellResult:
        """The result another worker ran the cell for: its owner writes the file
        before it lets the lock go, so once the lock is free the file is there,
        unless the owner ended without writing it."""
        path = self._path(cell, "json")
        if not path.exists():
            if not self._waited(partial(_free_within, self._lock(cell)), RESULT_TIMEOUT):
                return _failed(cell, f"waited {RESULT_TIMEOUT:g} s for the pytest-xdist "
                                     f"worker running it ({self._owner(cell)}) to write {path}")
            if not path.exists():
                return _failed(cell, f"the pytest-xdist worker that ran it ({self._owner(cell)}) "
                                     f"ended without writing {path}")
        data = json.loads(path.read_text())
        if INTERRUPTED in data:
            interrupted(data[INTERRUPTED])
        return CellResult.from_json(data, str(path))

    # -- one test ---------------------------------------------------------------

    def fixture(self, cell: Cell | str, node: pytest.Item) -> CellResult:
        """What ``emitcheck_result`` returns: the result, put on the test report."""
        if isinstance(cell, str):  # parametrized by hand with ids
            try:
                cell = parse(cell)
            except CellError as exc:
                raise pytest.fail.Exception(str(exc), pytrace=False) from None
        result = self.result(cell)
        data = result.to_json()
        data["observation"] = None  # kept out of reports (large), not out of the schema
        # One JSON property for the grid, and two plain ones that CI pages show as-is.
        node.user_properties += [
            (PROPERTY, json.dumps(data)),
            ("emitcheck_verdict", f"{result.verdict or 'skipped'} (expected {result.expected})"),
            ("emitcheck_evidence", result.evidence or result.skipped or result.failure or ""),
        ]
        node.stash[RESULT] = result
        if result.skipped:
            pytest.skip(result.skipped)
        if result.failure is None and result.verdict == result.expected != "delivered":
            # pytest's own xfail: -rx and JUnit show the reason, --runxfail turns it
            # off, and only an AssertionError is expected (any other error fails).
            node.add_marker(pytest.mark.xfail(
                reason=f"{result.cell} is {result.verdict}, as measured: {result.why}",
                raises=AssertionError, strict=False))
        return result

    def close(self) -> None:
        """Stop every cell still running, at once (the session is over)."""
        if self.pool is not None:
            self.pool.close(interrupt=True)

    # -- the end of the run -----------------------------------------------------

    def observed(self, results: list[CellResult]) -> list[CellResult]:
        """The results with their observations, which test reports leave out:
        from the cells this process ran, or (under xdist) from the files the
        workers shared."""
        ran = {cell.id: (cell, future) for cell, future in self.futures.items()}
        shared = self.config.stash[STATE].shared  # the xdist controller's directory
        for result in results:
            if result.observation is not None:
                continue
            if result.cell in ran:
                cell, future = ran[result.cell]
                if future.done():
                    result.observation = self._outcome(cell, future).observation
            elif shared is not None and (file := shared / f"{result.cell}.json").exists():
                result.observation = CellResult.from_json(json.loads(file.read_text()),
                                                          str(file)).observation
        return results

    def _write_html(self, path: Path, results: list[CellResult], env: dict) -> None:
        from emitcheck.outputs import html

        try:
            html.write(path, results, {"this pytest run": env})
        except html.ReportError as exc:  # checked at the start; a full disk, say
            self.config.get_terminal_writer().line(f"emitcheck: {exc}", red=True)

    def load_baseline(self, path: Path) -> dict:
        try:
            return baselines.load(path)
        except baselines.BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None

    def finish(self, reported: list[dict], recorded: dict | None) -> baselines.Comparison | None:
        """Write the files asked for; compare with the baseline when one was given.
        ``reported``: the results the test reports carried (their JSON form)."""
        option, env = self.config.option, environment.environment()
        results = _read(reported)
        if option.emitcheck_json is not None or option.emitcheck_html is not None:
            results = self.observed(results)
        if option.emitcheck_json is not None:
            _write(option.emitcheck_json,
                   json.dumps(results_document(results, env), indent=1))
        if option.emitcheck_markdown is not None:
            _write(option.emitcheck_markdown, grid.markdown(results, env))
        if option.emitcheck_html is not None:
            self._write_html(option.emitcheck_html, results, env)
        if option.emitcheck_save_baseline is not None:
            baselines.save(option.emitcheck_save_baseline, results, env)
        if recorded is None:
            return None
        return baselines.compare(recorded, results, env)

    def summary(self, terminalreporter, reported: list[dict],
                comparison: baselines.Comparison | None) -> None:
        terminalreporter.section("emitcheck matrix")
        writer = self.config.get_terminal_writer()
        shown = grid.grid(_read(reported), "")
        terminalreporter.write(grid.render(shown, color=writer.hasmarkup,
                                             width=max(132, writer.fullwidth)))
        if comparison is None:
            return
        path = self.config.option.emitcheck_check_baseline
        terminalreporter.section(f"emitcheck baseline {path}")
        for line in comparison.warnings:
            terminalreporter.line(f"warning: {line}", yellow=True)
        for line in comparison.changed:
            terminalreporter.line(line, red=True)
        for line in comparison.notes:
            terminalreporter.line(f"note: {line}")
        terminalreporter.line("no cell changed" if comparison.ok
                              else f"{len(comparison.changed)} cell(s) changed")


def judge(item: pytest.Item, result: CellResult, body_error: BaseException | None) -> None:
    """Fail the test when its cell's verdict says so, after its body ran (with
    ``body_error``, what the body raised, if anything):

    - emitcheck's own machinery failed: the test fails with that reason;
    - a verdict other than the one measured for the cell: the test fails,
      naming both, even when its body passed.

    Otherwise the body's outcome stands; for the measured verdict, when it is not
    ``delivered``, that includes the xfail mark ``fixture`` gave the test.
    """
    if result.failure:
        pytest.fail(f"emitcheck itself failed to run {result.cell}: {result.failure}",
                    pytrace=False)
    if result.verdict is None or result.verdict == result.expected:
        return
    message = (f"{result.cell}: observed {result.verdict}, expected {result.expected} "
               f"(the verdict measured for this cell: {result.why})\n"
               f"evidence: {result.evidence}\nsee {result.doc}")
    if result.observation is not None and result.observation.log_tail:
        message += "\n--- server stderr (tail) ---\n" + result.observation.log_tail
    if body_error is not None:
        failure = item.repr_failure(pytest.ExceptionInfo.from_exception(body_error))
        message += f"\n\nthe test body failed too:\n{failure}"
    pytest.fail(message, pytrace=False)


def _read(reported: list[dict]) -> list[CellResult]:
    """The results test reports carried (``CellResult.to_json()``, without the
    observation), read once at the plugin's edge."""
    return [CellResult.from_json(data, f"the test report of {data['cell']}")
            for data in reported]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
