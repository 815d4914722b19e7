"""What ``emitcheck sweep`` prints and writes: the table release x cell, the
evidence of each change, a JSON document, and Markdown for a bug report.

A row's results are ``CellResult``s (``Row.results``: what the sweep's
environments wrote, read and checked once)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from rich.console import Group
from rich.table import Table
from rich.text import Text

from emitcheck.model.results import (
    ANY,
    ENVIRONMENT,
    SCHEMA,
    CellResult,
    Fields,
    ListOf,
    MapOf,
    check,
    check_result,
    check_schema,
)
from emitcheck.outputs.grid import STYLE, median_latency
from emitcheck.sweep.releases import Bisection, Change, Row, outcome
from emitcheck.system.environment import VERSIONED


@dataclass
class Sweep:
    """Everything one ``emitcheck sweep`` found, for the outputs."""
    package: str
    cells: list[str]
    rows: list[Row]
    command: str                        # how to run it again
    asked: dict = field(default_factory=dict)   # versions, with, pythons, index
    environment: dict = field(default_factory=dict)  # where emitcheck ran (OS, ...)
    changes: list[Change] = field(default_factory=list)
    bisection: Bisection | None = None

    @property
    def pythons(self) -> list[str]:
        return list(dict.fromkeys(row.python for row in self.rows))

    @property
    def swept_in(self) -> str:
        """Which processes of a cell got the release (``sweep --swept-in``)."""
        return self.asked.get("swept_in") or "all"

    @property
    def title(self) -> str:
        where = {"server": " in the web server (the other processes stay)",
                 "others": " in the other processes (the web server stays)"}
        return f"emitcheck sweep: {self.package}{where.get(self.swept_in, '')}"


#: What a sweep says when no release ran (none installed, or emitcheck could not run there).
NOTHING_RAN = "no release ran (each row's note says why), so no verdict was compared"


def label(result: CellResult | None) -> str:
    found = outcome(result)
    if result is None or not result.ran:
        return found
    return " ".join(filter(None, (found, median_latency(result))))


def _text(result: CellResult | None) -> Text:
    return Text(label(result), style=STYLE.get(outcome(result), STYLE[None]))


def _note(row: Row) -> str:
    if row.reason:
        return row.reason
    reasons = dict.fromkeys(r.skipped or r.failure for r in row.results)
    return "; ".join(filter(None, reasons))


def table(sweep: Sweep) -> Table:
    """Release x cell -> verdict (and the median latency), with a note per row."""
    several = len(sweep.pythons) > 1
    grid = Table(title=sweep.title, title_justify="left")
    if several:
        grid.add_column("python")
    grid.add_column(sweep.package)
    for cell in sweep.cells:
        grid.add_column(cell, overflow="fold")
    grid.add_column("note", overflow="fold")
    for row in sweep.rows:
        cells = [_text(row.result(c)) if row.ran else Text("-", style="dim")
                 for c in sweep.cells]
        grid.add_row(*([row.python] if several else []), row.version, *cells, _note(row))
    return grid


def change_lines(sweep: Sweep) -> list[str]:
    """The evidence of each change, on both sides."""
    if not sweep.changes:
        ran = sum(row.ran for row in sweep.rows)
        if not ran:
            return [NOTHING_RAN]
        return [f"no cell changed its verdict across the {ran} release(s) that ran"]
    lines = ["what changed (between two releases next to each other that ran):"]
    for change in sweep.changes:
        before, after = change.before, change.after
        lines.append(f"  {change.cell} on Python {change.python}: "
                     f"{outcome(before.result(change.cell))} with {sweep.package} "
                     f"{before.version} -> {outcome(after.result(change.cell))} with "
                     f"{sweep.package} {after.version}")
        lines += [f"    {row.version}: {_side_evidence(row.result(change.cell))}"
                  for row in (before, after)]
    return lines


def bisect_lines(sweep: Sweep) -> list[str]:
    found = sweep.bisection
    if found is None:
        return []
    tried = ", ".join(row.version for row in found.tried)
    lines = [f"bisect: {len(found.tried)} environment(s) ({tried})"]
    lines += [f"  stepped over {row.version}: {row.inconclusive}" for row in found.skipped]
    if not found.changed:
        return [*lines, f"  no change: {found.bad.version} gives the same outcomes as "
                        f"{found.good.version} for {', '.join(sweep.cells)}"]
    first = sweep.asked.get("releases", [found.good.version])[0]
    last = "" if found.good.version == first else f" (the last with the outcomes of {first})"
    lines.append(f"  the change came with {sweep.package} {found.bad.version}: it is between "
                 f"{found.good.version}{last} and {found.bad.version} (the first that differs)")
    for cell in sweep.cells:
        a, b = found.good.result(cell), found.bad.result(cell)
        if outcome(a) != outcome(b):
            lines.append(f"  {cell}: {outcome(a)} -> {outcome(b)}")
            lines.append(f"    {found.good.version}: {_side_evidence(a)}")
            lines.append(f"    {found.bad.version}: {_side_evidence(b)}")
    return lines


def _side_evidence(result: CellResult | None) -> str:
    if result is None:
        return "(none)"
    return result.evidence or result.skipped or result.failure or "(none)"


def terminal(sweep: Sweep) -> Group:
    """The table, then the bisection's finding, or else every change."""
    lines = bisect_lines(sweep) if sweep.bisection else change_lines(sweep)
    return Group(table(sweep), Text("\n".join(lines)))


def document(sweep: Sweep) -> dict:
    """The JSON document: what was asked, every row (with its results) and the changes."""
    return {"schema": SCHEMA, "kind": "sweep", "package": sweep.package,
            "cells": sweep.cells, "asked": sweep.asked, "command": sweep.command,
            "environment": sweep.environment,
            "rows": [row.to_json() for row in sweep.rows],
            "changes": [change.to_json() for change in sweep.changes],
            "bisect": sweep.bisection.to_json() if sweep.bisection else None}


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _stack(before: dict, after: dict, package: str) -> list[str]:
    """Rows of the stack's versions on both sides, those that differ in bold."""
    names = [n for n in ("python", *VERSIONED) if before.get(n) or after.get(n)]
    names = [package, *[n for n in names if n != package]]
    lines = []
    for name in names:
        a, b = before.get(name) or "-", after.get(name) or "-"
        mark = "**" if a != b else ""
        lines.append(f"| {name} | {mark}{a}{mark} | {mark}{b}{mark} |")
    return lines


def _pairs(sweep: Sweep) -> list[tuple[str, Row, Row]]:
    """(cell, before, after) of each change to explain (the bisection's, else the sweep's)."""
    found = sweep.bisection
    if found is not None and found.changed:
        return [(c, found.good, found.bad) for c in sweep.cells
                if outcome(found.good.result(c)) != outcome(found.bad.result(c))]
    return [(c.cell, c.before, c.after) for c in sweep.changes]


def markdown(sweep: Sweep) -> str:
    """A block for a bug report: the table, each change with the stack's versions
    and evidence on both sides, and how to reproduce it."""
    out = [f"### {sweep.title}", "",
           f"| {'python | ' if len(sweep.pythons) > 1 else ''}{sweep.package} | "
           + " | ".join(f"`{c}`" for c in sweep.cells) + " | note |",
           "|" + "---|" * (len(sweep.cells) + 2 + (len(sweep.pythons) > 1))]
    for row in sweep.rows:
        cells = [label(row.result(c)) if row.ran else "-" for c in sweep.cells]
        first = [row.python] if len(sweep.pythons) > 1 else []
        out.append("| " + " | ".join(_md_cell(x) for x in [*first, row.version, *cells,
                                                             _note(row)]) + " |")
    pairs = _pairs(sweep)
    if not pairs:
        out += ["", NOTHING_RAN[0].upper() + NOTHING_RAN[1:] + "."
                if not any(row.ran for row in sweep.rows) else "No cell changed its verdict."]
    for cell, before, after in pairs:
        a, b = before.result(cell), after.result(cell)
        out += ["", f"#### `{cell}`: {outcome(a)} with {sweep.package} {before.version}, "
                    f"{outcome(b)} with {after.version} (Python {before.python})", "",
                f"| | {sweep.package} {before.version} | {sweep.package} {after.version} |",
                "|---|---|---|",
                f"| verdict | {outcome(a)} | {outcome(b)} |",
                f"| evidence | {_md_cell(_side_evidence(a))} | {_md_cell(_side_evidence(b))} |",
                *_stack(_versions(sweep, before, a), _versions(sweep, after, b),
                        sweep.package),
                "", "To reproduce, in an environment with emitcheck installed (Python "
                    f"{_versions(sweep, before, a).get('python', '?')}):", "", "```sh",
                *_reproduce(sweep, cell, [(before, a), (after, b)]),
                "```"]
    env = sweep.environment
    out += ["", f"Found with `{sweep.command}` (emitcheck {env.get('emitcheck', '?')}, "
                f"{env.get('os', '?')} {env.get('os_release', '')}, "
                f"{datetime.now(timezone.utc):%Y-%m-%d}).", ""]
    return "\n".join(out)


def _versions(sweep: Sweep, row: Row, result: CellResult | None) -> dict:
    """The web server's stack in a row: what the result recorded, and the package
    swept where the web server got it."""
    found = dict(result.versions if result else {})
    if sweep.swept_in != "others":
        found[sweep.package] = row.version
    return found


def _others_with(sweep: Sweep, row: Row) -> list[str]:
    """The ``--others-with`` of ``emitcheck run`` that gives the other processes the
    release of the row (``others``), or keeps them on the running one (``server``)."""
    if sweep.swept_in == "others":
        wanted = [f"{sweep.package}=={row.version}", *sweep.asked.get("with", [])]
    elif sweep.swept_in == "server":
        running = sweep.environment.get("versions", {}).get(sweep.package)
        wanted = [f"{sweep.package}=={running}"] if running else []
    else:
        wanted = []
    return [word for req in wanted for word in ("--others-with", req)]


def _reproduce(sweep: Sweep, cell: str,
               sides: list[tuple[Row, CellResult | None]]) -> list[str]:
    """For each side: pip install its stack's versions (and the --with requirements on
    other packages), then run the cell."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = []
    for row, result in sides:
        stack = _versions(sweep, row, result)
        names = list(dict.fromkeys(n for n in (sweep.package, *VERSIONED) if stack.get(n)))
        pinned = {canonicalize_name(n) for n in names}
        others = [p for p in sweep.asked.get("with", []) if sweep.swept_in != "others"
                  and canonicalize_name(Requirement(p).name) not in pinned]
        mixed = _others_with(sweep, row)
        run = shlex.join(["emitcheck", "run", cell, *mixed])
        lines += [f"# {sweep.package} {row.version}: {outcome(result)}",
                  shlex.join(["pip", "install", *(f"{n}=={stack[n]}" for n in names
                                                   if n != "python"), *others]),
                  run if mixed else f"{run}   # or: emitcheck repro {cell} -o repro.py "
                                    "&& python repro.py"]
    return lines


def command_line(argv: Sequence[str]) -> str:
    return "emitcheck " + shlex.join(argv)


#: A row as ``Row.to_json`` writes it; its results as ``CellResult.to_json`` (checked each).
ROW = Fields({"python": str, "version": str, "reason": (str, None), "installed": MapOf(str),
              "environment": (str, None), "built_s": (float, None), "ran_s": (float, None),
              "results": ListOf(MapOf(ANY))})
DOCUMENT = Fields({"schema": int, "kind": str, "package": str, "cells": ListOf(str),
                   "rows": ListOf(ROW)},
                  {"command": str, "environment": ENVIRONMENT, "asked": MapOf(ANY)})


def check_document(data: object, what: str) -> dict:
    """``data`` if it is a sweep document as ``document`` writes it (the fields
    ``merged`` reads, each of its type; every result of every row a result),
    else a one-line SchemaError naming ``what`` and the field."""
    data = check_schema(data, what)
    check(data, DOCUMENT, what)
    for index, row in enumerate(data["rows"]):
        for number, result in enumerate(row["results"]):
            check_result(result, f"{what}: row {index}: result {number}")
    return data


def is_sweep(data: object) -> bool:
    """Is this JSON document what ``emitcheck sweep --json`` writes?"""
    return isinstance(data, dict) and data.get("kind") == "sweep"


def merged(documents: Sequence[dict], command: str) -> Sweep:
    """One sweep from several sweep documents of one package (the jobs of a CI
    workflow, one release and Python each): their rows in Python and version
    order, the changes found again across them. Raises ValueError naming what
    does not fit."""
    from packaging.version import InvalidVersion, Version

    from emitcheck.sweep.releases import changes

    packages = {check_document(doc, "a sweep document")["package"] for doc in documents}
    if len(packages) != 1:
        raise ValueError(f"these sweeps are of different packages ({', '.join(sorted(packages))})"
                         ": merge the sweeps of one package at a time")
    cells = list(dict.fromkeys(cell for doc in documents for cell in doc["cells"]))
    rows = [Row(**{name: row[name] for name in ROW.required if name != "results"},
                results=[CellResult.from_json(r) for r in row["results"]])
            for doc in documents for row in doc["rows"]]

    def order(row: Row) -> tuple:
        try:
            version: tuple = (0, Version(row.version))
        except InvalidVersion:
            version = (1, row.version)
        return (tuple(int(p) for p in row.python.split(".")[:2] if p.isdigit()), version)

    rows.sort(key=order)
    return Sweep(packages.pop(), cells, rows, command,
                 environment=documents[0].get("environment", {}),
                 changes=changes(rows, cells))
