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

from emitcheck import cells
from emitcheck.cells import parse
from emitcheck.cli import main

from .helpers import emitcheck


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


@pytest.mark.parametrize("pattern, says", [("asyncio", "matches no cell"),
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
    from emitcheck.model import CellResult, Metrics

    result = CellResult(cell_id, expected, "why", "doc", verdict=verdict, skipped=skipped,
                        metrics=None if skipped else Metrics(
                            9, 9, 5, 5, {"p50": 1.0, "p95": 2.0, "max": 3.0}, 1.0, 1.0, 1.0))
    return {**result.to_json(), **more}


def _document(results):
    from emitcheck.environment import environment
    from emitcheck.model import results_document

    return json.dumps(results_document(results, environment()))


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


def test_matrix_json_runs_the_selected_cells(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = emitcheck("matrix", "-k", "threading-unpatched-task-time_sleep,"
                     "threading-unpatched-task-socketio_sleep", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == 1 and data["environment"]["versions"]["flask-socketio"]
    data = data["results"]
    assert [d["cell"] for d in data] == ["threading-unpatched-task-time_sleep",
                                         "threading-unpatched-task-socketio_sleep"]
    assert all(d["verdict"] == "delivered" for d in data)


def test_matrix_grid_shows_rows_and_columns(tmp_path):
    env = dict(_uncoloured(), TMPDIR=str(tmp_path), COLUMNS="160")
    proc = emitcheck("matrix", "-k", "threading-unpatched-thread-time_sleep", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "threading-unpatched" in proc.stdout
    assert "thread-time_sleep" in proc.stdout and "delivered" in proc.stdout
    assert "\x1b[" not in proc.stdout  # no colour codes when not a terminal


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
    from emitcheck.model import read_results

    no_redis = "redis-server not found on PATH (Debian: apt-get install redis-server)"
    skipped = [r for r in read_results(RESULTS) if r["skipped"] == no_redis]
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
    out = _on_a_terminal([sys.executable, "-m", "emitcheck.cli", "report", str(RESULTS)], env)
    assert "eventlet-unpatched" in out
    assert bool(COLOUR.search(out)) is not no_color
