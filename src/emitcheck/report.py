"""The grid (rows: mode+patch, columns: spawn+wait) and one-cell summaries.

Everything here works on the JSON form of a result (``CellResult.to_json()``),
so the same grid comes out of a pytest run, the CLI, or result files merged
from several tox environments.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .cells import FACTORS, parse, possible_cells
from .model import read_results

STYLE = {"delivered": "green", "delayed": "yellow", "lost": "red", "starved": "bold red",
         "error": "magenta", "crashed": "bold magenta", None: "dim"}


def cell_label(result: dict | None) -> str:
    """What one grid cell says: the verdict and the median latency."""
    if result is None:
        return "not run"
    if result.get("failure"):
        return f"emitcheck failed: {result['failure']}"
    if result.get("skipped"):
        return f"skipped: {result['skipped']}"
    label = result["verdict"]
    p50 = (result.get("latency_ms") or {}).get("p50")
    if p50 is not None:
        label += f" {p50:.0f} ms" if p50 >= 1 else f" {p50:.1f} ms"
    if result["verdict"] != result.get("expected") and parse(result["cell"]).in_matrix:
        label = f"! {label} (expected {result.get('expected')})"
    if _disagrees(result):
        label += f" ({result['twin']}: {result['twin_verdict']})"
    return label


def _disagrees(result: dict) -> bool:
    """Did the cell's twin (the same cell with a ``second_opinion`` value at its
    factor's default: the Python client for a Node cell) see something else?"""
    other = result.get("twin_verdict")
    return other is not None and other != result["verdict"]


def cell_text(result: dict | None) -> Text:
    """The label, coloured by verdict; reversed where it differs from the expectation."""
    verdict = None if result is None or result.get("skipped") else result["verdict"]
    if result is not None and result.get("failure"):
        return Text(cell_label(result), style="bold reverse red")
    style = STYLE.get(verdict, "")
    if result is not None and verdict is not None and parse(result["cell"]).in_matrix and \
            (verdict != result.get("expected") or _disagrees(result)):
        style = "bold reverse " + style
    return Text(cell_label(result), style=style)


@dataclass
class Grid:
    """One family of cells laid out: rows mode-patch, columns spawn-wait."""
    title: str             # "" for the base cells (Cell.grid)
    rows: list[str]
    columns: list[str]
    cells: dict            # (row, column) -> result


def _row(cell, result: dict) -> str:
    """The row label; an auto cell's row names the mode SocketIO(app) resolved to."""
    if cell.mode == "auto" and result.get("async_mode"):
        return f"{cell.row} as {result['async_mode']}"
    return cell.row


_DEFAULTS = {f.name: f.default for f in FACTORS if f.default is not None}  # the suffix factors


def _with_twin_verdicts(results: list[dict]) -> list[dict]:
    """Results of cells with a ``second_opinion`` value (a second client), each
    with the verdict its twin reached (``twin_verdict``: the same cell with that
    factor at its default), when the twin is among the results."""
    verdicts = {(r["cell"], r.get("async_mode")): r.get("verdict") for r in results}
    marked = []
    for result in results:
        cell = parse(result["cell"])
        for value in cell.variants():
            if value.second_opinion and not result.get("skipped"):
                default = _DEFAULTS[value.factor]
                twin = cell.replace(**{value.factor: default})
                result = {**result, "twin": f"{default} {value.factor}",
                          "twin_verdict": verdicts.get((twin.id, result.get("async_mode")))}
        marked.append(result)
    return marked


def _family_and_column(cell) -> tuple[str, str]:
    return cell.grid, cell.column


def layout(results: list[dict], place=_family_and_column) -> list[Grid]:
    """One Grid per family of cells present in the results, base cells first.
    A cell that disagrees with its twin (a second client) is marked. ``place``
    gives a cell's grid title and column (default: its family and spawn-wait)."""
    order = {c.id: i for i, c in enumerate(possible_cells())}
    given = list(enumerate(_with_twin_verdicts(results)))  # cells of no listing: as given
    placed = [(parse(r["cell"]), r) for _, r in sorted(
        given, key=lambda pair: (order.get(pair[1]["cell"], len(order) + pair[0]),
                                 pair[1].get("async_mode") or ""))]
    grids = []
    for title in dict.fromkeys(place(cell)[0] for cell, _ in placed):
        members = [(cell, r) for cell, r in placed if place(cell)[0] == title]
        grids.append(Grid(title, list(dict.fromkeys(_row(c, r) for c, r in members)),
                          list(dict.fromkeys(place(c)[1] for c, _ in members)),
                          {(_row(c, r), place(c)[1]): r for c, r in members}))
    return grids


CORNER = "mode-patch \\ spawn-wait"


def grid(results: list[dict], title: str = "emitcheck matrix", place=_family_and_column,
         corner: str = CORNER) -> Group:
    """The grids of every family, as one renderable."""
    tables = []
    for index, part in enumerate(layout(results, place)):
        heading = " - ".join(t for t in (title if index == 0 else "", part.title) if t)
        table = Table(title=heading or None, show_lines=False)
        table.add_column(corner, style="bold", overflow="fold")
        for column in part.columns:
            table.add_column(column, overflow="fold")
        for row in part.rows:
            table.add_row(row, *(cell_text(part.cells.get((row, col))) for col in part.columns))
        tables.append(table)
    return Group(*tables)


def markdown(results: list[dict], env: dict, place=_family_and_column, corner: str = CORNER,
             heading: str = "matrix") -> str:
    """A block to paste into a GitHub issue: environment, grids, evidence, links,
    and the remedies of results that carry them."""
    present = ", ".join(f"{name} {version}" for name, version in env["versions"].items()
                        if version and name != "python")
    lines = [
        f"#### emitcheck {env['emitcheck']} {heading}",
        "",
        f"**Environment:** {env['python_implementation']} {env['versions']['python']} on "
        f"{env['os']}; {present}",
    ]
    for part in layout(results, place):
        lines += [""] + ([f"*{part.title}*", ""] if part.title else []) + [
            f"| {corner} | " + " | ".join(f"`{c}`" for c in part.columns) + " |",
            "|---" * (len(part.columns) + 1) + "|",
        ]
        for row in part.rows:
            labels = (cell_label(part.cells.get((row, col))) for col in part.columns)
            lines.append(f"| `{row}` | " + " | ".join(labels) + " |")
    broken = [r for r in results if r.get("failure")]
    if broken:
        lines += ["", "**Cells emitcheck could not judge (its own machinery failed):**", ""]
        lines += [f"- `{r['cell']}`: {r['failure']}" for r in broken]
    failing = [r for r in results if not r.get("skipped") and not r.get("failure")
               and r["verdict"] != "delivered"]
    if failing:
        lines += ["", "**Cells not delivered:**", ""]
        for r in failing:
            changed = "" if r["verdict"] == r["expected"] else \
                f" (emitcheck expected {r['expected']})"
            lines.append(f"- `{r['cell']}`: **{r['verdict']}**{changed}: {r['evidence']} "
                         f"([why]({r['doc']}))")
            lines += [f"  - to change: {remedy}" for remedy in r.get("remedies", [])]
    return "\n".join(lines) + "\n"


def render(renderable, color: bool = False, width: int = 120) -> str:
    """Render to a string; ANSI colours only when ``color`` is true."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color,
                      width=width, highlight=False)
    console.print(renderable)
    return buffer.getvalue()


def summary(result: dict) -> str:
    """A few lines on one cell, for ``emitcheck run``."""
    if result.get("failure"):
        return f"{result['cell']}: emitcheck failed: {result['failure']}"
    if result.get("skipped"):
        return f"{result['cell']}: skipped: {result['skipped']}"
    lat = result["latency_ms"]
    status = "as expected" if result["matches"] else f"EXPECTED {result['expected']}"
    return "\n".join([
        f"{result['cell']}: {result['verdict']} ({status})",
        f"  evidence: {result['evidence']}",
        f"  why: {result['why']}",
        f"  emitted {result['emitted']}, received {result['received']}; latency ms "
        f"p50 {lat['p50']} p95 {lat['p95']} max {lat['max']}; connect {result['connect_ms']} ms, "
        f"ack {result['ack_ms']} ms, http {result['http_ms']} ms",
    ])


def merge(results_lists: list[list[dict]]) -> list[dict]:
    """Combine results from several environments: a run cell beats a skipped one.

    An auto cell is a different program in each environment (SocketIO(app)
    resolves to what is installed), so one result per resolved mode is kept.
    """
    merged: dict[tuple, dict] = {}
    for results in results_lists:
        for result in results:
            key = (result["cell"], result.get("async_mode")
                   if result["cell"].startswith("auto-") else None)
            known = merged.get(key)
            if known is None or (known.get("skipped") and not result.get("skipped")):
                merged[key] = result
    return list(merged.values())


def load(paths: list[Path]) -> list[dict]:
    """Read result files (or every *.json in a directory) and merge them.
    Raises SchemaError (a file that is not a results file) or CellError (an
    unknown cell id), each with one line naming the file."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    lists = []
    for file in files:
        results = read_results(file)
        for result in results:
            try:
                parse(result["cell"])
            except ValueError as exc:
                raise type(exc)(f"{file}: {exc}") from None
        lists.append(results)
    return merge(lists)
