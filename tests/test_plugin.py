"""The pytest plugin, from the outside: pytest runs inside pytest (pytester).

Runs that start cells go through a conftest (``counting``) that wraps
``emitcheck.running.runner.run_cell``: every cell started is a line in a log file (from
any process, xdist workers included), and chosen cells can be given a made-up
result (a failure of emitcheck's machinery, a skip, another verdict) without a
server. Runs that only collect use the in-process ``runpytest``; runs that
start cells or check imports use a fresh interpreter (``runpytest_subprocess``).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

from emitcheck.matrix import cells
from emitcheck.matrix.expectations import expected

from .helpers import share_the_cache_folder

DELIVERED = ("threading-unpatched-thread-time_sleep", "threading-unpatched-task-time_sleep")
ONE = DELIVERED[0]
#: Bounds every pytest run inside a test (each starts a few cells at most).
RUN_TIMEOUT = 150


@pytest.fixture(autouse=True)
def _one_cache_folder(monkeypatch):
    """Autouse: set up before pytester, whose HOME it must not read."""
    share_the_cache_folder(monkeypatch)


NATURAL = """
def test_natural(emitcheck_result):
    assert emitcheck_result.verdict == "delivered"
"""


def failing_cell() -> str:
    """A cell whose measured verdict is not delivered and that can run here."""
    reasons = []
    for cell_id in ("gevent-unpatched-task-time_sleep", "eventlet-unpatched-thread-time_sleep"):
        reason = cells.parse(cell_id).unavailable()
        if reason is None:
            assert expected(cell_id).verdict != "delivered"
            return cell_id
        reasons.append(reason)
    pytest.skip("needs a cell that fails as measured, which needs eventlet or gevent: "
                + "; ".join(reasons))


def counting(pytester: pytest.Pytester, fake: dict | None = None,
             expect: dict | None = None) -> Path:
    """Write the conftest that logs every cell started (returns the log's path).
    ``fake``: cell id -> CellResult fields returned instead of running the cell;
    ``expect``: cell id -> the verdict the run should believe was measured."""
    log = pytester.path / "started.log"
    pytester.makeconftest(textwrap.dedent("""
        import os
        from dataclasses import replace

        import emitcheck.running.runner as runner
        from emitcheck.matrix import expectations
        from emitcheck.model.results import CellResult

        LOG, FAKE, EXPECT = {log!r}, {fake!r}, {expect!r}
        for cell_id, verdict in EXPECT.items():
            expectations.EXPECTED[cell_id] = replace(expectations.EXPECTED[cell_id],
                                                     verdict=verdict)
        _real = runner.run_cell


        def _counting(cell, *args, **kwargs):
            with open(LOG, "a") as log:
                log.write(cell.id + "\\n")
            if cell.id in FAKE:
                exp = expectations.expected(cell)
                return CellResult(cell.id, exp.verdict, exp.why, exp.url, **FAKE[cell.id])
            return _real(cell, *args, **kwargs)


        runner.run_cell = _counting
        """).format(log=str(log), fake=fake or {}, expect=expect or {}))
    return log


def started(log: Path) -> list[str]:
    return sorted(log.read_text().split()) if log.exists() else []


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=RUN_TIMEOUT)


def collected_ids(result: pytest.RunResult) -> list[str]:
    return [m.group(1) for line in result.outlines
            if (m := re.match(r"\S+::test_\w+\[(.+)\]$", line))]


def output(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines + result.errlines)


# -- 1. loading lazily ---------------------------------------------------------

SPY = """
import atexit
import json
import sys

EMITCHECK_ALREADY = "emitcheck.plugins.matrix" in sys.modules
START = atexit._ncallbacks()
REGISTERED = []
_register = atexit.register


def _spying(func, *args, **kwargs):
    REGISTERED.append(getattr(func, "__module__", None) or repr(func))
    return _register(func, *args, **kwargs)


atexit.register = _spying


def pytest_unconfigure(config):
    plugin = config.pluginmanager.get_plugin("emitcheck")
    with open({out!r}, "w") as out:
        json.dump({{"modules": sorted(sys.modules), "registered": REGISTERED,
                   "added": atexit._ncallbacks() - START, "already": EMITCHECK_ALREADY,
                   "plugin": getattr(plugin, "__name__", None)}}, out)
"""

HEAVY = ("socketio", "engineio", "flask", "flask_socketio", "psutil", "rich", "eventlet",
         "gevent")


#: What the two entry points (our matrix, and the fixtures for your app) load:
#: pytest loads both.
PLUGINS = {"emitcheck", "emitcheck.plugins", "emitcheck.plugins.matrix",
           "emitcheck.plugins.state", "emitcheck.plugins.app_fixtures"}
#: The rooms parametrizing ``emitcheck_cell`` reads: the cells, the families that
#: declare their values (loaded by name) and the model those declare, and the
#: cache folder that keeps the cells between runs (matrix/listing.py). Not the
#: plugin's session, nor anything that runs a cell.
CELL_ROOMS = ("emitcheck.matrix", "emitcheck.families", "emitcheck.model",
              "emitcheck.system.cache")


@pytest.mark.parametrize("tests, args, cells_read", [
    ("def test_unrelated():\n    assert True\n", (), False),
    ("def test_cell(emitcheck_cell):\n    assert emitcheck_cell\n",
     ("--emitcheck-cells", ONE), True),
], ids=["unrelated-run", "emitcheck_cell-only"])
def test_a_run_without_emitcheck_result_imports_nothing_heavy_and_registers_no_exit_handler(
        pytester, tests, args, cells_read):
    """``-p spy`` loads before the entry points: it sees what the plugin imports
    and every atexit.register from then on."""
    out = pytester.path / "spy.json"
    pytester.makepyfile(spy=SPY.format(out=str(out)), test_it=tests)
    result = run(pytester, "-p", "spy", *args)
    result.assert_outcomes(passed=1)
    seen = json.loads(out.read_text())
    assert seen["plugin"] == "emitcheck.plugins.matrix" and not seen["already"]
    heavy = sorted(m for m in seen["modules"] if m.split(".")[0] in HEAVY)
    assert heavy == []
    ours = {m for m in seen["modules"] if m.split(".")[0] == "emitcheck"}
    assert PLUGINS <= ours
    assert sorted(m for m in ours - PLUGINS - {"emitcheck.system"}
                  if not m.startswith(CELL_ROOMS)) == []
    assert ("emitcheck.matrix.cells" in ours) == cells_read
    assert [m for m in seen["registered"] if "emitcheck" in str(m)] == []
    assert seen["added"] == len(seen["registered"])


def module_level_imports(module: str) -> list[str]:
    """What loading ``module`` imports (its module-level import statements), and
    what loading the emitcheck modules among those imports, recursively."""
    tree = ast.parse(Path(importlib.import_module(module).__file__).read_text())
    top = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            top += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: a relative import ({node.module})"
            top.append(node.module or "")
    return [name for imported in top for name in
            ([imported] + (module_level_imports(imported) if imported.startswith("emitcheck.")
                           else []))]


@pytest.mark.parametrize("module", ["emitcheck.plugins.matrix", "emitcheck.plugins.app_fixtures"])
def test_the_entry_point_module_imports_only_pytest_and_the_standard_library(module):
    top = module_level_imports(module)
    assert top, "no imports found: the check would prove nothing"
    assert [name for name in top if name.split(".")[0] not in
            {"pytest", "__future__", "emitcheck", *sys.stdlib_module_names}] == []
    assert {name for name in top if name.startswith("emitcheck")} <= PLUGINS


# -- 2. only emitcheck_result starts cells ---------------------------------------

def test_only_tests_that_request_emitcheck_result_start_cells(pytester):
    log = counting(pytester)
    pytester.makepyfile(NATURAL + """
def test_cell_only(emitcheck_cell):
    assert emitcheck_cell.mode == "threading"
""")
    pattern = ("--emitcheck-cells", ",".join(DELIVERED))

    collect = run(pytester, "--collect-only", "-q", *pattern)
    assert collect.ret == 0 and len(collected_ids(collect)) == 4
    assert started(log) == []

    cell_only = run(pytester, "-k", "cell_only", *pattern)
    cell_only.assert_outcomes(passed=2, deselected=2)
    assert started(log) == []
    assert "emitcheck matrix" not in output(cell_only)  # no result, no grid

    natural = run(pytester, "-k", "natural", *pattern)  # the control: the log counts
    natural.assert_outcomes(passed=2, deselected=2)
    assert started(log) == sorted(DELIVERED)


# -- 3. xdist: each cell once, one grid -------------------------------------------

@pytest.mark.parametrize("dist", ["load", "each"])
def test_under_xdist_each_cell_runs_once_and_the_controller_prints_one_grid(pytester, dist):
    """Two test functions request the same cells; with ``--dist each`` both
    workers run every test, so each cell is requested by both workers."""
    log = counting(pytester)
    pytester.makepyfile(NATURAL + """
def test_again(emitcheck_result):
    assert emitcheck_result.matches
""")
    json_file = pytester.path / "results.json"
    result = run(pytester, "-n", "2", "--dist", dist, "--emitcheck-cells", ",".join(DELIVERED),
                 f"--emitcheck-json={json_file}")
    result.assert_outcomes(passed=4 if dist == "load" else 8)
    assert started(log) == sorted(DELIVERED)
    assert output(result).count("emitcheck matrix") == 1
    written = json.loads(json_file.read_text())["results"]
    assert sorted(r["cell"] for r in written) == sorted(DELIVERED)


# -- 4. the natural assert -----------------------------------------------------------

def test_the_natural_assert_passes_for_a_delivered_cell_with_the_result_on_the_report(
        pytester):
    counting(pytester)
    pytester.makepyfile(NATURAL)
    result = run(pytester, "--emitcheck-cells", ONE, "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    assert "emitcheck matrix" in output(result)
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="emitcheck_verdict" value="delivered (expected delivered)"' in xml


def test_the_natural_assert_is_an_xfail_for_a_cell_that_fails_as_measured(pytester):
    cell = failing_cell()
    counting(pytester)
    pytester.makepyfile(NATURAL)
    result = run(pytester, "--emitcheck-cells", cell, "-rx")
    result.assert_outcomes(xfailed=1)
    assert f"{cell} is {expected(cell).verdict}, as measured" in output(result)


#: A cell measured 'lost' that is observed lost (made up: no server runs).
LOST_AS_MEASURED = {"fake": {ONE: {"verdict": "lost", "evidence": "0 of 20 arrived"}},
                    "expect": {ONE: "lost"}}


def test_only_an_assertion_error_makes_a_measured_failure_an_xfail(pytester):
    """An AssertionError is an xfail, any other error stays a failure, and a body
    that passes is an XPASS (pytest's non-strict xfail: the run passes)."""
    counting(pytester, **LOST_AS_MEASURED)
    pytester.makepyfile(NATURAL + """
def test_other_error(emitcheck_result):
    raise RuntimeError("the test itself is broken")


def test_body_passes(emitcheck_result):
    pass
""")
    result = run(pytester, "--emitcheck-cells", ONE)
    result.assert_outcomes(xfailed=1, failed=1, xpassed=1)
    result.stdout.fnmatch_lines(["FAILED *test_other_error*"])
    assert "RuntimeError: the test itself is broken" in output(result)


def test_a_measured_failure_is_pytests_own_xfail_for_rx_junit_and_runxfail(pytester):
    """``-rx`` and JUnit XML give the reason (the measured why); ``--runxfail``
    makes it the plain failure of the test's assertion."""
    import xml.etree.ElementTree as ET

    counting(pytester, **LOST_AS_MEASURED)
    pytester.makepyfile(NATURAL)
    reason = f"{ONE} is lost, as measured: {expected(ONE).why}"
    xfailed = run(pytester, "--emitcheck-cells", ONE, "-rx", "-vv",  # -vv: lines not cut
                  "--junitxml=out.xml")
    xfailed.assert_outcomes(xfailed=1)
    assert [line for line in xfailed.outlines if line.startswith("XFAIL ")] \
        == [f"XFAIL test_a_measured_failure_is_pytests_own_xfail_for_rx_junit_and_runxfail.py"
            f"::test_natural[{ONE}] - {reason}"]
    [skipped] = ET.parse(pytester.path / "out.xml").iter("skipped")
    assert skipped.attrib == {"type": "pytest.xfail", "message": reason}
    failed = run(pytester, "--emitcheck-cells", ONE, "--runxfail")
    failed.assert_outcomes(failed=1)
    assert "AssertionError" in output(failed) and reason not in output(failed)


def test_a_verdict_other_than_the_measured_one_fails_naming_both_even_if_the_body_passed(
        pytester):
    """The run believes 'lost' was measured for a threading cell, which is delivered."""
    log = counting(pytester, expect={ONE: "lost"})
    pytester.makepyfile(NATURAL + """
def test_body_passes(emitcheck_result):
    pass
""")
    # -rN: no short summary, whose lines CI=true keeps whole: one report per test
    result = run(pytester, "--emitcheck-cells", ONE, "-rN")
    result.assert_outcomes(failed=2)
    assert output(result).count(f"{ONE}: observed delivered, expected lost") == 2
    assert started(log) == [ONE]


def test_a_cell_not_delivered_where_delivered_was_measured_fails_not_xfails(pytester):
    counting(pytester, fake={ONE: {"verdict": "lost", "evidence": "0 of 20 arrived"}})
    pytester.makepyfile(NATURAL)
    result = run(pytester, "--emitcheck-cells", ONE)
    result.assert_outcomes(failed=1)
    assert f"{ONE}: observed lost, expected delivered" in output(result)
    assert "the test body failed too" in output(result)
    assert "During handling of the above exception" not in output(result)  # said once


def test_a_failure_of_emitcheck_itself_fails_the_test_with_its_reason(pytester):
    reason = "ZygoteError: the threading zygote did not answer within 20 s"
    counting(pytester, fake={ONE: {"failure": reason}})
    pytester.makepyfile(NATURAL)
    result = run(pytester, "--emitcheck-cells", ONE)
    result.assert_outcomes(failed=1)
    assert f"emitcheck itself failed to run {ONE}: {reason}" in output(result)


def test_a_skipped_cell_skips_the_test_with_its_reason(pytester):
    counting(pytester, fake={ONE: {"skipped": "redis-server not found on PATH"}})
    pytester.makepyfile(NATURAL)
    result = run(pytester, "--emitcheck-cells", ONE, "-rs")
    result.assert_outcomes(skipped=1)
    assert "redis-server not found on PATH" in output(result)


# -- 5. choosing cells ------------------------------------------------------------------

CELL_ONLY = "def test_cell(emitcheck_cell):\n    pass\n"


def ids_of(pattern: str) -> list[str]:
    return [c.id for c in cells.select(pattern)]


def test_the_default_is_the_whole_matrix_with_cell_ids_as_test_ids(pytester):
    pytester.makepyfile(CELL_ONLY)
    result = pytester.runpytest("--collect-only", "-q")
    assert collected_ids(result) == [c.id for c in cells.all_cells()]


def test_the_command_line_option_chooses_cells(pytester):
    pytester.makepyfile(CELL_ONLY)
    result = pytester.runpytest("--collect-only", "-q", "--emitcheck-cells",
                                "threading-unpatched-task,*-patched-thread-busy")
    assert collected_ids(result) == ids_of("threading-unpatched-task,*-patched-thread-busy")
    assert 0 < len(collected_ids(result)) < len(cells.all_cells())


def test_the_ini_option_chooses_cells_and_the_command_line_wins(pytester):
    pytester.makeini("[pytest]\nemitcheck_cells = threading-unpatched-task\n")
    pytester.makepyfile(CELL_ONLY)
    from_ini = pytester.runpytest("--collect-only", "-q")
    assert collected_ids(from_ini) == ids_of("threading-unpatched-task")
    from_cli = pytester.runpytest("--collect-only", "-q", "--emitcheck-cells", ONE)
    assert collected_ids(from_cli) == [ONE]


def test_the_marker_chooses_a_tests_cells_and_the_command_line_narrows_them(pytester):
    pytester.makeini("[pytest]\nemitcheck_cells = gevent\n")  # not for marked tests
    pytester.makepyfile("""
import pytest

@pytest.mark.emitcheck_cells("threading-unpatched,gevent-patched-task")
def test_marked(emitcheck_cell):
    pass
""")
    marked = pytester.runpytest("--collect-only", "-q", "--strict-markers")
    assert collected_ids(marked) == ids_of("threading-unpatched,gevent-patched-task")
    narrowed = pytester.runpytest("--collect-only", "-q", "--emitcheck-cells", "gevent")
    assert collected_ids(narrowed) == ids_of("gevent-patched-task")


def test_emitcheck_cell_parametrized_by_hand_is_left_alone(pytester):
    pytester.makepyfile(f"""
import pytest

@pytest.mark.parametrize("emitcheck_cell", [{ONE!r}])
def test_cell(emitcheck_cell):
    pass
""")
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == 0 and collected_ids(result) == [ONE]


@pytest.mark.parametrize("where", ["command line", "ini"])
@pytest.mark.parametrize("pattern, says", [("trio", "matches no cell"),
                                           (" , ", "empty cell pattern")])
def test_a_bad_pattern_is_a_usage_error_in_one_line(pytester, where, pattern, says):
    pytester.makepyfile(CELL_ONLY)
    if where == "ini":
        pytester.makeini(f"[pytest]\nemitcheck_cells = {pattern}\n")
        result = pytester.runpytest("--collect-only")
        prefix = "emitcheck_cells (ini option): "
    else:
        result = pytester.runpytest("--collect-only", "--emitcheck-cells", pattern)
        prefix = "--emitcheck-cells: "
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = [line for line in result.errlines if says in line]
    assert len(message) == 1 and prefix in message[0]
    assert "Traceback" not in output(result)


def test_a_bad_marker_pattern_is_a_collection_error_naming_it(pytester):
    pytester.makepyfile("""
import pytest

@pytest.mark.emitcheck_cells("trio")
def test_marked(emitcheck_cell):
    pass
""")
    result = pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "@pytest.mark.emitcheck_cells: pattern 'trio' matches no cell" in output(result)
    assert "Traceback" not in output(result)


def test_the_markers_are_registered_and_emitcheck_marks_the_tests_of_results(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.emitcheck: *", "@pytest.mark.emitcheck_cells(*"])
    pytester.makepyfile(NATURAL + CELL_ONLY)
    marked = pytester.runpytest("--collect-only", "-q", "-m", "emitcheck", "--strict-markers",
                                "--emitcheck-cells", ONE)
    assert [line for line in marked.outlines if "::" in line] \
        == [f"test_the_markers_are_registered_and_emitcheck_marks_the_tests_of_results.py"
            f"::test_natural[{ONE}]"]


# -- 6. files and baselines, as tox runs them -------------------------------------------

def test_json_and_baselines_work_as_tox_runs_them(pytester):
    log = counting(pytester)
    pytester.makepyfile(NATURAL)
    saved, results = pytester.path / "base.json", pytester.path / "out" / "results.json"
    first = run(pytester, "--emitcheck-cells", ONE, f"--emitcheck-json={results}",
                f"--emitcheck-save-baseline={saved}")
    first.assert_outcomes(passed=1)
    from emitcheck.model.results import read_results  # what `emitcheck report` (tox's grid) reads

    assert [r.cell for r in read_results(results)] == [ONE]
    assert [(r["cell"], r["verdict"]) for r in json.loads(results.read_text())["results"]] \
        == [(ONE, "delivered")]
    recorded = json.loads(saved.read_text())
    assert recorded["verdicts"] == {ONE: "delivered"}

    recorded["verdicts"][ONE] = "lost"  # a baseline this run will not match
    changed = pytester.path / "changed.json"
    changed.write_text(json.dumps(recorded))
    second = run(pytester, "--emitcheck-cells", ONE, f"--emitcheck-check-baseline={changed}")
    second.assert_outcomes(passed=1)
    assert second.ret == pytest.ExitCode.TESTS_FAILED
    assert f"{ONE}: lost -> delivered" in output(second)
    assert "1 cell(s) changed" in output(second)
    assert started(log) == [ONE, ONE]


def test_a_bad_baseline_file_stops_the_run_before_any_cell_starts(pytester):
    log = counting(pytester)
    pytester.makepyfile(NATURAL)
    result = run(pytester, "--emitcheck-cells", ONE,
                 f"--emitcheck-check-baseline={pytester.path / 'missing.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "missing.json does not exist" in output(result)
    assert started(log) == []


# -- xdist sharing: one owner per cell, bounded waits that say what they waited for ------

def worker(shared: Path | None):
    """The emitcheck session of an xdist worker that shares cells in ``shared``
    (None: a pytest process without xdist)."""
    from types import SimpleNamespace

    from emitcheck.plugins.session import Session

    option = SimpleNamespace(emitcheck_jobs=None, emitcheck_html=None)
    return Session(SimpleNamespace(option=option), shared)


#: Another worker, in a process of its own, that claims ONE and never finishes it.
CLAIMING = f"""
import sys, time
from pathlib import Path
from types import SimpleNamespace

from emitcheck.matrix.cells import parse
from emitcheck.plugins.session import Session

option = SimpleNamespace(emitcheck_jobs=None, emitcheck_html=None)
session = Session(SimpleNamespace(option=option), Path(sys.argv[1]))  # holds the lock
assert session._claim(parse({ONE!r}))
print("claimed", flush=True)
time.sleep(60)
"""


def test_a_cell_claimed_by_one_worker_is_not_claimed_by_another(tmp_path):
    cell = cells.parse(ONE)
    owner, other = worker(tmp_path), worker(tmp_path)
    assert owner._claim(cell)
    assert not other._claim(cell)  # the same process: the lock is the file's, not ours
    owner.locks.pop(cell).release()  # what a finished cell does, once its file is written
    (tmp_path / f"{ONE}.json").write_text("{}")
    assert not other._claim(cell)  # free, but its result is there already


def test_a_worker_stops_waiting_when_the_owner_of_a_cell_is_gone(tmp_path):
    """The owner's process ends without writing the result: the system lets its
    lock go, and the worker waiting for it fails the test naming the file."""
    import subprocess

    owner = subprocess.Popen([sys.executable, "-c", CLAIMING, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline() == "claimed\n"
        waiting = worker(tmp_path)
        waiting.start(cells.parse(ONE))
        assert cells.parse(ONE) in waiting.elsewhere  # the owner holds it: not run here
    finally:
        owner.kill()
        owner.wait(timeout=30)
    result = waiting.result(cells.parse(ONE))
    assert result.failure == (f"the pytest-xdist worker that ran it (pid {owner.pid}) "
                              f"ended without writing {tmp_path / (ONE + '.json')}")
    assert waiting.pool is None  # it never ran the cell itself


def test_a_worker_waits_for_a_live_owner_bounded_and_names_what_it_waited_for(
        tmp_path, monkeypatch):
    from emitcheck.plugins import session as plugin_session

    monkeypatch.setattr(plugin_session, "RESULT_TIMEOUT", 0.3)
    owner = worker(tmp_path)  # this process: alive, never writes
    assert owner._claim(cells.parse(ONE))
    live = worker(tmp_path)
    result = live.result(cells.parse(ONE))
    assert result.failure == (f"waited 0.3 s for the pytest-xdist worker running it "
                              f"(pid {os.getpid()}) to write {tmp_path / (ONE + '.json')}")
    assert live.pool is None  # it never ran the cell itself


# -- Ctrl-C is pytest's (issue 20; a whole run: tests/test_plugin_interrupt.py) ----------

def test_ctrl_c_while_a_test_waits_for_its_cell_goes_on_to_pytest():
    """KeyboardInterrupt while waiting for the result reaches pytest, which ends
    the session as interrupted: it is not the cell's "emitcheck itself failed"."""
    from concurrent.futures import Future

    session = worker(None)
    waiting: Future = Future()
    waiting.set_exception(KeyboardInterrupt())  # what future.result() raises on Ctrl-C
    session.futures[cells.parse(ONE)] = waiting
    with pytest.raises(KeyboardInterrupt):
        session.result(cells.parse(ONE))


@pytest.mark.parametrize("how", ["cancelled", "interrupted"])
def test_a_cell_stopped_by_the_end_of_a_workers_session_stops_the_worker_waiting_for_it(
        tmp_path, how):
    """Under xdist the worker that ran the cell was interrupted (its pool cancelled
    the cell, or stopped it running): the worker waiting for it ends its session
    as interrupted, rather than failing the test as emitcheck's own failure."""
    from concurrent.futures import Future

    from emitcheck.running.cell_run import Interrupted

    stopped: Future = Future()
    if how == "cancelled":
        stopped.cancel()
    else:
        stopped.set_exception(Interrupted("the pool is closed"))
    owner = worker(tmp_path)
    assert owner._claim(cells.parse(ONE))
    owner._publish(cells.parse(ONE), stopped)
    assert owner.locks == {}  # published, then let go
    with pytest.raises(pytest.exit.Exception) as ended:
        worker(tmp_path).result(cells.parse(ONE))
    assert ended.value.returncode == pytest.ExitCode.INTERRUPTED
    assert f"{ONE} was stopped: the session of the pytest-xdist worker running it " \
           f"(pid {os.getpid()}) ended" in ended.value.msg
