"""What users cite and what CI compares: Markdown for bug reports, standalone
repro scripts, baselines, and docs that explain every failing cell."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.matrix import baselines, cells
from emitcheck.matrix.expectations import EXPECTED, expected
from emitcheck.model.docs import doc_url
from emitcheck.model.results import CellResult
from emitcheck.outputs import grid
from emitcheck.system.environment import environment

from .helpers import SAMPLE, emitcheck, recorded_runs

DOCS = Path(__file__).parent.parent / "docs"
#: Two cells of SAMPLE (tests/data/results/matrix-sample.json): delivered, lost as measured.
TWO_CELLS = "threading-unpatched-thread-time_sleep,eventlet-unpatched-thread-time_sleep"


def _fake(cell_id, verdict, evidence="0 of 9 emitted events received") -> CellResult:
    exp = expected(cell_id)
    return CellResult(cell_id, exp.verdict, exp.why, exp.url, verdict, evidence)


def test_markdown_has_one_grid_per_transport_family():
    results = [_fake("gevent-patched-task-time_sleep", "delivered"),
               _fake("gevent-patched-task-time_sleep-polling", "delivered")]
    text = grid.markdown(results, environment())
    assert text.count("| mode-patch") == 2
    assert "*transport: polling*" in text


def test_a_node_cell_that_disagrees_with_the_python_client_is_marked():
    results = [_fake("gevent-unpatched-thread-time_sleep", "delayed"),
               _fake("gevent-unpatched-thread-time_sleep-node", "lost"),
               _fake("gevent-patched-task-time_sleep", "delivered"),
               _fake("gevent-patched-task-time_sleep-node", "delivered")]
    text = grid.markdown(results, environment())
    assert "*client: node*" in text
    node_grid = text.split("*client: node*")[1]
    assert "| `gevent-unpatched` | ! lost (expected delayed) (python client: delayed) " \
           "| not run |" in node_grid
    assert "| `gevent-patched` | not run | delivered |" in node_grid  # agreement: no mark
    base, node = grid.layout(results)
    assert not base.twins  # base cells: no twin
    assert {twin.verdict for twin in node.twins.values()} == {"delayed", "delivered"}


def test_markdown_has_environment_grid_evidence_and_links():
    results = [_fake("gevent-patched-task-time_sleep", "delivered"),
               _fake("gevent-unpatched-thread-time_sleep", "delayed", "0 of 7 arrived promptly"),
               _fake("gevent-unpatched-task-time_sleep", "lost")]
    text = grid.markdown(results, environment())
    assert "**Environment:** CPython" in text and "flask-socketio " in text
    assert "| mode-patch \\ spawn-wait | `thread-time_sleep` | `task-time_sleep` |" in text
    assert "| `gevent-patched` | not run | delivered |" in text
    assert "| `gevent-unpatched` | delayed | ! lost (expected starved) |" in text
    assert ("- `gevent-unpatched-thread-time_sleep`: **delayed**: 0 of 7 arrived promptly "
            f"([why]({doc_url('pitfall.md#an-os-thread-under-gevent-delayed')}))") in text
    assert "**lost** (emitcheck expected starved)" in text
    assert "gevent-patched-task-time_sleep`: **" not in text  # delivered cells need no line


def test_matrix_markdown_has_the_grid_and_each_failing_cells_evidence(monkeypatch):
    recorded = {r.cell: r for r in recorded_runs(monkeypatch, SAMPLE)}
    done = CliRunner().invoke(main, ["matrix", "-k", TWO_CELLS + ",eventlet-unpatched-task-"
                                     "time_sleep", "--markdown"])
    assert done.exit_code == 0, done.output
    text = done.stdout
    assert text.startswith("#### emitcheck ")
    assert re.search(r"\| `threading-unpatched` \| delivered [\d.]+ ms \|", text)
    assert re.search(r"\| `eventlet-unpatched` \| lost \| starved \|", text)
    for cell_id in ("eventlet-unpatched-thread-time_sleep", "eventlet-unpatched-task-time_sleep"):
        result = recorded[cell_id]
        assert f"- `{cell_id}`: **{result.verdict}**: {result.evidence} ([why]({result.doc}))" \
            in text
    assert "pitfall.md#a-greenlet-that-blocks-starved" in text
    assert "- `threading-unpatched-thread-time_sleep`" not in text  # delivered: no line


def test_baseline_round_trip_and_a_changed_cell_named(tmp_path, monkeypatch):
    recorded_runs(monkeypatch, SAMPLE)
    saved = tmp_path / "baseline.json"

    def matrix(*args: str):
        return CliRunner().invoke(main, ["matrix", "-k", TWO_CELLS, *args])

    done = matrix("--save-baseline", str(saved))
    assert done.exit_code == 0, done.output
    data = json.loads(saved.read_text())
    assert data["verdicts"] == {"threading-unpatched-thread-time_sleep": "delivered",
                                "eventlet-unpatched-thread-time_sleep": "lost"}
    assert data["environment"]["versions"]["flask-socketio"]

    done = matrix("--check-baseline", str(saved))
    assert done.exit_code == 0 and "no cell changed" in done.stdout

    assert data["schema"] == 1
    data["verdicts"]["threading-unpatched-thread-time_sleep"] = "lost"
    data["environment"]["versions"]["gevent"] = "1.0.0"
    saved.write_text(json.dumps(data))
    done = matrix("--check-baseline", str(saved))
    assert done.exit_code == 1
    assert "threading-unpatched-thread-time_sleep: lost -> delivered" in done.stdout
    assert "eventlet-unpatched-thread-time_sleep:" not in done.stdout
    assert "warning: the baseline was recorded on another environment: gevent 1.0.0 there" \
        in done.stdout


@pytest.mark.parametrize("content, says", [
    (None, "does not exist"),
    ("{oops", "not valid JSON"),
    ('{"environment": {}}', "has no \"schema\" field"),
    ('{"schema": 2, "verdicts": {}}', "has schema 2; this emitcheck reads schema 1 only"),
    ('{"schema": 1, "environment": {}}', "has no 'verdicts' object"),
    ('{"schema": 1, "verdicts": {"gevent-patched-task-nap": "lost"}}', "unknown wait 'nap'"),
    ('{"schema": 1, "verdicts": {"gevent-patched-task-time_sleep": "fine"}}',
     "valid verdicts: delivered"),
])
def test_bad_baseline_files_are_one_line_errors(tmp_path, content, says):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(baselines.BaselineError, match=re.escape(says)):
        baselines.load(path)
    proc = emitcheck("matrix", "-k", "threading", "--check-baseline", str(path))
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr


def test_pytest_check_baseline_fails_the_run_naming_the_cell(tmp_path):
    saved = tmp_path / "b.json"
    saved.write_text(json.dumps({"schema": 1, "environment": environment(), "verdicts": {
        "threading-unpatched-thread-time_sleep": "starved"}}))
    (tmp_path / "test_one.py").write_text(
        "def test_cell(emitcheck_result):\n    assert emitcheck_result.verdict\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         f"{tmp_path / 'test_one.py'}::test_cell[threading-unpatched-thread-time_sleep]",
         f"--emitcheck-check-baseline={saved}",
         f"--emitcheck-markdown={tmp_path / 'report.md'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert proc.returncode == 1, proc.stdout
    assert "threading-unpatched-thread-time_sleep: starved -> delivered" in proc.stdout
    assert "1 passed" in proc.stdout
    assert "`threading-unpatched`" in (tmp_path / "report.md").read_text()


def _sections(page: Path) -> dict[str, str]:
    """GitHub anchor -> section text, for the '## ' headings of a docs page."""
    found, anchor = {}, None
    for line in page.read_text().splitlines():
        if line.startswith("## "):
            anchor = re.sub(r"[^\w\- ]", "", line[3:].strip().lower()).replace(" ", "-")
            found[anchor] = ""
        elif anchor:
            found[anchor] += line + "\n"
    return found


#: Failing cells that must be named, by id, in the section their report links:
#: all but the auto cells, the transport variants and the Node client's (those
#: repeat a base cell, and are checked below).
NAMED = [c.id for c in cells.all_cells()
         if c.mode != "auto" and c.transport == "default" and c.client == "python"
         and expected(c.id).verdict != "delivered"]


@pytest.mark.parametrize("cell_id", NAMED)
def test_every_failing_cell_is_named_in_the_docs_section_its_report_links(cell_id):
    page, anchor = expected(cell_id).doc.split("#")
    sections = _sections(DOCS / page)
    assert anchor in sections, f"{page} has no section #{anchor}"
    assert f"`{cell_id}`" in sections[anchor]


BASE_AUTO = [c for c in cells.all_cells() if c.mode == "auto" and not c.family]


@pytest.mark.parametrize("cell", BASE_AUTO, ids=str)
def test_auto_cells_are_named_in_the_section_they_link(cell):
    page, anchor = expected(cell.id).doc.split("#")
    assert f"`{cell.id}`" in _sections(DOCS / page)[anchor]


def test_the_transport_section_names_a_suffixed_id_of_every_failure_class():
    section = _sections(DOCS / "pitfall.md")["transports"]
    for cell_id, exp in EXPECTED.items():
        if exp.verdict != "delivered" and not cells.parse(cell_id).isolated:
            assert f"`{cell_id}-polling`" in section or f"`{cell_id}-websocket`" in section


def test_the_node_section_names_a_node_id_of_every_failure_class():
    section = _sections(DOCS / "pitfall.md")["a-second-client-nodejs"]
    for cell_id, exp in EXPECTED.items():
        if exp.verdict != "delivered" and not cells.parse(cell_id).isolated:
            assert f"`{cell_id}-node`" in section


def test_every_doc_link_resolves():
    for cell in cells.possible_cells():
        page, anchor = expected(cell.id).doc.split("#")
        assert anchor in _sections(DOCS / page), f"{cell.id}: {expected(cell.id).doc}"


def test_result_links_cite_a_docs_file_that_exists_unless_a_docs_url_is_declared():
    """No guessed URL: without a Documentation project URL, links are docs/ paths."""
    from emitcheck.model.docs import docs_base

    url = expected("gevent-unpatched-thread-time_sleep").url
    page, anchor = url.split("#")
    assert anchor == "an-os-thread-under-gevent-delayed"
    if docs_base() == "docs/":
        assert (DOCS.parent / page).is_file()
    else:  # a declared Documentation URL: the same page under it
        assert page == docs_base() + "pitfall.md"
