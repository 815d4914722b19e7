"""The command line: listing, bad input, one real cell, and merging reports."""

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.matrix import cells
from emitcheck.matrix.cells import parse

from .helpers import SAMPLE, emitcheck, recorded_runs


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_list_prints_every_cell_id_one_a_line():
    result = invoke("list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [c.id for c in cells.all_cells()]


def test_unknown_cell_id_exits_2_listing_the_valid_values():
    result = invoke("run", "eventlet-unpatched-thread-nap")
    assert result.exit_code == 2
    assert "unknown wait 'nap'" in result.output
    assert "time_sleep, socketio_sleep" in result.output
    assert "Traceback" not in result.output


def test_malformed_cell_id_exits_2():
    result = invoke("run", "eventlet")
    assert result.exit_code == 2 and "emitcheck list" in result.output


@pytest.mark.parametrize("pattern, says", [("trio", "matches no cell"),
                                           ("", "empty cell pattern")])
def test_pattern_matching_nothing_exits_2_with_one_line(pattern, says):
    result = invoke("matrix", "-k", pattern)
    assert result.exit_code == 2 and says in result.output
    assert "Traceback" not in result.output


def test_list_all_shows_composed_cells_the_default_matrix_leaves_out():
    everything = invoke("list", "--all").output.splitlines()
    default = invoke("list").output.splitlines()
    assert set(default) < set(everything)
    assert "gevent-patched-task-time_sleep-polling-redis" in everything
    assert "gevent-patched-task-time_sleep-polling-redis" not in default


@pytest.mark.parametrize("command", [["run"], ["matrix", "-k"], ["repro"]])
def test_a_cell_of_an_app_is_refused_outside_emitcheck_app(command):
    result = invoke(*command, "threading-unpatched-app-own")
    assert result.exit_code == 2
    assert "is a cell of your app" in result.output and "emitcheck app MODULE:ATTR" in \
        result.output


def test_run_names_the_conflict_of_an_invalid_combination():
    result = invoke("run", "auto-unpatched-thread-time_sleep-gunicorn")
    assert result.exit_code == 2
    assert "auto mode has no gunicorn worker class" in result.output


def test_repro_into_a_folder_that_does_not_exist_creates_it(tmp_path):
    target = tmp_path / "new" / "folder" / "r.py"
    result = invoke("repro", "threading-unpatched-thread-time_sleep", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("#!/usr/bin/env python3")


def test_repro_into_a_path_that_cannot_be_written_exits_2(tmp_path):
    (tmp_path / "file").write_text("")
    result = invoke("repro", "threading-unpatched-thread-time_sleep", "-o",
                    str(tmp_path / "file" / "r.py"))
    assert result.exit_code == 2 and "cannot write the script" in result.output


@pytest.mark.parametrize("cell_id", ["threading-unpatched-process-time_sleep-redis",
                                     "gevent-patched-task-time_sleep-gunicorn",
                                     "gevent-patched-task-time_sleep-node"])
def test_repro_of_a_cell_that_needs_more_than_one_script_exits_2(tmp_path, cell_id):
    result = invoke("repro", cell_id, "-o", str(tmp_path / "r.py"))
    assert result.exit_code == 2
    assert "needs more than one script" in result.output and f"emitcheck run {cell_id}" \
        in result.output
    assert not (tmp_path / "r.py").exists()


def test_report_of_a_missing_file_exits_2(tmp_path):
    result = invoke("report", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize("content, says", [
    ("{not json", "is not a readable JSON file"),
    ('[{"cell": "eventlet-patched-thread-time_sleep"}]', "is not an emitcheck document"),
    ('{"results": []}', 'has no "schema" field'),
    ('{"schema": 7, "results": []}', "has schema 7; this emitcheck reads schema 1 only"),
    ('{"schema": 1, "results": [{"schema": 1, "cell": "x"}]}', "result 0 has no 'verdict'"),
])
def test_report_of_a_file_that_is_not_a_results_file_exits_2_with_one_line(tmp_path, content,
                                                                            says):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = invoke("report", str(bad))
    assert result.exit_code == 2 and says in result.output, result.output
    assert "Traceback" not in result.output and "cannot read the results" in result.output


def test_report_names_an_unknown_cell_id_and_its_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(_document([_result("eventlet-patched-thread-bogus", "lost")]))
    result = invoke("report", str(bad))
    assert result.exit_code == 2 and "unknown wait 'bogus'" in result.output
    assert str(bad) in result.output


def _result(cell_id, verdict=None, skipped=None, expected="delivered", **more):
    from emitcheck.model.results import CellResult, Metrics

    result = CellResult(cell_id, expected, "why", "doc", verdict=verdict, skipped=skipped,
                        metrics=None if skipped else Metrics(
                            9, 9, 5, 5, {"p50": 1.0, "p95": 2.0, "max": 3.0}, 1.0, 1.0, 1.0))
    return {**result.to_json(), **more}


def _document(results):
    """A results file of these results (their JSON form, some of them invalid)."""
    from emitcheck.model.results import SCHEMA
    from emitcheck.system.environment import environment

    return json.dumps({"schema": SCHEMA, "environment": environment(), "results": results})


def test_report_merges_environments_run_beats_skipped(tmp_path):
    cell = "gevent-patched-task-time_sleep"
    (tmp_path / "threading.json").write_text(_document([
        _result(cell, skipped="gevent is not installed in this environment"),
        _result("threading-unpatched-task-time_sleep", "delivered")]))
    (tmp_path / "gevent.json").write_text(_document([_result(cell, "delivered")]))
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
    assert result.output.count("delivered 1 ms") == 2
    assert "gevent-patched" in result.output and "threading-unpatched" in result.output


def test_report_exits_1_and_marks_a_changed_cell(tmp_path):
    (tmp_path / "r.json").write_text(_document([
        _result("gevent-unpatched-task-time_sleep", "lost", expected="starved")]))
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 1
    assert "lost 1 ms (expected starved)" in result.output


def test_run_one_real_cell_as_json(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = emitcheck("run", "threading-unpatched-thread-time_sleep", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == 1 and data["failure"] is None
    assert data["cell"] == "threading-unpatched-thread-time_sleep"
    assert data["verdict"] == data["expected"] == "delivered"
    assert data["emitted"] > 5 and data["received"] >= data["emitted"] - 1
    assert set(data["latency_ms"]) == {"p50", "p95", "max"}
    assert data["connect_ms"] > 0 and data["ack_ms"] > 0
    for package in ("python", "flask", "flask-socketio", "python-socketio",
                    "python-engineio", "eventlet", "gevent", "greenlet"):
        assert package in data["versions"]
    assert data["versions"]["flask-socketio"]


#: Two cells of SAMPLE (tests/data/results/matrix-sample.json), which the
#: matrix tests below run as recorded (recorded_runs: no server starts).
RECORDED = ("eventlet-unpatched-thread-time_sleep", "threading-unpatched-thread-time_sleep")


def test_matrix_json_writes_the_selected_cells_results_as_run(monkeypatch):
    recorded = {r.cell: r for r in recorded_runs(monkeypatch, SAMPLE)}
    result = invoke("matrix", "-k", ",".join(RECORDED), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1 and data["environment"]["versions"]["flask-socketio"]
    assert data["results"] == [recorded[c.id].to_json() for c in cells.select(",".join(RECORDED))]


def test_matrix_grid_shows_rows_and_columns(monkeypatch):
    recorded_runs(monkeypatch, SAMPLE)
    result = CliRunner().invoke(main, ["matrix", "-k", ",".join(RECORDED)],
                                env={"COLUMNS": "160", "FORCE_COLOR": None, "NO_COLOR": None})
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if "threading-unpatched" in line]
    assert "│ not run" not in row and "delivered" in row
    assert "thread-time_sleep" in result.stdout and "eventlet-unpatched" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes when not a terminal


def test_report_keeps_one_auto_row_per_resolved_mode(tmp_path):
    cell = "auto-unpatched-thread-time_sleep"
    (tmp_path / "threading.json").write_text(_document(
        [_result(cell, "delivered", async_mode="threading")]))
    (tmp_path / "eventlet.json").write_text(_document(
        [_result(cell, "lost", expected="lost", async_mode="eventlet")]))
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "auto-unpatched as eventlet" in result.output
    assert "auto-unpatched as threading" in result.output


# -- merged skip reasons, and colours as rich decides them ------------------------------------

RESULTS = Path(__file__).parent / "data" / "results" / "redis-less.json"


def _uncoloured() -> dict:
    """This environment without the variables that decide colours."""
    return {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}


def test_report_of_the_tox_environments_gives_each_skipped_cell_its_real_reason(tmp_path):
    """Without redis-server, the threading and eventlet environments skip a gevent
    Redis cell for want of gevent, the gevent one for want of redis-server: the
    merged grid says the latter, once."""
    from emitcheck.model.results import read_results

    no_redis = "redis-server not found on PATH (Debian: apt-get install redis-server)"
    skipped = [r.to_json() for r in read_results(RESULTS) if r.skipped == no_redis]
    gevent = [r for r in skipped if r["cell"].startswith("gevent-")]
    assert gevent
    for env in ("eventlet", "threading"):
        without = [{**r, "skipped": "gevent not installed",
                    "versions": {**r["versions"], "gevent": None}} for r in gevent]
        (tmp_path / f"{env}.json").write_text(_document(without))
    (tmp_path / "gevent.json").write_text(_document(gevent))
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "gevent not installed" not in result.output
    assert result.output.count(no_redis) == len({parse(r["cell"]).grid for r in gevent})


def test_colours_in_a_pipe_only_with_force_color(tmp_path):
    plain = emitcheck("report", str(RESULTS), env=_uncoloured())
    forced = emitcheck("report", str(RESULTS), env=dict(_uncoloured(), FORCE_COLOR="1"))
    assert plain.returncode == forced.returncode == 0, plain.stderr + forced.stderr
    assert "\x1b[" not in plain.stdout
    assert "\x1b[32mdelivered" in forced.stdout  # green, into a pipe


#: An SGR sequence that sets a colour (bold or reverse are not colours).
COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-7]|9[0-7]|38;[25])[;m]")


def _on_a_terminal(args: list[str], env: dict, timeout: float = 60) -> str:
    """Run with standard output on a pseudo-terminal; what it printed."""
    main_fd, child_fd = os.openpty()
    proc = subprocess.Popen(args, stdout=child_fd, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(child_fd)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {args} to end")
            if select.select([main_fd], [], [], 0.5)[0]:
                try:
                    chunk = os.read(main_fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    finally:
        proc.kill()
        proc.wait(timeout=10)
        os.close(main_fd)
    return out.decode(errors="replace")


@pytest.mark.parametrize("no_color", [False, True])
def test_a_terminal_gets_colours_unless_no_color(no_color):
    env = dict(_uncoloured(), TERM="xterm", COLUMNS="160", **({"NO_COLOR": "1"} if no_color
                                                              else {}))
    out = _on_a_terminal([sys.executable, "-m", "emitcheck", "report", str(RESULTS)], env)
    assert "eventlet-unpatched" in out
    assert bool(COLOUR.search(out)) is not no_color


# -- issue 20: every input validated up front, every output path checked before the run ------


@pytest.fixture
def no_cell_may_run(monkeypatch):
    """Any cell the command would run fails the test: what it checks comes first."""
    from emitcheck.running import runner

    def refuse(*args, **kwargs):
        raise AssertionError("a cell ran before the input was checked")
    monkeypatch.setattr(runner, "run_many", refuse)


def _sample_with(tmp_path, **changes) -> Path:
    document = json.loads(SAMPLE.read_text())
    document["results"][0].update(changes)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    return path


def test_report_of_a_result_whose_field_has_the_wrong_type_is_one_line_not_a_traceback(
        tmp_path):
    path = _sample_with(tmp_path, latency_ms={"p50": "12", "p95": None, "max": None})
    result = invoke("report", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}: result 0: 'latency_ms.p50' is the string '12', expected a number or " \
           "null" in result.output
    assert "Traceback" not in result.output


def test_report_refuses_the_verdict_teleported(tmp_path):
    path = _sample_with(tmp_path, verdict="teleported")
    result = invoke("report", str(path))
    assert result.exit_code == 2
    assert "'verdict' is 'teleported', expected one of delivered, delayed, lost, starved, " \
           "error, crashed, silent" in result.output


def test_check_baseline_whose_environment_is_not_an_object_exits_2_before_any_cell_runs(
        tmp_path, no_cell_may_run):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"schema": 1, "environment": ["CPython"], "verdicts": {
        "threading-unpatched-thread-time_sleep": "delivered"}}))
    result = invoke("matrix", "-k", "threading-unpatched-thread-time_sleep",
                    "--check-baseline", str(path))
    assert result.exit_code == 2, result.output
    assert f"baseline {path}: 'environment' is a list, expected an object" in result.output


def test_check_baseline_with_no_verdicts_exits_2_before_any_cell_runs(tmp_path,
                                                                       no_cell_may_run):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"schema": 1, "environment": {}, "verdicts": {}}))
    result = invoke("matrix", "-k", "threading-unpatched-thread-time_sleep",
                    "--check-baseline", str(path))
    assert result.exit_code == 2, result.output
    assert "has no verdicts, so it checks nothing" in result.output


@pytest.mark.parametrize("where", ["a-file/baseline.json", "a-folder"])
def test_save_baseline_to_an_unwritable_path_exits_2_before_any_cell_runs(tmp_path, where,
                                                                          no_cell_may_run):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    result = invoke("matrix", "-k", "threading-unpatched-thread-time_sleep",
                    "--save-baseline", str(tmp_path / where))
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--save-baseline'" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder"]


def test_a_run_where_no_cell_got_a_verdict_writes_no_baseline_and_says_so(tmp_path,
                                                                          monkeypatch):
    from emitcheck.model.results import CellResult
    from emitcheck.running import runner

    cell = "threading-unpatched-thread-time_sleep"
    monkeypatch.setattr(runner, "run_many", lambda selected, jobs=None, **how: [
        CellResult(cell, "delivered", "why", "doc", skipped="not here")])
    target = tmp_path / "baseline.json"
    result = invoke("matrix", "-k", cell, "--save-baseline", str(target))
    assert result.exit_code == 2, result.output
    assert f"no baseline written to {target}: no cell got a verdict" in result.output
    assert not target.exists()


def test_a_misspelt_id_in_a_k_list_exits_2_naming_it_instead_of_being_dropped(
        no_cell_may_run):
    result = invoke("matrix", "-k", "threading-unpatched-thread-time_sleep,"
                                    "threading-unpatched-thread-time_slep")
    assert result.exit_code == 2, result.output
    assert "pattern 'threading-unpatched-thread-time_slep' (in " in result.output
    assert "unknown wait 'time_slep'; valid wait values: time_sleep" in result.output


def test_a_conflicting_full_id_in_k_names_the_conflict_not_matches_no_cell(no_cell_may_run):
    result = invoke("matrix", "-k", "auto-unpatched-thread-time_sleep-gunicorn")
    assert result.exit_code == 2, result.output
    assert "auto mode has no gunicorn worker class" in result.output
    assert "matches no cell" not in result.output


def test_the_readme_s_cell_counts_are_what_emitcheck_list_prints():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    said = re.search(r"`emitcheck list` prints it \(([\d,]+) cells;.*?`emitcheck list --all` "
                     r"every valid cell \(([\d,]+)\)", readme, re.S)
    assert said, "the README no longer says how many cells emitcheck list prints"
    default, everything = (int(n.replace(",", "")) for n in said.groups())
    assert default == len(invoke("list").output.splitlines())
    assert everything == len(invoke("list", "--all").output.splitlines())


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_sweep_to_an_unwritable_file_exits_2_before_any_release_is_listed(tmp_path, monkeypatch,
                                                                          option):
    from emitcheck.sweep import index

    def offline(*args, **kwargs):
        raise AssertionError("the package index was asked before the paths were checked")
    monkeypatch.setattr(index, "releases", offline)
    (tmp_path / "a-file").write_text("")
    result = invoke("sweep", "threading-unpatched-thread-time_sleep", "--package", "gevent",
                    option, str(tmp_path / "a-file" / "sweep.out"))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "a-file is a file, not a folder" in result.output


def test_no_skip_turns_a_skipped_cell_into_a_failure_naming_it(monkeypatch):
    from emitcheck.model.results import CellResult
    from emitcheck.running import runner

    cell = "threading-unpatched-thread-time_sleep"
    skipped = CellResult(cell, "delivered", "why", "doc", skipped="redis-server not found")
    monkeypatch.setattr(runner, "run_many", lambda selected, jobs=None, **how: [skipped])
    assert invoke("matrix", "-k", cell).exit_code == 0  # a skip is no failure by default
    result = invoke("matrix", "-k", cell, "--no-skip")
    assert result.exit_code == 1
    assert f"1 cell(s) skipped (--no-skip), the first: {cell}: redis-server not found" in \
        result.output
