"""``emitcheck sweep``: the same cells in one environment per release of a package.

A *row* is one Python and one release: the cells' results in that
environment, or the reason it has none (uv could not install the release on
that Python, or emitcheck could not run there). A *change* is a cell whose
verdict differs between two rows that ran, next to each other in version
order on the same Python (a row without results is stepped over). ``bisect``
finds the first release whose verdicts differ from the good one's in about
log2(n) environments.

The cells run in the environment's own Python, one ``emitcheck matrix -k
IDS --json`` (environments.py says how emitcheck gets there), bounded in time;
its results are read back through ``CellResult.from_json``, so a result of
another schema is an error, not a wrong verdict.

Where the release goes (``sweep --swept-in``): into every process of a cell (``all``);
into the web server only (``server``: the cells run in the release's
environment, their other processes on the running Python, ``--others-python``);
or into the other processes only (``others``: the cells run on the running
Python, their other processes in the running environment with the release
overriding it, ``OthersSpec``), the web server staying as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emitcheck.matrix.cell import Cell
from emitcheck.model.results import CellResult, SchemaError, check_schema
from emitcheck.sweep.environments import (
    INSTALL_TIMEOUT,
    Environment,
    EnvSpec,
    InstallFailed,
    OthersSpec,
    Python,
    ensure,
    extras_for,
    first_line,
    run_env,
)
from emitcheck.sweep.index import Index
from emitcheck.system.cache import self_copy
from emitcheck.system.process import die_with_parent_prefix, run_bounded

#: Seconds the cells of one environment may take: imports, then each cell's
#: window (a few seconds; they run in parallel but CPU-bound ones alone).
RUN_TIMEOUT_BASE = 90.0
RUN_TIMEOUT_PER_CELL = 30.0
#: How a row's reason starts when uv could not install the release (not a failure of ours).
NOT_INSTALLED = "cannot be installed"


@dataclass
class Row:
    """One Python and one release: the cells' results, or why there are none."""
    python: str
    version: str
    results: list[CellResult] = field(default_factory=list)
    reason: str | None = None       # why nothing ran: uv's or emitcheck's words
    installed: dict[str, str] = field(default_factory=dict)
    environment: str | None = None  # its folder
    built_s: float | None = None    # seconds to build its environment (None: cached)
    ran_s: float | None = None      # seconds the cells took there, imports included

    @property
    def ran(self) -> bool:
        return self.reason is None

    @property
    def inconclusive(self) -> str | None:
        """Why this row tells nothing about the cells (it did not run, or emitcheck
        failed in a cell), or None."""
        if self.reason is not None:
            return self.reason
        failed = next((r for r in self.results if r.failure), None)
        return f"emitcheck failed in {failed.cell}: {failed.failure}" if failed else None

    @property
    def not_installed(self) -> bool:
        """uv could not install the release (the reason is uv's)."""
        return (self.reason or "").startswith(NOT_INSTALLED)

    @property
    def emitcheck_failed(self) -> bool:
        """Inconclusive for a reason of ours (not uv's: the release installed)."""
        return self.inconclusive is not None and not self.not_installed

    def result(self, cell: str) -> CellResult | None:
        return next((r for r in self.results if r.cell == cell), None)

    def to_json(self) -> dict:
        return {"python": self.python, "version": self.version, "reason": self.reason,
                "installed": self.installed, "environment": self.environment,
                "built_s": self.built_s, "ran_s": self.ran_s,
                "results": [r.to_json() for r in self.results]}


def outcome(result: CellResult | None) -> str:
    """What a change compares: the verdict, or that the cell was skipped or failed
    (``CellResult.outcome``), or that it did not run."""
    return "not run" if result is None else result.outcome


def signature(row: Row, cells: Sequence[str]) -> tuple[str, ...]:
    return tuple(outcome(row.result(cell)) for cell in cells)


def run_timeout(cells: Sequence[Cell]) -> float:
    return RUN_TIMEOUT_BASE + RUN_TIMEOUT_PER_CELL * len(cells)


def run_cells(environment: Environment, cells: Sequence[Cell], emitcheck: Path,
              workdir: Path, swept_in: str = "all") -> list[CellResult]:
    """The cells' results with ``environment`` where ``swept_in`` says (checked).
    Raises RuntimeError with one line when emitcheck could not run there."""
    timeout = run_timeout(cells)
    python, others, env = str(environment.python), [], run_env(environment, emitcheck)
    if swept_in == "server":
        others = ["--others-python", sys.executable]
    elif swept_in == "others":  # emitcheck runs here; its other processes there
        python, env = sys.executable, dict(os.environ)
        others = ["--others-python", str(environment.python)]
    argv = [*die_with_parent_prefix(), python, "-m", "emitcheck",
            "matrix", "-k", ",".join(c.id for c in cells), "--json", *others]
    try:
        done = run_bounded(argv, workdir, timeout, env=env)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the cells did not finish within {timeout:g} s in "
                           f"{environment.folder}") from None
    try:
        document = check_schema(json.loads(done.stdout), "emitcheck matrix --json")
        results = [CellResult.from_json(r, f"result of {r.get('cell')}")
                   for r in document["results"]]
    except (ValueError, SchemaError, KeyError, TypeError):
        raise RuntimeError(f"emitcheck could not run there (status {done.returncode}): "
                           f"{first_line(done.stderr)}") from None
    return results


@dataclass(frozen=True)
class Change:
    """A cell whose outcome differs between two rows next to each other."""
    cell: str
    python: str
    before: Row
    after: Row

    def to_json(self) -> dict:
        def side(row: Row) -> dict:
            result = row.result(self.cell)
            return {"version": row.version, "outcome": outcome(result),
                    "evidence": result and (result.evidence or result.reason) or "",
                    "versions": result.versions if result else {}}
        return {"cell": self.cell, "python": self.python,
                "from": side(self.before), "to": side(self.after)}


def changes(rows: Sequence[Row], cells: Sequence[str]) -> list[Change]:
    """Every change of a cell's outcome from one row to the next, per Python (rows in
    version order). A row where the cell has no outcome (it did not run, or emitcheck
    failed in it) is stepped over: its neighbours are compared."""
    found = []
    for python in dict.fromkeys(row.python for row in rows):
        for cell in cells:
            told = [row for row in rows if row.python == python and row.ran
                    and outcome(row.result(cell)) != "emitcheck failed"]
            found += [Change(cell, python, before, after)
                      for before, after in zip(told, told[1:], strict=False)
                      if outcome(before.result(cell)) != outcome(after.result(cell))]
    order = {id(row): i for i, row in enumerate(rows)}
    return sorted(found, key=lambda c: (order[id(c.after)], order[id(c.before)],
                                        cells.index(c.cell)))


@dataclass
class Bisection:
    """What ``--bisect`` found: the two releases that bracket the change (or none)."""
    good: Row
    bad: Row
    tried: list[Row]                    # in the order they were built
    skipped: list[Row]                  # releases tried that could not run, oldest first
    changed: bool                       # did the bad release's outcome differ at all?

    def to_json(self) -> dict:
        return {"good": self.good.version, "bad": self.bad.version, "changed": self.changed,
                "tried": [row.version for row in self.tried],
                "skipped": [{"version": row.version, "reason": row.inconclusive}
                            for row in self.skipped]}


def bisect(versions: Sequence[str], evaluate: Callable[[str], Row],
           cells: Sequence[str]) -> Bisection:
    """The first release of ``versions`` (the good one first, the bad one last)
    whose outcomes differ from the first's, by binary search; a release that is
    inconclusive (it cannot be installed, or emitcheck failed there) is stepped
    over: the untried one nearest the middle is tried instead. ``evaluate``
    builds and runs one release."""
    rows: dict[int, Row] = {}
    order: list[Row] = []

    def at(index: int) -> Row:
        if index not in rows:
            rows[index] = evaluate(versions[index])
            order.append(rows[index])
        return rows[index]

    good, bad = at(0), at(len(versions) - 1)
    for end, row in (("good", good), ("bad", bad)):
        if row.inconclusive:
            raise RuntimeError(f"--bisect: the {end} release {row.version} tells nothing: "
                               f"{row.inconclusive}")
    wanted = signature(good, cells)
    if signature(bad, cells) == wanted:
        return Bisection(good, bad, order, [], changed=False)
    low, high = 0, len(versions) - 1
    while True:
        middle = (low + high) // 2
        untried = sorted((i for i in range(low + 1, high) if i not in rows),
                         key=lambda i: (abs(i - middle), i))
        if not untried:
            break
        row = at(untried[0])
        if row.inconclusive:
            continue
        if signature(row, cells) == wanted:
            low = untried[0]
        else:
            high = untried[0]
    skipped = [rows[i] for i in sorted(rows) if rows[i].inconclusive]
    return Bisection(rows[low], rows[high], order, skipped, changed=True)


@dataclass
class Sweeper:
    """Builds (or finds) each environment and runs the cells there: one ``row``
    per call. ``say`` hears what it is doing (the progress bar)."""
    package: str
    cells: Sequence[Cell]
    uv: str
    index: Index
    pins: tuple[str, ...] = ()
    install_timeout: float = INSTALL_TIMEOUT
    say: Callable[[str], None] = lambda _: None
    workdir: Path = field(default_factory=Path.cwd)
    #: Which processes of a cell get the release: all, server, others (``--swept-in``).
    swept_in: str = "all"
    _emitcheck: Path | None = None

    def spec(self, python: Python, version: str) -> EnvSpec | OthersSpec:
        if self.swept_in == "others":
            return OthersSpec(python, (f"{self.package}=={version}", *self.pins))
        return EnvSpec(python, self.package, version, self.pins,
                       tuple(sorted(extras_for(self.cells))))

    def row(self, python: Python, version: str) -> Row:
        spec = self.spec(python, version)
        where = f"{self.package} {version} on Python {python.version}"
        if self.swept_in != "all":
            where += f" ({'the web server' if self.swept_in == 'server' else 'other processes'})"
        row = Row(python.asked, version, environment=str(spec.folder))
        self.say(f"environment: {where}")
        try:
            environment = ensure(spec, self.uv, self.index, self.install_timeout)
        except InstallFailed as exc:
            row.reason = f"{NOT_INSTALLED}: {exc}"
            return row
        row.installed, row.built_s = environment.installed, environment.built_s
        if self._emitcheck is None:
            self._emitcheck = self_copy()
        self.say(f"cells: {where}")
        started = time.perf_counter()
        try:
            row.results = run_cells(environment, self.cells, self._emitcheck, self.workdir,
                                    self.swept_in)
        except RuntimeError as exc:
            row.reason = str(exc)
        row.ran_s = round(time.perf_counter() - started, 1)
        return row
