"""The pytest plugin's entry point: light, so that having emitcheck installed
costs other test suites nothing.

This module imports only pytest, the standard library and ``state`` (the same),
modelled on Hypothesis' pytest plugin, and uses pytest's public API only.
Parametrizing ``emitcheck_cell`` needs ``emitcheck.matrix.cells`` and the
families its registry loads by name (no third-party import); servers, clients
and the grid (``emitcheck.plugins.session``: the runner, rich) are imported only
once a selected test requests ``emitcheck_result``, or an output option
(``--emitcheck-json``, a baseline, ...) is given. See docs/pytest.md.

- ``emitcheck_cell`` is parametrized in ``pytest_generate_tests`` over the cells
  chosen by ``--emitcheck-cells``, the ``emitcheck_cells`` ini option, or an
  ``@pytest.mark.emitcheck_cells(...)`` marker (test id: the cell id).
- Without xdist, every selected cell is submitted once collection is done, so
  their servers run side by side. Under xdist, each worker starts the cells of
  its current and next test, and each cell runs once in the whole session: the
  controller hands every worker one directory (``pytest_configure_node``, in
  ``workerinput``), where a file lock per cell (the ``filelock`` package) says
  which worker runs it, and the others wait for that lock and read the result
  the owner wrote beside it before letting the lock go (details in
  ``emitcheck.plugins.session``). Once the controller's session is
  interrupted, it says so there, and every worker waiting for a cell ends its
  session as interrupted too. The controller removes the directory at the end
  of the run.
- The measured verdict, when not ``delivered``, gives the test pytest's own
  ``xfail`` mark (``raises=AssertionError``, the reason the measured ``why``), so
  ``-rx``, JUnit XML and ``--runxfail`` treat it as any xfail. A verdict other
  than the measured one, or a failure of emitcheck itself, fails the test from
  a ``pytest_runtest_call`` wrapper, once its body ran.
- Each result rides on its test report (``user_properties``); the controller
  (or a run without xdist) gathers them, prints the grid, writes the files and
  compares the baseline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import cast

import pytest

from emitcheck.plugins.state import PROPERTY, RESULT, RUN_INTERRUPTED, SHARED, STATE, State


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("emitcheck")
    group.addoption("--emitcheck-cells", default=None, metavar="PATTERN",
                    help="the cells emitcheck_cell is parametrized over: cell ids, parts of "
                         "ids or globs, comma-separated (as 'emitcheck matrix -k'); "
                         "overrides the emitcheck_cells ini option")
    group.addoption("--emitcheck-jobs", type=int, default=None,
                    help="cells run at once in each pytest process (default: "
                         "emitcheck.running.runner.default_jobs())")
    group.addoption("--emitcheck-json", type=Path, default=None, metavar="FILE",
                    help="write every cell's result as JSON (for 'emitcheck report')")
    group.addoption("--emitcheck-markdown", type=Path, default=None, metavar="FILE",
                    help="write a block to paste into a bug report (as 'matrix --markdown')")
    group.addoption("--emitcheck-html", type=Path, default=None, metavar="FILE",
                    help="write the grids and a timeline per cell as one self-contained HTML "
                         "file (as 'matrix --html')")
    group.addoption("--emitcheck-save-baseline", type=Path, default=None, metavar="FILE",
                    help="write the observed verdicts and the environment to FILE")
    group.addoption("--emitcheck-check-baseline", type=Path, default=None, metavar="FILE",
                    help="compare the verdicts with FILE; any changed cell fails the run")
    parser.addini("emitcheck_cells", default="",
                  help="the cells emitcheck_cell is parametrized over (same syntax as "
                       "--emitcheck-cells); empty: the default matrix")


def _outputs(config: pytest.Config) -> bool:
    option = config.option
    return any(value is not None for value in (
        option.emitcheck_json, option.emitcheck_markdown, option.emitcheck_html,
        option.emitcheck_save_baseline,
        option.emitcheck_check_baseline))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emitcheck: a test that requests emitcheck_result (one emitcheck cell); "
        "added by the emitcheck plugin")
    config.addinivalue_line(
        "markers", "emitcheck_cells(pattern): the cells this test's emitcheck_cell is "
        "parametrized over (cell ids, parts of ids or globs, comma-separated); "
        "--emitcheck-cells narrows them further")
    state = config.stash[STATE] = State()
    jobs = config.option.emitcheck_jobs
    if jobs is not None and jobs < 1:
        raise pytest.UsageError(f"--emitcheck-jobs must be at least 1, not {jobs}")
    pattern, by = config.option.emitcheck_cells, "--emitcheck-cells"
    if pattern is None and config.getini("emitcheck_cells").strip():
        pattern, by = config.getini("emitcheck_cells").strip(), "emitcheck_cells (ini option)"
    if pattern is not None:
        from emitcheck.matrix import cells  # the standard library only

        try:
            state.chosen, state.chosen_by = cells.select(pattern), by
        except cells.CellError as exc:
            raise pytest.UsageError(f"{by}: {exc}") from None
    if not _is_worker(config):  # the controller (or a run without xdist) writes them
        _check_outputs(config)
    config.pluginmanager.register(Hooks(config, state), "emitcheck-hooks")
    if _outputs(config) and not _is_worker(config):
        _session(config)


#: The options that name a file the run writes at its end.
_WRITTEN = ("json", "markdown", "html", "save_baseline")


def _check_outputs(config: pytest.Config) -> None:
    """A file the run cannot write is a usage error now, not once every cell ran."""
    given = [(name, getattr(config.option, f"emitcheck_{name}")) for name in _WRITTEN]
    if all(path is None for _, path in given):
        return
    from emitcheck.outputs.files import cannot_write  # the standard library only

    for name, path in given:
        if path is not None and (problem := cannot_write(Path(path))):
            raise pytest.UsageError(f"--emitcheck-{name.replace('_', '-')}: {problem}")


def _session(config: pytest.Config):
    """The heavy part (runner, report, baseline), imported and created on first use."""
    state = config.stash[STATE]
    if state.session is None:
        from emitcheck.plugins.session import Session

        shared = getattr(config, "workerinput", {}).get(SHARED)
        state.session = Session(config, Path(shared) if shared else None)
    return state.session


def _pattern_of(marker: pytest.Mark) -> str:
    if marker.kwargs or not marker.args or not all(isinstance(a, str) for a in marker.args):
        raise pytest.fail.Exception(
            f"@pytest.mark.emitcheck_cells takes cell patterns as strings, "
            f"not {marker.args!r} {marker.kwargs!r}", pytrace=False)
    return ",".join(marker.args)


def _parametrized_by_hand(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "emitcheck_cell" in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``emitcheck_cell`` over the chosen cells (the test id is the cell id)."""
    if "emitcheck_cell" not in metafunc.fixturenames or _parametrized_by_hand(metafunc):
        return
    from emitcheck.matrix import cells  # the standard library only

    state = metafunc.config.stash[STATE]
    marker = metafunc.definition.get_closest_marker("emitcheck_cells")
    if marker is None:
        chosen = state.chosen if state.chosen is not None else cells.all_cells()
    else:
        pattern = _pattern_of(marker)
        try:
            chosen = cells.select(pattern)
        except cells.CellError as exc:
            raise pytest.fail.Exception(f"@pytest.mark.emitcheck_cells: {exc}",
                                        pytrace=False) from None
        if state.chosen is not None and state.chosen_by == "--emitcheck-cells":
            narrowed = set(state.chosen)
            chosen = [cell for cell in chosen if cell in narrowed]
    metafunc.parametrize("emitcheck_cell", chosen, ids=str, indirect=True)


@pytest.fixture
def emitcheck_cell(request: pytest.FixtureRequest):
    """One cell of the matrix (an ``emitcheck.matrix.cells.Cell``; the test id is its id)."""
    try:
        return request.param
    except AttributeError:
        raise pytest.fail.Exception(
            "emitcheck_cell has no cell: the emitcheck plugin parametrizes it when a test "
            "function requests it (directly or through emitcheck_result)",
            pytrace=False) from None


@pytest.fixture
def emitcheck_result(emitcheck_cell, request: pytest.FixtureRequest):
    """The cell's ``CellResult``: its server ran, the probe watched, the verdict is in.

    A skipped cell skips the test. The measured verdict, when not ``delivered``,
    marks the test xfail (an AssertionError from its body is expected); after
    the body, a verdict other than the one measured fails the test (see
    docs/pytest.md)."""
    return _session(request.config).fixture(emitcheck_cell, request.node)


def _requests_result(item: pytest.Item) -> bool:
    return "emitcheck_result" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _requests_result(item):
            item.add_marker("emitcheck")


class Hooks:
    """The hooks that need this run's state (registered by ``pytest_configure``)."""

    def __init__(self, config: pytest.Config, state: State):
        self.config = config
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        """xdist controller: give every worker the directory where they share cells
        (removed by ``pytest_unconfigure``, once the workers are gone)."""
        if self.state.shared is None:
            from emitcheck.system import warden  # the standard library only

            self.state.shared = Path(tempfile.mkdtemp(prefix="emitcheck-cells-"))
            warden.track(self.state.shared)  # removed by it if this process is killed first
        node.workerinput[SHARED] = str(self.state.shared)

    @pytest.hookimpl(tryfirst=True)  # before the terminal reporter formats the traceback
    def pytest_keyboard_interrupt(self) -> None:
        """xdist controller, its session interrupted (Ctrl-C to it alone, a
        worker's, ``pytest.exit``): tell the workers at once, in the directory
        they share; a worker waiting for a cell ends its session as interrupted
        (``emitcheck.plugins.session``). Left to xdist, a worker is told only
        when the controller tears it down: execnet interrupts it 5 s later and
        kills it 10 s later, however far its own session end has come."""
        if self.state.shared is not None:
            try:
                (self.state.shared / RUN_INTERRUPTED).touch()
            except OSError:  # the directory is gone: no worker is left to tell
                pass

    def pytest_unconfigure(self) -> None:
        if self.state.shared is not None:
            from emitcheck.system import warden

            shutil.rmtree(self.state.shared, ignore_errors=True)
            warden.untrack(self.state.shared)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist, start every selected cell now, so their servers run side by side."""
        if self.config.option.collectonly:
            return
        items = [item for item in session.items if _requests_result(item)]
        if items:
            _session(self.config).collected(items, prefetch_all=not _is_worker(self.config))

    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Under xdist: start this test's cell and the next one's (this worker runs both)."""
        if self.state.session is not None:
            self.state.session.prefetch(
                [i for i in (item, nextitem) if i is not None and _requests_result(i)])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        """After the body of a test that got a result: fail it when the verdict
        is not the measured one, or emitcheck itself failed (``session.judge``).
        A skip, an xfail or an exit from the body is left alone."""
        result = item.stash.get(RESULT, None)
        if result is None:
            return (yield)
        from emitcheck.plugins.session import judge  # loaded already: the fixture gave the result

        body_error: BaseException | None = None
        try:
            outcome = yield
        except pytest.xfail.Exception:  # a pytest.fail.Exception too
            raise
        except (Exception, pytest.fail.Exception) as raised:
            body_error = raised
        # Outside the except clause: a failure judge raises is not shown as raised
        # while handling the body's (its message includes the body's failure).
        judge(item, result, body_error)
        if body_error is not None:
            raise body_error
        return outcome

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather results from reports: this process's, or the xdist workers'."""
        for name, value in report.user_properties:
            if name == PROPERTY:
                data = json.loads(cast(str, value))  # json.dumps made it
                self.state.results.setdefault(data["cell"], data)

    def pytest_sessionstart(self) -> None:
        path = self.config.option.emitcheck_check_baseline
        if path is not None and not _is_worker(self.config):  # a bad file stops the run early
            self.state.baseline = _session(self.config).load_baseline(path)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = self.state
        if state.session is not None:  # also reached on Ctrl-C and on a failed session
            state.session.close()
        if _is_worker(self.config) or not state.results:
            return
        state.comparison = _session(self.config).finish(list(state.results.values()),
                                                        state.baseline)
        if state.comparison is not None and not state.comparison.ok \
                and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if _is_worker(self.config) or not self.state.results:
            return
        _session(self.config).summary(terminalreporter, list(self.state.results.values()),
                                      self.state.comparison)
