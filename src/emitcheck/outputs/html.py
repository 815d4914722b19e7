"""The HTML report: the grids on top, then a timeline per cell, in one file.

The file needs nothing else: styles are inline, there is no script, no font,
no image and no link to load, so it opens in any browser (or a CI artifact
viewer) without a network and can be attached to a bug report. Everything
comes from ``CellResult``s, so the report of a pytest run, of ``emitcheck matrix``/``app``
and of merged result files is the same page. The template (templates/report.html.j2) is rendered
by Jinja2 with autoescaping: an evidence line or a server log is text, never
markup. Why static SVG drawn by hand: docs/html-report.md.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from emitcheck.matrix.cells import parse
from emitcheck.model.results import VERDICTS, CellResult
from emitcheck.outputs import grid, grid_notes, timeline
from emitcheck.outputs.grid_notes import Twin

#: Each verdict's colour in the grid (background, text), and those of a skip
#: and of emitcheck's own failure: Color Brewer hues, readable with their text.
COLOURS = {
    "delivered": ("#1a9641", "#fff"), "delayed": ("#f4c20d", "#000"),
    "lost": ("#d7191c", "#fff"), "starved": ("#7b0c0c", "#fff"),
    "error": ("#c51b7d", "#fff"), "crashed": ("#4d004b", "#fff"),
    "silent": ("#969696", "#000"), "skipped": ("#eeeeee", "#666"), "failure": ("#000000", "#fff"),
}


@dataclass
class CellView:
    """One result as the grid and its timeline section show it."""
    result: CellResult
    anchor: str
    kind: str                   # CSS class: a verdict, "skipped" or "failure"
    word: str                   # what the grid cell says first
    latency: str = ""           # the median latency of the events that arrived
    unexpected: str = ""        # the verdict measured before, when this one differs
    twin: str = ""              # what the second client saw, when it disagrees
    mark: int = 0               # the number of its reason (skipped, emitcheck failed)
    title: str = ""             # the grid cell's tooltip

    @property
    def failing(self) -> bool:
        return self.kind not in ("delivered", "skipped")  # a failure of emitcheck too

    @property
    def resolved(self) -> str:
        """The mode its mode resolved to, when that is resolved at run time (auto)."""
        return _resolved(self.result)


@dataclass
class GridView:
    title: str
    anchor: str
    columns: list[str]
    rows: list[tuple[str, list[CellView | None]]]
    summary: str = ""
    reasons: list[tuple[int, str, str]] = field(default_factory=list)  # mark, "n cells", why
    collapsed: bool = False     # every cell skipped: only the reasons are shown
    cells: list[CellView] = field(default_factory=list)  # those that ran, grid order


def _resolved(result: CellResult) -> str:
    """The mode the cell's mode resolved to, when it is resolved at run time (auto)."""
    if result.async_mode and grid.resolved_at_run(parse(result.cell).mode):
        return result.async_mode
    return ""


def _view(result: CellResult, anchor: str, mark: int, twin: Twin | None) -> CellView:
    if result.failure:
        return CellView(result, anchor, "failure", "emitcheck failed", mark=mark,
                        title=result.failure)
    if result.skipped:
        return CellView(result, anchor, "skipped", "skipped", mark=mark, title=result.skipped)
    verdict = str(result.verdict)
    view = CellView(result, anchor, verdict, verdict, grid.median_latency(result),
                    title=result.evidence)
    if grid_notes.unexpected(result):
        view.unexpected = result.expected
    if twin is not None and twin.differs(result):
        view.twin = f"{twin.name}: {twin.verdict}"
    return view


def _anchor(result: CellResult, taken: set[str]) -> str:
    """The cell id (a mode resolved at run time: with the mode it resolved to),
    unique in the page."""
    anchor = result.cell
    if resolved := _resolved(result):
        anchor += f"-as-{resolved}"
    base, n = anchor, 1
    while anchor in taken:
        n += 1
        anchor = f"{base}-{n}"
    taken.add(anchor)
    return anchor


def grids(results: list[CellResult], place=None) -> list[GridView]:
    """report.layout's grids, each cell with what the page shows of it, and
    what grid_notes says under each (its summary, its reasons, numbered)."""
    taken: set[str] = set()
    views = []
    parts = grid.layout(results, place or grid.family_and_column)
    for index, part in enumerate(parts):
        said = grid_notes.notes(part)
        cells = {key: _view(result, _anchor(result, taken), said.marks.get(key, 0),
                            part.twins.get(key)) for key, result in part.cells.items()}
        marked = Counter(said.marks.values())
        views.append(GridView(
            part.title, f"grid-{index + 1}", part.columns,
            [(row, [cells.get((row, column)) for column in part.columns]) for row in part.rows],
            said.summary,
            [(n, grid_notes.count(marked[n]), reason) for n, reason in enumerate(said.reasons, 1)],
            collapsed=said.skipped_all,
            cells=[ran for row in part.rows for column in part.columns
                   if (ran := cells.get((row, column))) is not None and ran.kind != "skipped"]))
    return views


def drawing(result: CellResult) -> timeline.Timeline | str:
    """The cell's timeline, or why there is none."""
    if result.observation is None:
        if result.failure:
            return "No observation: emitcheck's own machinery failed before the window ended."
        return ("No observation in these results: files written by pytest's "
                "--emitcheck-json before the HTML report existed leave it out.")
    return timeline.build(result.observation)


def _counts(results: list[CellResult]) -> dict[str, int]:
    return {verdict: sum(r.verdict == verdict and r.ran for r in results)
            for verdict in VERDICTS}


def _link(doc: str) -> str | None:
    """Only a web address becomes a link (a path in emitcheck's source is shown as text)."""
    return doc if doc.startswith(("https://", "http://")) else None


def _versions(environments: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """Rows of the versions table: a name, then its value in each environment."""
    names = ["platform", "emitcheck", *dict.fromkeys(
        name for env in environments.values() for name in env.get("versions", {}))]
    rows = []
    for name in names:
        values = []
        for env in environments.values():
            if name == "platform":
                values.append(f"{env.get('python_implementation', '?')} on {env.get('os', '?')}")
            elif name == "emitcheck":
                values.append(str(env.get("emitcheck", "?")))
            else:
                values.append(env.get("versions", {}).get(name) or "\u2013")
        rows.append((name, values))
    return rows


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("emitcheck.outputs", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = timeline.num
    return env.get_template("report.html.j2")


def render(results: Iterable[CellResult], environments: dict[str, dict],
           title: str = "emitcheck matrix", place=None, corner: str = grid.CORNER,
           now: datetime | None = None) -> str:
    """The page. ``environments``: where the results come from, by a label
    ("this run", a results file's name), each as ``environment.environment()``."""
    results = list(results)
    return _template().render(
        title=title, corner=corner, grids=grids(results, place),
        summary=grid_notes.summary(results),
        counts=_counts(results), meanings=grid.IN_WORDS, colours=COLOURS,
        versions=_versions(environments), sources=list(environments), drawing=drawing,
        link=_link, geometry=timeline, remedies=grid_notes.remedies_of,
        written=(now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC"))


class ReportError(ValueError):
    """The page could not be written; one line saying where and why."""


def write(path: Path, results: Iterable[CellResult], environments: dict[str, dict],
          title: str = "emitcheck matrix", place=None, corner: str = grid.CORNER) -> None:
    """Write the page to ``path`` (its folder is created)."""
    page = render(results, environments, title, place, corner)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the HTML report {path}: "
                          f"{exc.strerror or exc}") from None
