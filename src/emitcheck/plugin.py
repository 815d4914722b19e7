"""The pytest plugin: one test per cell, run concurrently, and the grid at the end.

- ``emitcheck_cell`` is parametrized over every cell, with the cell id as the
  test id, so ``pytest -k eventlet`` selects cells and JUnit XML names them.
- Once collection is done, every selected cell is submitted to a pool, so the
  servers of all cells run side by side; ``emitcheck_result`` waits for its own.
- Cells whose expected verdict is not ``delivered`` are marked strict xfail
  that only accepts ``NotDelivered``; ``assert_delivered`` raises
  ``UnexpectedVerdict`` (a plain failure) when the verdict is not the expected
  one, so a cell that is ``lost`` where ``starved`` was measured fails.
- Each result is put on the test report (``user_properties``, so it survives
  xdist), and ``pytest_terminal_summary`` prints the grid.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import pytest

from . import baseline, cells, environment, report, server
from .expectations import expected
from .runner import CellPool, CellResult, default_jobs, longest_first

SESSION = pytest.StashKey["EmitcheckSession"]()
PROPERTY = "emitcheck"


class NotDelivered(AssertionError):
    """The cell's events were not delivered (the verdict we expected, for xfail cells)."""


class UnexpectedVerdict(AssertionError):
    """The cell failed, but not in the way we measured before."""


def assert_delivered(result: CellResult) -> None:
    if result.verdict == "delivered":
        return
    message = f"{result.cell.id}: {result.verdict}: {result.evidence}"
    if result.observation is not None and result.observation.log_tail:
        message += "\n--- server stderr (tail) ---\n" + result.observation.log_tail
    if result.verdict != result.expected:
        raise UnexpectedVerdict(f"expected {result.expected}, got {message}")
    raise NotDelivered(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("emitcheck")
    group.addoption("--emitcheck-jobs", type=int, default=None,
                    help=f"cells run at once (default {default_jobs()})")
    group.addoption("--emitcheck-json", type=Path, default=None, metavar="FILE",
                    help="write every cell's result as JSON (for 'emitcheck report')")
    group.addoption("--emitcheck-markdown", type=Path, default=None, metavar="FILE",
                    help="write a block to paste into a bug report (as 'matrix --markdown')")
    group.addoption("--emitcheck-save-baseline", type=Path, default=None, metavar="FILE",
                    help="write the observed verdicts and the environment to FILE")
    group.addoption("--emitcheck-check-baseline", type=Path, default=None, metavar="FILE",
                    help="compare the verdicts with FILE; any changed cell fails the run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emitcheck: a test of one emitcheck cell")
    config.stash[SESSION] = EmitcheckSession(config)
    config.pluginmanager.register(config.stash[SESSION], "emitcheck-session")


@pytest.fixture(params=cells.all_cells(), ids=str)
def emitcheck_cell(request: pytest.FixtureRequest) -> cells.Cell:
    """One cell of the matrix (the test id is the cell id)."""
    return request.param


@pytest.fixture
def emitcheck_result(emitcheck_cell: cells.Cell, request: pytest.FixtureRequest) -> CellResult:
    """The cell's result: its server ran, the probe watched, the verdict is in."""
    result: CellResult = request.config.stash[SESSION].result(emitcheck_cell)
    data = result.to_json()
    del data["observation"]
    # One JSON property for the grid, and two plain ones that CI pages show as-is.
    request.node.user_properties += [
        (PROPERTY, json.dumps(data)),
        ("emitcheck_verdict", f"{result.verdict or 'skipped'} (expected {result.expected})"),
        ("emitcheck_evidence", result.evidence or result.skipped or ""),
    ]
    if result.skipped:
        pytest.skip(result.skipped)
    return result


def _cell_of(item: pytest.Item) -> cells.Cell | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("emitcheck_cell") if callspec else None


class EmitcheckSession:
    """The pool of running cells and the results seen on reports, for one session."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.pool: CellPool | None = None
        self.futures: dict[cells.Cell, Future] = {}
        self.results: dict[str, dict] = {}
        self.baseline: dict | None = None
        self.comparison: baseline.Comparison | None = None

    def submit(self, cell: cells.Cell) -> Future:
        if self.pool is None:
            self.pool = CellPool(self.config.option.emitcheck_jobs)
        if cell not in self.futures:
            self.futures[cell] = self.pool.submit(cell)
        return self.futures[cell]

    def result(self, cell: cells.Cell) -> CellResult:
        return self.submit(cell).result()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            cell = _cell_of(item)
            if cell is None or "emitcheck_result" not in item.fixturenames:
                continue
            item.add_marker("emitcheck")
            exp = expected(cell.id)
            if exp.verdict != "delivered":
                item.add_marker(pytest.mark.xfail(
                    strict=True, raises=NotDelivered, reason=f"{exp.verdict}: {exp.why}"))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Start every selected cell now, so that their servers run side by side."""
        if self.config.option.collectonly:
            return
        selected = list(dict.fromkeys(c for c in map(_cell_of, session.items) if c))
        for cell in longest_first(selected):
            self.submit(cell)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                data = json.loads(value)
                self.results.setdefault(data["cell"], data)

    def pytest_sessionstart(self) -> None:
        path = self.config.option.emitcheck_check_baseline
        if path is not None:  # a bad file stops the run before any server starts
            try:
                self.baseline = baseline.load(path)
            except baseline.BaselineError as exc:
                raise pytest.UsageError(str(exc)) from None

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.pool is not None:  # also reached on Ctrl-C and on a failed session
            server.stop_all(refuse_new=True)
            self.pool.close()
        if not self.results:
            return
        results = list(self.results.values())
        option, env = self.config.option, environment.environment()
        if option.emitcheck_json is not None:
            _write(option.emitcheck_json, json.dumps(results, indent=1))
        if option.emitcheck_markdown is not None:
            _write(option.emitcheck_markdown, report.markdown(results, env))
        if option.emitcheck_save_baseline is not None:
            baseline.save(option.emitcheck_save_baseline, results, env)
        if self.baseline is not None:
            self.comparison = baseline.compare(self.baseline, results, env)
            if not self.comparison.ok and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.results:
            return
        terminalreporter.section("emitcheck matrix")
        writer = terminalreporter._tw
        grid = report.grid(list(self.results.values()), "")
        terminalreporter.write(report.render(grid, color=writer.hasmarkup,
                                             width=max(132, writer.fullwidth)))
        if self.comparison is not None:
            path = self.config.option.emitcheck_check_baseline
            terminalreporter.section(f"emitcheck baseline {path}")
            for line in self.comparison.warnings:
                terminalreporter.line(f"warning: {line}", yellow=True)
            for line in self.comparison.changed:
                terminalreporter.line(line, red=True)
            for line in self.comparison.notes:
                terminalreporter.line(f"note: {line}")
            terminalreporter.line("no cell changed" if self.comparison.ok
                                  else f"{len(self.comparison.changed)} cell(s) changed")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
