"""The grid (rows: mode+patch, columns: spawn+wait) and one-cell summaries.

Everything here works on ``CellResult``s, so the same grid comes out of a
pytest run, the CLI, or result files merged from several tox environments.
Under each grid, in the terminal and in Markdown: its legend, a summary, one
line per skip reason and what to change for each failing row (grid_notes.py).
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from emitcheck.matrix.cell import FACTOR_NAMES, FACTORS, Cell, values, variant
from emitcheck.matrix.cells import parse, possible_cells
from emitcheck.matrix.remedies import change_of
from emitcheck.model.causes import PATCHED_BY
from emitcheck.model.results import CellResult, read_document
from emitcheck.outputs import grid_notes
from emitcheck.outputs.grid_notes import Grid, Twin, disagrees, unexpected

STYLE = {"delivered": "green", "delayed": "yellow", "lost": "red", "starved": "bold red",
         "error": "magenta", "crashed": "bold magenta", None: "dim"}

#: Each verdict in plain words, for a reader who has not read the docs.
IN_WORDS = {
    "delivered": "the events reached the client promptly, at the emit cadence",
    "delayed": "not delivered in time: the events arrived late or in bursts",
    "lost": "not delivered: no event reached the client, though the server answers",
    "starved": "not delivered: the server stopped answering while the work ran",
    "error": "not delivered: the server raised an error or refused the client",
    "crashed": "not delivered: the server process exited",
    "silent": "nothing to judge: no event was emitted while the client was connected",
}


def median_latency(result: CellResult) -> str:
    """The median latency of the events that arrived, as a grid cell shows it
    ("" when none arrived)."""
    p50 = result.latency_ms["p50"]
    if p50 is None:
        return ""
    return f"{p50:.0f} ms" if p50 >= 1 else f"{p50:.1f} ms"


def cell_label(result: CellResult | None, mark: int | None = None,
               twin: Twin | None = None) -> str:
    """What one grid cell says: the verdict and the median latency (and its
    twin's verdict where that differs). A skip or a failure of emitcheck says
    only that, with the number of its reason line (``mark``) under the grid."""
    if result is None:
        return "not run"
    reference = f" [{mark}]" if mark else ""
    if result.failure:
        return "emitcheck failed" + reference
    if result.skipped:
        return "skipped" + reference
    label = " ".join(filter(None, (result.verdict, median_latency(result))))
    if unexpected(result):
        label = f"! {label} (expected {result.expected})"
    if twin is not None and twin.differs(result):
        label += f" ({twin.name}: {twin.verdict})"
    return label


def cell_text(result: CellResult | None, mark: int | None = None,
              twin: Twin | None = None) -> Text:
    """The label, coloured by verdict; reversed where it differs from the expectation."""
    label = cell_label(result, mark, twin)
    if result is None or result.skipped:
        return Text(label, style=STYLE[None])
    if result.failure:
        return Text(label, style="bold reverse red")
    style = STYLE.get(result.verdict, "")
    if unexpected(result) or (parse(result.cell).in_matrix and disagrees(result, twin)):
        style = "bold reverse " + style
    return Text(label, style=style)


def resolved_at_run(mode: str) -> bool:
    """Is this mode value not a mode itself (``ModeVariant.concrete``), but
    resolved when the server starts (SocketIO(app) picks what is installed)?
    Its results say what it resolved to, which differs between environments."""
    return not variant("mode", mode).concrete


def _row(cell: Cell, result: CellResult) -> str:
    """The row label; the row of a mode resolved at run time names the mode it
    resolved to, and an app that monkey patched itself says so (its row is
    patched, whatever the cell's id says)."""
    facts = result.observation.facts if result.observation else {}
    patched = " (patched by the app)" if facts.get(PATCHED_BY) else ""
    if resolved_at_run(cell.mode) and result.async_mode:
        return f"{cell.row} as {result.async_mode}{patched}"
    return cell.row + patched


_DEFAULTS = {f.name: f.default for f in FACTORS if f.default is not None}  # the suffix factors


def _twin_of(cell: Cell, result: CellResult,
             verdicts: dict[tuple[str, str | None], str | None]) -> Twin | None:
    """For a cell with a ``second_opinion`` value (a second client) that ran:
    the same cell with that factor at its default, and the verdict it reached
    when it is among the results (``verdicts``)."""
    found = None
    for value in cell.variants():
        if value.second_opinion and not result.skipped:
            default = _DEFAULTS[value.factor]
            twin = cell.replace(**{value.factor: default})
            found = Twin(f"{default} {value.factor}", verdicts.get((twin.id, result.async_mode)))
    return found


def family_and_column(cell: Cell) -> tuple[str, str]:
    return cell.grid, cell.column


def layout(results: list[CellResult], place=family_and_column) -> list[Grid]:
    """One Grid per family of cells present in the results, base cells first,
    each cell with its twin (a second client) where it has one. ``place``
    gives a cell's grid title and column (default: its family and spawn-wait)."""
    order = {c.id: i for i, c in enumerate(possible_cells())}
    given = list(enumerate(results))  # cells of no listing: as given
    placed = [(parse(r.cell), r) for _, r in sorted(
        given, key=lambda pair: (order.get(pair[1].cell, len(order) + pair[0]),
                                 pair[1].async_mode or ""))]
    verdicts = {(r.cell, r.async_mode): r.verdict for r in results}
    grids = []
    for title in dict.fromkeys(place(cell)[0] for cell, _ in placed):
        members = [(cell, r) for cell, r in placed if place(cell)[0] == title]
        columns = sorted(dict.fromkeys(place(c)[1] for c, _ in members), key=lambda col: min(
            _column_order(c) for c, _ in members if place(c)[1] == col))
        keys = [((_row(c, r), place(c)[1]), c, r) for c, r in members]
        grids.append(Grid(title, list(dict.fromkeys(key[0] for key, _, _ in keys)), columns,
                          {key: r for key, _, r in keys},
                          {key: twin for key, c, r in keys
                           if (twin := _twin_of(c, r, verdicts)) is not None}))
    return grids


def _column_order(cell) -> tuple[int, ...]:
    """Columns in the order of their values, whichever rows ran: a grid of
    threading-...-thread-socketio_sleep and eventlet-...-thread-time_sleep
    still shows thread-time_sleep first."""
    return tuple(values(f).index(getattr(cell, f)) for f in FACTOR_NAMES
                 if f not in ("mode", "patch"))


CORNER = "mode-patch \\ spawn-wait"


class _Breakable:
    """A header or row label that wraps only after a '-', '_' or space (rich's
    ``overflow="fold"`` cuts ``thread-socketio_sleep`` inside a word); a piece
    too long for its column is cut short with an ellipsis, never split."""

    def __init__(self, text: str):
        self.text = text
        self.pieces = re.findall(r".+?(?:[-_ ]|$)", text)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(max(len(p.rstrip()) for p in self.pieces), len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = [""]
        for piece in self.pieces:
            if lines[-1] and len(lines[-1] + piece.rstrip()) > options.max_width:
                lines.append("")
            lines[-1] += piece
        yield Text("\n".join(line.rstrip() for line in lines), no_wrap=True,
                   overflow="ellipsis")


def _fix_line(fix: grid_notes.Fix, code=str, link=str) -> str:
    """What to change in (part of) a row: the ways (without the delivered cells
    they lead to: the grid shows them), then the docs links."""
    rows = ", ".join(map(code, fix.rows)) or "every row"
    where = f"{rows} ({', '.join(map(code, fix.columns))})"
    ways = "; or: ".join(map(change_of, fix.ways)) or \
        "no remedy known from our matrix: see the evidence and the docs"
    docs = ", ".join(map(link, fix.docs))
    return f"to change, {where}: {ways}" + (f"; see {docs}" if docs else "")


def _reason_lines(said: grid_notes.Notes) -> list[str]:
    return [f"[{n}] {reason}" for n, reason in enumerate(said.reasons, 1)]


def _notes_text(said: grid_notes.Notes) -> list[Text]:
    lines = [Text(said.legend, style="dim"), Text(said.summary, style="bold")]
    lines += [Text(line, style="dim") for line in _reason_lines(said)]
    lines += [Text(_fix_line(fix)) for fix in said.fixes]
    return lines + [Text("")]


def _all_skipped(said: grid_notes.Notes) -> str:
    return f"{grid_notes.count(len(said.marks))}, all skipped"


def _skipped_grid(heading: str, said: grid_notes.Notes) -> list[Text]:
    """A grid whose every cell was skipped: its title, its count and the reasons."""
    return [Text(f"{heading or 'base cells'}: {_all_skipped(said)}", style="bold"),
            *(Text(line, style="dim") for line in _reason_lines(said)), Text("")]


def grid(results: Iterable[CellResult], title: str = "emitcheck matrix",
         place=family_and_column, corner: str = CORNER) -> Group:
    """The grids of every family, as one renderable, each followed by its
    legend, summary, skip reasons and what to change (grid_notes)."""
    shown: list = []
    for index, part in enumerate(layout(list(results), place)):
        said = grid_notes.notes(part)
        heading = " - ".join(t for t in (title if index == 0 else "", part.title) if t)
        if said.skipped_all:
            shown += _skipped_grid(heading, said)
            continue
        table = Table(title=heading or None, show_lines=False)
        table.add_column(_Breakable(corner), style="bold")
        for column in part.columns:
            table.add_column(_Breakable(column))
        for row in part.rows:
            table.add_row(_Breakable(row), *(cell_text(part.cells.get((row, col)),
                                                       said.marks.get((row, col)),
                                                       part.twins.get((row, col)))
                                             for col in part.columns))
        shown += [table, *_notes_text(said)]
    return Group(*shown)


def _code(text: str) -> str:
    return f"`{text}`"


def _link(url: str) -> str:
    return f"[{url.rpartition('/')[2] or url}]({url})"


def markdown(results: Iterable[CellResult], env: dict, place=family_and_column,
             corner: str = CORNER, heading: str = "matrix") -> str:
    """A block to paste into a GitHub issue: environment, grids (each with its
    legend, summary, skip reasons and what to change), then the evidence and
    the remedies of each cell that is not delivered."""
    results = list(results)
    present = ", ".join(f"{name} {version}" for name, version in env["versions"].items()
                        if version and name != "python")
    lines = [
        f"#### emitcheck {env['emitcheck']} {heading}",
        "",
        f"**Environment:** {env['python_implementation']} {env['versions']['python']} on "
        f"{env['os']}; {present}",
    ]
    for part in layout(results, place):
        said = grid_notes.notes(part)
        lines += [""] + ([f"*{part.title}*", ""] if part.title else [])
        if said.skipped_all:
            lines += [f"**{_all_skipped(said)}**", ""]
            lines += [f"- {line}" for line in _reason_lines(said)]
            continue
        lines += [
            f"| {corner} | " + " | ".join(f"`{c}`" for c in part.columns) + " |",
            "|---" * (len(part.columns) + 1) + "|",
        ]
        for row in part.rows:
            labels = (cell_label(part.cells.get((row, col)), said.marks.get((row, col)),
                                 part.twins.get((row, col))) for col in part.columns)
            lines.append(f"| `{row}` | " + " | ".join(labels) + " |")
        lines += ["", f"*{said.legend}*", "", f"**{said.summary}**"]
        items = [f"- {line}" for line in _reason_lines(said)]
        items += ["- " + _fix_line(fix, _code, _link) for fix in said.fixes]
        lines += [""] + items if items else []
    failing = [r for r in results if grid_notes.failing(r)]
    if failing:
        lines += ["", "**Cells not delivered:**", ""]
        for r in failing:
            changed = "" if r.verdict == r.expected else f" (emitcheck expected {r.expected})"
            lines.append(f"- `{r.cell}`: **{r.verdict}**{changed}: {r.evidence} "
                         f"([why]({r.doc}))")
            lines += [f"  - to change: {remedy}" for remedy in grid_notes.remedies_of(r)]
    return "\n".join(lines) + "\n"


def render(renderable, color: bool = False, width: int = 120) -> str:
    """Render to a string; ANSI colours only when ``color`` is true (pytest's
    terminal writer decides that for its own output)."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color,
                      width=width, highlight=False)
    console.print(renderable)
    return buffer.getvalue()


def show(renderable, width: int = 120) -> None:
    """Print to standard output, in colour where rich decides so: a terminal,
    or FORCE_COLOR; never with NO_COLOR (colours; bold stays) nor into a pipe.
    ``width`` holds even for TERM=dumb (rich would use 80 columns)."""
    Console(width=width, height=25, highlight=False).print(renderable)


def _ms(value: float | None, missing: str) -> str:
    if value is None:
        return missing
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _numbers(result: CellResult) -> str:
    lat, m = result.latency_ms, result.metrics
    latency = "none (no event arrived)" if lat["p50"] is None else \
        f"p50 {_ms(lat['p50'], '')}, p95 {_ms(lat['p95'], '')}, max {_ms(lat['max'], '')}"
    if m is None:
        return f"while connected: emitted 0, received 0; latency {latency}; " \
               "connect unanswered, ack unanswered, HTTP GET unanswered"
    return (f"while connected: emitted {m.emitted}, received {m.received}; "
            f"latency {latency}; connect {_ms(m.connect_ms, 'unanswered')}, "
            f"ack {_ms(m.ack_ms, 'unanswered')}, HTTP GET {_ms(m.http_ms, 'unanswered')}")


def summary(result: CellResult) -> str:
    """What ``emitcheck run`` says about one cell: the verdict in plain words,
    whether it is the one we measured (what the exit status tells), the
    evidence, what to change, the docs, and the numbers (never a bare None)."""
    cell = result.cell
    if result.failure:
        return f"{cell}: emitcheck failed: {result.failure}\n" \
               "  no verdict: emitcheck's own machinery failed in this cell (exit status 3)"
    if result.skipped:
        return f"{cell}: skipped, not run here: {result.skipped}"
    verdict, expected = str(result.verdict), result.expected
    lines = [f"{cell}: {verdict} ({IN_WORDS.get(verdict, verdict)})"]
    if unexpected(result):
        lines.append(f"  UNEXPECTED: we measured {expected} for this cell before (exit status 1)")
    elif parse(cell).in_matrix:
        lines.append(f"  expected: we measured {verdict} for this cell before, so the exit status "
                     "is 0" + (" (it compares with that; it does not mean delivered)"
                               if verdict != "delivered" else ""))
    lines.append(f"  evidence: {result.evidence}")
    if result.why:
        lines.append(f"  why{' we expected ' + expected if unexpected(result) else ''}: "
                     f"{result.why}")
    lines += [f"  to change: {way}" for way in grid_notes.remedies_of(result)]
    if result.doc:
        lines.append(f"  docs: {result.doc}")
    lines.append(f"  {_numbers(result)}")
    return "\n".join(lines)


def _has_stack(result: CellResult) -> bool:
    """Did the environment of this result have the packages its cell's values
    need (its mode's stack)? From the versions the result records."""
    versions = result.versions
    return all(versions.get(v.package) is not None for v in parse(result.cell).variants()
               if v.package and v.package in versions)


def merge(results_lists: list[list[CellResult]]) -> list[CellResult]:
    """Combine results from several environments: a run cell beats a skipped one.

    A cell skipped everywhere keeps the reason of the environments that have
    its stack (the threading one skips a gevent cell because gevent is not
    installed; the gevent one says what else is missing), each distinct
    reason once. A cell whose mode is resolved at run time (auto) is a
    different program in each environment (SocketIO(app) resolves to what is
    installed), so one result per resolved mode is kept.
    """
    merged: dict[tuple, CellResult] = {}
    skips: dict[tuple, list[CellResult]] = {}
    for results in results_lists:
        for result in results:
            key = (result.cell, result.async_mode
                   if resolved_at_run(parse(result.cell).mode) else None)
            if result.skipped:
                skips.setdefault(key, []).append(result)
            known = merged.get(key)
            if known is None or (known.skipped and not result.skipped):
                merged[key] = result
    for key, result in merged.items():
        if result.skipped:
            told = [r for r in skips[key] if _has_stack(r)] or skips[key]
            reasons = dict.fromkeys(r.skipped for r in told)
            merged[key] = dataclasses.replace(told[0], skipped="; ".join(filter(None, reasons)))
    return list(merged.values())


def load(paths: list[Path]) -> list[CellResult]:
    """Read result files (or every *.json in a directory) and merge them.
    Raises SchemaError (a file that is not a results file) or CellError (an
    unknown cell id), each with one line naming the file."""
    return load_with_environments(paths)[0]


def load_with_environments(paths: list[Path]) -> tuple[list[CellResult], dict[str, dict]]:
    """``load``, and the environment each file names, labelled by the file's
    name and date (for the HTML page's versions table)."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    lists, environments = [], {}
    for file in files:
        results, environment = read_document(file)
        for result in results:
            try:
                parse(result.cell)
            except ValueError as exc:
                raise type(exc)(f"{file}: {exc}") from None
        lists.append(results)
        if environment is not None:
            when = datetime.fromtimestamp(file.stat().st_mtime, timezone.utc)
            environments[f"{file.name} ({when:%Y-%m-%d %H:%M} UTC)"] = environment
    return merge(lists), environments
