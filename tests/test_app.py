"""``emitcheck app``: the sample apps in tests/apps through the matrix, and bad input.

The buggy sample (threading.Thread + time.sleep) must fail in exactly the rows
where our own ``thread-time_sleep`` cells fail, and the corrected one
(start_background_task + socketio.sleep) must be delivered everywhere: both
compared with what we measured, through expectations.py, on real servers.
The Markdown grid and what it says to change are rendered in-process from a
recorded run of the buggy sample (tests/data/results/app-ticker_thread.json),
and bad input is checked in-process (click's CliRunner; the app is still
loaded for real, in a process of its own): no server runs for either.
"""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.matrix.cells import parse
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import read_document

from .helpers import emitcheck, processes_mentioning

APPS = Path(__file__).parent / "apps"
#: ``emitcheck app ticker_thread:socketio --event tick --path tests/apps --json``,
#: recorded (tests/data/record.py) with every stack and gunicorn 27 installed.
RECORDED_RUN = Path(__file__).parent / "data" / "results" / "app-ticker_thread.json"


def _app(tmp_path, *args, timeout=240):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return emitcheck("app", *args, "--path", str(APPS), env=env, timeout=timeout)


def _results(proc):
    data = json.loads(proc.stdout)
    assert data["schema"] == 1
    return [r for r in data["results"] if not r["skipped"]]


def invoke(*args: str):
    """``emitcheck app ... --path tests/apps`` in-process."""
    return CliRunner().invoke(main, ["app", *args, "--path", str(APPS)])


def _our_twin(app_cell_id: str, async_mode: str, spawn: str, wait: str) -> str:
    """Our matrix cell of the same row and server, with the given work."""
    cell = parse(app_cell_id)
    mode = async_mode if cell.mode == "auto" else cell.mode
    return cell.replace(mode=mode, spawn=spawn, wait=wait).id


def test_the_buggy_sample_fails_where_our_thread_time_sleep_cells_fail(tmp_path):
    proc = _app(tmp_path, "ticker_thread:socketio", "--event", "tick", "--json")
    results = _results(proc)
    assert results and proc.returncode in (0, 1), proc.stderr
    for result in results:
        twin = _our_twin(result["cell"], result["async_mode"], "thread", "time_sleep")
        assert result["verdict"] == expected(twin).verdict, (result["cell"], twin,
                                                             result["evidence"])
    failing = [r for r in results if r["verdict"] != "delivered"]
    assert failing, "the buggy sample was delivered in every cell"
    assert proc.returncode == 1
    for result in failing:
        assert result["remedies"], result["cell"]
    assert processes_mentioning(str(tmp_path)) == []


def test_the_corrected_sample_is_delivered_in_every_cell(tmp_path):
    proc = _app(tmp_path, "ticker_task:socketio", "--event", "tick", "--json")
    results = _results(proc)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert results and all(r["verdict"] == "delivered" for r in results)
    assert {parse(r["cell"]).server for r in results} >= {"run"}


def test_the_grid_names_the_rows_and_says_what_to_change(monkeypatch):
    """The command's Markdown, its cells' results those of the recorded run (no
    server): every row named, and what to change said for the failing ones,
    worked out here from their recorded observations."""
    recorded = {result.cell: result for result in read_document(RECORDED_RUN)[0]}
    from emitcheck.running import runner

    monkeypatch.setattr(runner, "run_many",
                        lambda cells, **_: [recorded[cell.id] for cell in cells])
    result = invoke("ticker_thread:socketio", "--event", "tick", "--markdown")
    assert result.exit_code == 1, result.output
    text = result.stdout
    assert text.startswith("#### emitcheck ")
    assert "| mode-patch \\ server |" in text
    for row in ("auto-unpatched", "threading-unpatched", "eventlet-unpatched",
                "eventlet-patched", "gevent-unpatched", "gevent-patched"):
        assert f"| `{row}" in text, row
    failing = {cell: r.verdict for cell, r in recorded.items()
               if r.verdict not in (None, "delivered")}
    assert failing and "**Cells not delivered:**" in text
    for cell, verdict in failing.items():
        assert f"- `{cell}`: **{verdict}**" in text
    assert text.count("  - to change: ") >= len(failing)


def test_an_event_the_app_never_emits_is_the_verdict_silent_not_an_error(tmp_path):
    proc = _app(tmp_path, "ticker_task:socketio", "--event", "nothing", "--timeout", "3",
                "-k", "auto-unpatched-app-own", "--json")
    assert proc.returncode == 1, proc.stderr
    results = _results(proc)
    assert results and all(r["verdict"] == "silent" for r in results)
    assert results[0]["remedies"][0].startswith(
        "silent is the verdict, not an error: the app emitted no 'nothing' event")


@pytest.mark.parametrize("target, says", [
    ("broken_import:socketio", "importing 'broken_import' failed: ModuleNotFoundError"),
    ("ticker_task:sockets", "module 'ticker_task' has no attribute 'sockets'"),
    ("no_socketio:app", "is a Flask app with no SocketIO"),
    ("no_socketio:settings", "is a dict, not a SocketIO object, a Flask app or a factory"),
    ("ticker_task", "is not MODULE:ATTR"),
])
def test_an_app_that_cannot_be_loaded_is_a_one_line_error(target, says):
    result = invoke(target, "--event", "tick")
    assert result.exit_code == 2, result.output
    assert says in result.stderr and "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if says in line]) == 1


@pytest.mark.parametrize("args, says", [
    (["--trigger", "post:/x"], "is not one of: connect, get:/PATH, emit:EVENT[:JSON]"),
    (["--trigger", "emit:go:{oops"], "the payload is not JSON"),
    (["--namespace", "chat"], "must start with '/'"),
    (["-k", "nosuchrow"], "-k 'nosuchrow' matches none of the app's cells: auto-unpatched-app-own"),
    (["--setup", "configure"], "--setup 'configure' is not MODULE:FUNCTION"),
    (["--setup", "ticker_task:nothing_here"], "--setup ticker_task:nothing_here: AttributeError"),
    (["--env", "NOEQUALS"], "--env 'NOEQUALS': expected NAME=VALUE"),
    (["--auth", "[1]"], "a JSON list, not an object"),
    (["--header", "NoColon"], "no ':' between a header name and its value"),
    (["--query", "token"], "no '=' between a parameter name and its value"),
])
def test_bad_options_are_one_line_errors(args, says):
    result = invoke("ticker_task:socketio", "--event", "tick", *args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr and "Traceback" not in result.output
