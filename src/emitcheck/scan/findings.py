"""What a match becomes: the first of its candidate cells that our matrix has,
judged by our measured verdict (matrix/expectations.py). A cell measured
delivered makes no finding (it is kept apart, so that the JSON can say which
matches the stack delivers); ``# emitcheck: ignore[ECK101]`` on the line
silences one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from emitcheck.matrix.cell import CellError
from emitcheck.matrix.cells import parse
from emitcheck.matrix.expectations import expected
from emitcheck.model.expectation import Expectation
from emitcheck.scan.matchers import Match

_IGNORE = re.compile(r"#\s*emitcheck:\s*ignore\[([A-Za-z0-9,\s]+)\]")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    code: str
    message: str
    cell: str
    resolved: str | None     # what an auto cell resolves to
    verdict: str
    why: str                 # our measured verdict's reason
    doc: str                 # the docs section of the cell
    remedy: str
    rule_doc: str            # the rule's section of docs/scan.md

    @property
    def delivered(self) -> bool:
        return self.verdict == "delivered"

    @property
    def cell_said(self) -> str:
        return f"{self.cell} as {self.resolved}" if self.resolved else self.cell


def judge(code: str, remedy: str, rule_doc: str, match: Match) -> Finding | None:
    """The match as a finding (delivered ones too: the caller sorts them), or None
    when none of its candidates is a cell of our matrix."""
    for cell_id in match.cells:
        verdict = _expected(cell_id, match.resolved)
        if verdict is not None:
            return Finding(match.path, match.line, code, match.detail, cell_id, match.resolved,
                           verdict.verdict, verdict.why, verdict.doc, remedy, rule_doc)
    return None


@cache
def _expected(cell_id: str, resolved: str | None) -> Expectation | None:
    try:
        return expected(parse(cell_id), resolved)
    except CellError:
        return None


def ignored(finding: Finding, lines: dict[Path, list[str]]) -> bool:
    """Does the finding's line say ``# emitcheck: ignore[CODE]``?"""
    text = lines.get(finding.path)
    if text is None:
        try:
            text = lines[finding.path] = finding.path.read_text(errors="replace").splitlines()
        except OSError:
            text = lines[finding.path] = []
    if not 0 < finding.line <= len(text):
        return False
    found = _IGNORE.search(text[finding.line - 1])
    return found is not None and \
        finding.code in {c.strip().upper() for c in found.group(1).split(",")}
