"""The grid (rows: mode+patch, columns: spawn+wait) and one-cell summaries.

Everything here works on the JSON form of a result (``CellResult.to_json()``),
so the same grid comes out of a pytest run, the CLI, or result files merged
from several tox environments.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .cells import all_cells, parse

STYLE = {"delivered": "green", "delayed": "yellow", "lost": "red", "starved": "bold red",
         "error": "magenta", "crashed": "bold magenta", None: "dim"}


def cell_label(result: dict | None) -> str:
    """What one grid cell says: the verdict and the median latency."""
    if result is None:
        return "not run"
    if result.get("skipped"):
        return f"skipped: {result['skipped']}"
    label = result["verdict"]
    p50 = (result.get("latency_ms") or {}).get("p50")
    if p50 is not None:
        label += f" {p50:.0f} ms" if p50 >= 1 else f" {p50:.1f} ms"
    if result["cell"].startswith("auto-") and result.get("async_mode"):
        label += f" as {result['async_mode']}"  # what SocketIO(app) resolved to
    if result["verdict"] != result.get("expected"):
        label = f"! {label} (expected {result.get('expected')})"
    return label


def cell_text(result: dict | None) -> Text:
    """The label, coloured by verdict; reversed where it differs from the expectation."""
    verdict = None if result is None or result.get("skipped") else result["verdict"]
    style = STYLE.get(verdict, "")
    if verdict is not None and verdict != result.get("expected"):
        style = "bold reverse " + style
    return Text(cell_label(result), style=style)


def layout(results: list[dict]) -> tuple[list[str], list[str], dict[str, dict]]:
    """Rows (mode-patch) and columns (spawn-wait) over the cells the results name."""
    by_id = {r["cell"]: r for r in results}
    cells = [c for c in all_cells() if c.id in by_id]
    rows = list(dict.fromkeys(c.row for c in cells))
    columns = list(dict.fromkeys(c.column for c in cells))
    return rows, columns, by_id


CORNER = "mode-patch \\ spawn-wait"


def grid(results: list[dict], title: str = "emitcheck matrix") -> Table:
    rows, columns, by_id = layout(results)
    table = Table(title=title, show_lines=False)
    table.add_column(CORNER, style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(row, *(cell_text(by_id.get(f"{row}-{col}")) for col in columns))
    return table


def markdown(results: list[dict], env: dict) -> str:
    """A block to paste into a GitHub issue: environment, grid, evidence, links."""
    rows, columns, by_id = layout(results)
    present = ", ".join(f"{name} {version}" for name, version in env["versions"].items()
                        if version and name != "python")
    lines = [
        f"#### emitcheck {env['emitcheck']} matrix",
        "",
        f"**Environment:** {env['python_implementation']} {env['versions']['python']} on "
        f"{env['os']}; {present}",
        "",
        f"| {CORNER} | " + " | ".join(f"`{c}`" for c in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for row in rows:
        labels = (cell_label(by_id.get(f"{row}-{col}")) for col in columns)
        lines.append(f"| `{row}` | " + " | ".join(labels) + " |")
    failing = [r for r in results if not r.get("skipped") and r["verdict"] != "delivered"]
    if failing:
        lines += ["", "**Cells not delivered:**", ""]
        for r in failing:
            changed = "" if r["verdict"] == r["expected"] else \
                f" (emitcheck expected {r['expected']})"
            lines.append(f"- `{r['cell']}`: **{r['verdict']}**{changed}: {r['evidence']} "
                         f"([why]({r['doc']}))")
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
    """Combine results from several environments: a run cell beats a skipped one."""
    merged: dict[str, dict] = {}
    for results in results_lists:
        for result in results:
            known = merged.get(result["cell"])
            if known is None or (known.get("skipped") and not result.get("skipped")):
                merged[result["cell"]] = result
    order = {c.id: i for i, c in enumerate(all_cells())}
    return sorted(merged.values(), key=lambda r: order.get(r["cell"], len(order)))


def load(paths: list[Path]) -> list[dict]:
    """Read result files (or every *.json in a directory) and merge them."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    lists = []
    for file in files:
        data = json.loads(file.read_text())
        for result in data:
            parse(result["cell"])  # a malformed file fails here, with the bad id
        lists.append(data)
    return merge(lists)
