"""Baselines: the verdicts seen in one environment, kept in a file for CI.

A baseline file is JSON:
``{"schema": 1, "environment": {...}, "verdicts": {cell id: verdict}}``.
Comparing a run with it lists one line per changed cell
(``gevent-unpatched-thread-time_sleep: delayed -> delivered``), and warns, without
failing, when the baseline was recorded on another environment (another Python,
another gevent, ...), naming what differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emitcheck.matrix.cell import CellError
from emitcheck.matrix.cells import parse
from emitcheck.model.results import (
    ENVIRONMENT,
    SCHEMA,
    VERDICTS,
    CellResult,
    SchemaError,
    check,
    check_schema,
)

#: How many ids of baseline cells that did not run a comparison names (it counts them all).
NOT_RUN_SHOWN = 5


class BaselineError(SchemaError):
    """A baseline file that is missing or malformed; the message says which and why,
    in one line."""


@dataclass
class Comparison:
    changed: list[str] = field(default_factory=list)    # "cell: old -> new"
    warnings: list[str] = field(default_factory=list)   # environment differences
    notes: list[str] = field(default_factory=list)      # cells only on one side

    @property
    def ok(self) -> bool:
        return not self.changed

    def lines(self) -> list[str]:
        return ([f"warning: {w}" for w in self.warnings] + self.changed
                + [f"note: {n}" for n in self.notes])


def make(results: Sequence[CellResult], env: dict) -> dict:
    return {"schema": SCHEMA, "environment": env,
            "verdicts": {r.cell: r.verdict for r in results if r.verdict}}


def save(path: Path, results: Sequence[CellResult], env: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(make(results, env), indent=1, sort_keys=True) + "\n",
                    encoding="utf-8")


def load(path: Path) -> dict:
    """The baseline in ``path``, or a one-line BaselineError naming the file and
    the field: the schema, an ``environment`` object (if any) whose fields are of
    their types, and a ``verdicts`` object of at least one valid cell id, each
    with a verdict among VERDICTS (a baseline with none checks nothing)."""
    what = f"baseline {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{what} does not exist; write one with --save-baseline") from None
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BaselineError(f"{what} is not valid JSON: nested too deep") from None
    try:
        data = check_schema(data, what)
        if data.get("environment") is not None:
            check(data["environment"], ENVIRONMENT, what, "environment")
    except SchemaError as exc:
        raise BaselineError(str(exc)) from None
    if not isinstance(data.get("verdicts"), dict):
        raise BaselineError(f"{what} has no 'verdicts' object "
                            "(expected {\"environment\": ..., \"verdicts\": {cell: verdict}})")
    if not data["verdicts"]:
        raise BaselineError(f"{what} has no verdicts, so it checks nothing: save one from a "
                            "run where cells got a verdict (not all skipped or failed)")
    for cell_id, verdict in data["verdicts"].items():
        try:
            parse(cell_id)
        except CellError as exc:
            raise BaselineError(f"{what}: {exc}") from None
        if verdict not in VERDICTS:
            raise BaselineError(f"{what}: {cell_id} has verdict {_short(verdict)}; "
                                f"valid verdicts: {', '.join(VERDICTS)}")
    return data


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _environment_differences(recorded: dict, current: dict) -> list[str]:
    differences = []
    for key in ("python_implementation", "os"):
        if recorded.get(key) != current.get(key):
            differences.append(f"{key} {recorded.get(key)} there, {current.get(key)} here")
    old, new = recorded.get("versions") or {}, current.get("versions") or {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            differences.append(f"{name} {old.get(name) or 'absent'} there, "
                               f"{new.get(name) or 'absent'} here")
    return differences


def compare(baseline: dict, results: Sequence[CellResult], env: dict) -> Comparison:
    comparison = Comparison()
    differences = _environment_differences(baseline.get("environment") or {}, env)
    if differences:
        comparison.warnings.append("the baseline was recorded on another environment: "
                                   + "; ".join(differences))
    recorded = baseline["verdicts"]
    observed = {r.cell: r.verdict for r in results if r.verdict}
    for cell_id, verdict in observed.items():
        if cell_id not in recorded:
            comparison.notes.append(f"{cell_id} is not in the baseline (now {verdict})")
        elif recorded[cell_id] != verdict:
            comparison.changed.append(f"{cell_id}: {recorded[cell_id]} -> {verdict}")
    not_run = sorted(set(recorded) - set(observed))
    if not_run:
        shown = ", ".join(not_run[:NOT_RUN_SHOWN])
        more = f" and {len(not_run) - NOT_RUN_SHOWN} more" if len(not_run) > NOT_RUN_SHOWN else ""
        comparison.notes.append(f"{len(not_run)} baseline cell(s) not run here: {shown}{more}")
    return comparison
