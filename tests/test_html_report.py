"""The HTML report, read as a file (tests/test_html_browser.py opens it in Chromium).

Most tests build the page from tests/data/results/matrix-sample.json, the
``--json`` output of a real run of SAMPLE_CELLS (``emitcheck matrix -k
<SAMPLE_CELLS> --json`` with every stack, redis-server and node installed),
read as ``CellResult``s. The entry points (matrix, report, app) write the page
in-process from recorded results; pytest's runs a real cell, since bringing
each cell's observation back from its workers is the point there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.model.results import CellResult, Observation, read_document, read_results
from emitcheck.outputs import grid, grid_notes, html, timeline

from .helpers import DATA, SAMPLE, emitcheck, recorded_runs

SAMPLE_CELLS = ("threading-unpatched-thread-time_sleep,eventlet-unpatched-thread-time_sleep,"
                "eventlet-unpatched-task-time_sleep,eventlet-unpatched-thread-socketio_sleep,"
                "gevent-unpatched-thread-time_sleep,eventlet-patched-thread-busy,"
                "eventlet-unpatched-thread-time_sleep-gunicorn,"
                "eventlet-patched-thread-time_sleep-gunicorn,"
                "threading-unpatched-thread-time_sleep-node,auto-unpatched-thread-time_sleep,"
                "threading-unpatched-process_manager-time_sleep-redis")
DELIVERED = "threading-unpatched-thread-time_sleep"
HOSTILE = "</script><script>alert(1)</script>\"><img src=x onerror=alert(2)>"
APPS = Path(__file__).parent / "apps"
#: ``emitcheck app ticker_thread:socketio --event tick --path tests/apps --json``, recorded.
APP_SAMPLE = DATA / "results" / "app-ticker_thread.json"


@dataclass
class Section:
    """One cell's part of the page: its text and the paths of its drawing."""
    anchor: str
    text: str = ""
    svg: dict = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)   # CSS class -> d


class Page(HTMLParser):
    """What the tests look at in a report: tags, links, grid cells, skip lines, sections."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.hrefs: list[str] = []
        self.grid_links: list[str] = []
        self.skips: list[str] = []
        self.sections: dict[str, Section] = {}
        self.text = ""
        self._section: Section | None = None
        self._in_cell = self._in_skip = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags[tag] += 1
        if "href" in attributes:
            self.hrefs.append(attributes["href"])
        self._in_cell = self._in_cell or tag == "td"
        if tag == "a" and self._in_cell:
            self.grid_links.append(attributes["href"].removeprefix("#"))
        if tag == "p" and attributes.get("class") == "skips":
            self._in_skip = True
            self.skips.append("")
        if tag == "section":
            self._section = self.sections[attributes["id"]] = Section(attributes["id"])
        elif self._section is not None and tag == "svg":
            self._section.svg = attributes
        elif self._section is not None and tag == "path":
            self._section.paths[attributes["class"]] = attributes["d"]

    def handle_endtag(self, tag):
        self._in_cell = self._in_cell and tag != "td"
        self._in_skip = self._in_skip and tag != "p"
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        self.text += data
        if self._section is not None:
            self._section.text += data
        if self._in_skip:
            self.skips[-1] += data


def ticks(d: str) -> list[float]:
    """The x of every tick of a path of ticks ("M x y v h...")."""
    return [float(x) for x in re.findall(r"M([\d.]+) [\d.]+v", d)]


def joins(d: str) -> list[tuple[float, float, float, float]]:
    return [tuple(map(float, m)) for m in re.findall(r"M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)", d)]


@pytest.fixture(scope="module")
def sample() -> tuple[list[CellResult], dict]:
    results, env = read_document(SAMPLE)
    assert env is not None
    return results, env


@pytest.fixture(scope="module")
def page(sample) -> Page:
    results, env = sample
    return Page(html.render(results, {"matrix-sample.json": env}))


def of(results: list[CellResult], cell: str) -> CellResult:
    [found] = [r for r in results if r.cell == cell]
    return found


def ran(results: list[CellResult]) -> list[CellResult]:
    return [r for r in results if not r.skipped]


def anchor(result: CellResult) -> str:
    """Where the page puts a cell: its id (an auto cell's: with the mode it resolved to)."""
    auto = result.cell.startswith("auto-") and result.async_mode
    return result.cell + (f"-as-{result.async_mode}" if auto else "")


# -- the file on its own ---------------------------------------------------------


def test_the_page_loads_nothing_from_anywhere_else(sample):
    results, env = sample
    text = html.render(results, {"this run": env})
    for needle in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import",
                   "url(", " src=", "<base"):
        assert needle not in text, needle
    page = Page(text)
    assert page.hrefs and all(href.startswith("#") for href in page.hrefs), \
        [h for h in page.hrefs if not h.startswith("#")]  # docs/ paths are text, not links


def test_a_docs_address_becomes_a_link_and_nothing_else_does(sample):
    results, env = sample
    lost = dataclasses.replace(of(results, "eventlet-unpatched-thread-time_sleep"),
                               doc="https://emitcheck.example/pitfall.md#x")
    hostile = dataclasses.replace(of(results, "eventlet-unpatched-task-time_sleep"),
                                  doc="javascript:alert(1)")
    page = Page(html.render([lost, hostile], {"this run": env}))
    assert "https://emitcheck.example/pitfall.md#x" in page.hrefs
    assert not any("javascript" in href for href in page.hrefs)


def test_every_cell_has_its_grid_entry_and_its_timeline(sample, page):
    results, _ = sample
    assert set(page.grid_links) == {anchor(r) for r in ran(results)} == set(page.sections)
    for result in ran(results):
        section, obs = page.sections[anchor(result)], result.observation
        assert result.evidence in section.text and obs is not None
        assert int(section.svg["data-emits"]) == len(obs.emitted)
        assert int(section.svg["data-arrivals"]) == len(obs.received)


def test_a_lost_cells_timeline_has_emits_and_no_arrivals(sample, page):
    results, _ = sample
    lost = of(results, "eventlet-unpatched-thread-time_sleep")
    assert lost.verdict == "lost" and lost.metrics and lost.metrics.emitted > 0
    section = page.sections[lost.cell]
    assert len(ticks(section.paths["emit-lost"])) == lost.metrics.emitted
    assert not [kind for kind in section.paths if kind.startswith(("join", "arrive"))]
    assert section.svg["data-joins"] == "0"


def test_a_delivered_cells_timeline_joins_each_arrival_to_its_emit(sample, page):
    results, _ = sample
    delivered = of(results, DELIVERED)
    assert delivered.verdict == "delivered" and delivered.observation
    section = page.sections[DELIVERED]
    arrivals = len(delivered.observation.received)
    lines = joins(section.paths["join-prompt"])
    assert len(lines) == len(ticks(section.paths["arrive-prompt"])) == arrivals > 0
    emits = ticks(section.paths["emit"])
    for x1, y1, x2, y2 in lines:
        assert y1 < y2 and x2 >= x1                      # from the emit lane down, never back
        assert min(abs(x1 - x) for x in emits) <= 0.15   # from an emit's tick
    assert "emit-lost" not in section.paths


def test_a_delayed_cells_held_events_are_drawn_late(sample, page):
    results, _ = sample
    delayed = of(results, "gevent-unpatched-thread-time_sleep")
    obs = delayed.observation
    assert delayed.verdict == "delayed" and obs
    bound = 3 * obs.interval
    late = [a for a in obs.received
            if a.emitted_at is not None and a.arrived_at - a.emitted_at > bound]
    assert late, "the recorded delayed cell held some events back"
    assert len(joins(page.sections[delayed.cell].paths["join-late"])) == len(late)


def test_failing_cells_show_evidence_remedies_and_the_docs(sample, page):
    results, _ = sample
    for result in ran(results):
        text = " ".join(page.sections[anchor(result)].text.split())
        if result.verdict == "delivered":
            assert "What to change" not in text
            continue
        assert result.remedies, f"{result.cell} carries no remedy"
        for remedy in result.remedies:
            assert " ".join(remedy.split()) in text
        assert result.doc in text and result.why in text


def test_hostile_text_is_shown_as_text(sample):
    results, env = sample
    lost = of(results, "eventlet-unpatched-thread-time_sleep")
    assert lost.observation
    observation = dataclasses.replace(lost.observation, log_tail=HOSTILE,
                                      connect_error=HOSTILE)
    hostile = [dataclasses.replace(lost, evidence=HOSTILE, why=HOSTILE, remedies=[HOSTILE],
                                   observation=observation),
               dataclasses.replace(of(results, "eventlet-patched-thread-time_sleep-gunicorn"),
                                   skipped=HOSTILE)]
    text = html.render(hostile, {HOSTILE: env}, title=HOSTILE)
    assert "<script" not in text and "<img" not in text
    assert "&lt;/script&gt;&lt;script&gt;" in text
    page = Page(text)
    assert page.tags["script"] == page.tags["img"] == 0
    assert HOSTILE in page.sections[lost.cell].text


def test_skipped_cells_are_one_line_per_reason_per_grid(sample, page):
    results, _ = sample
    skipped = [r for r in results if r.skipped]
    assert len(skipped) > 1 and len({r.skipped for r in skipped}) == 1  # one reason, cells
    [line] = [s for s in page.skips if str(skipped[0].skipped) in s]
    assert line.startswith(f"{len(skipped)} cells skipped: ")
    assert not any(r.cell in page.sections for r in skipped)


def test_the_legend_says_what_the_number_is_and_counts_each_verdict(sample, page):
    results, _ = sample
    text = " ".join(page.text.split())
    assert "median latency of the events that arrived" in text
    for verdict, count in Counter(r.verdict for r in ran(results)).items():
        assert f"{verdict} ({count}): {grid.IN_WORDS[str(verdict)]}" in text
    delivered = sum(r.verdict == r.expected == "delivered" for r in results)
    as_measured = sum(r.verdict == r.expected != "delivered" for r in ran(results))
    assert grid_notes.summary(results) in text
    assert grid_notes.summary(results).startswith(
        f"{len(results)} cells: {delivered} delivered, {as_measured} failing as measured")


def test_the_versions_and_the_date_are_on_top(sample):
    results, env = sample
    text = html.render(results, {"a.json": env, "b.json": {**env, "versions": {
        **env["versions"], "flask-socketio": "9.9.9"}}})
    page = Page(text)
    assert re.search(r"Written \d{4}-\d\d-\d\d \d\d:\d\d UTC", page.text)
    assert "9.9.9" in page.text and env["versions"]["flask-socketio"] in page.text
    assert page.text.index("9.9.9") < page.text.index("Legend")


# -- timelines of recorded observations (tests/data/observations) ------------------


def drawing_of(name: str, **changes) -> timeline.Timeline:
    data = json.loads((DATA / "observations" / f"{name}.json").read_text())
    return timeline.build(Observation.from_dict({**data, **changes}))


def labels(drawing: timeline.Timeline) -> str:
    return " | ".join(label.text for label in drawing.labels)


def test_a_crash_is_marked_where_the_window_ended():
    drawing = drawing_of("crashed")
    [crash] = [s for s in drawing.shapes if s.kind == "crash"]
    assert "status -9" in crash.title and "server exited (-9)" in labels(drawing)
    assert "failed at once" in next(s.title for s in drawing.shapes if s.kind == "http-failed")


def test_a_starved_server_shows_the_connect_and_the_get_it_never_answered():
    drawing = drawing_of("starved")
    assert "connect failed: HTTPConnectionPool" in labels(drawing)
    [unanswered] = [s for s in drawing.shapes if s.kind == "http-none"]
    assert "no answer" in unanswered.title
    kinds = {s.kind for s in drawing.shapes}
    assert "emit-out" in kinds and not kinds & {"emit", "emit-lost", "connect"}


def test_a_refused_client_shows_the_answer_it_got():
    assert "connect failed: Unexpected status code 401" in labels(drawing_of("refused"))


def test_without_a_server_log_there_is_no_server_lane_and_the_page_says_so():
    drawing = drawing_of("delivered", emitted=[], emits_logged=False)  # as a probe records
    assert any("No server lane" in note for note in drawing.notes)
    assert not [s for s in drawing.shapes if s.kind.startswith("emit")]
    assert drawing.counts["joins"] > 0  # the payload's own time still gives the latency


def test_coordinates_are_rounded_to_a_tenth():
    drawing = drawing_of("delayed")
    numbers = re.findall(r"-?\d+(?:\.\d+)?", "".join(s.d for s in drawing.shapes))
    assert numbers and all(len(n.partition(".")[2]) <= 1 for n in numbers)


# -- the entry points ----------------------------------------------------------------


def test_matrix_writes_the_report_of_its_run(tmp_path, monkeypatch):
    recorded_runs(monkeypatch, SAMPLE)
    out = tmp_path / "new" / "report.html"
    done = CliRunner().invoke(main, ["matrix", "-k", DELIVERED, "--html", str(out)])
    assert done.exit_code == 0, done.output
    assert f"HTML report written to {out}" in done.stderr
    page = Page(out.read_text())
    assert page.grid_links == [DELIVERED]
    assert int(page.sections[DELIVERED].svg["data-joins"]) > 0


def test_report_merges_files_and_names_each_environment(tmp_path):
    results, env = read_results(SAMPLE), json.loads(SAMPLE.read_text())["environment"]
    older = [{**r.to_json(), "observation": None} for r in results if r.cell == DELIVERED]
    (tmp_path / "pytest.json").write_text(json.dumps(
        {"schema": 1, "environment": {**env, "emitcheck": "0.0.1"}, "results": older}))
    out = tmp_path / "merged.html"
    proc = emitcheck("report", str(SAMPLE), str(tmp_path / "pytest.json"), "--html", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = Page(out.read_text())
    assert "matrix-sample.json (" in page.text and "pytest.json (" in page.text
    assert "0.0.1" in page.text
    assert set(page.grid_links) == set(page.sections)
    assert int(page.sections[DELIVERED].svg["data-joins"]) > 0  # the run cell's observation


@pytest.mark.parametrize("command", [["matrix", "-k", DELIVERED], ["report", str(SAMPLE)],
                                     ["app", "ticker_thread:socketio", "--event", "tick",
                                      "--path", str(APPS)]])
def test_an_html_path_that_cannot_be_written_is_one_line_before_anything_runs(tmp_path,
                                                                               command):
    (tmp_path / "file").write_text("")
    proc = emitcheck(*command, "--html", str(tmp_path / "file" / "r.html"))
    assert proc.returncode == 2
    assert "Invalid value for '--html'" in proc.stderr and "is a file, not a folder" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""  # nothing ran, nothing printed


def test_app_writes_the_apps_grid_and_a_timeline_per_cell(tmp_path, monkeypatch):
    recorded = recorded_runs(monkeypatch, APP_SAMPLE)
    out = tmp_path / "app.html"
    done = CliRunner().invoke(main, ["app", "ticker_thread:socketio", "--event", "tick",
                                     "--path", str(APPS), "--json", "--html", str(out)])
    assert not any(r.failure for r in recorded)
    assert done.exit_code == (0 if all(r.verdict in ("delivered", None) for r in recorded)
                              else 1), done.output
    results = [CellResult.from_json(r) for r in json.loads(done.stdout)["results"]]
    assert {r.cell for r in results} == {r.cell for r in recorded}
    page = Page(out.read_text())
    assert "mode-patch \\ server" in page.text and "ticker_thread:socketio" in page.text
    assert len(page.sections) == len(ran(results)) > 0
    failing = [r for r in ran(results) if r.verdict != "delivered"]
    assert failing and all(r.remedies for r in failing)
    for result in failing:
        assert " ".join(result.remedies[0].split()) in \
            " ".join(page.sections[anchor(result)].text.split())


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_pytest_writes_the_report_with_each_cells_observation(tmp_path, xdist):
    (tmp_path / "test_one.py").write_text(
        "def test_cell(emitcheck_result):\n    assert emitcheck_result.verdict\n")
    out, results = tmp_path / "report.html", tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist,
         f"{tmp_path / 'test_one.py'}::test_cell[{DELIVERED}]",
         f"--emitcheck-html={out}", f"--emitcheck-json={results}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=150,
        env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    section = Page(out.read_text()).sections[DELIVERED]
    assert int(section.svg["data-joins"]) > 0  # the observation came back from the cell's run
    [result] = read_results(results)
    assert result.observation and result.observation.received


def test_pytest_refuses_an_html_path_that_cannot_be_written_at_the_start(tmp_path):
    (tmp_path / "file").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only",
         f"--emitcheck-html={tmp_path / 'file' / 'r.html'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "--emitcheck-html" in proc.stderr and "is a file, not a folder" in proc.stderr
    assert "Traceback" not in proc.stderr
