"""A scan as text (one line per finding, as compilers and linters print them)
and as JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

from emitcheck.model.docs import doc_url
from emitcheck.scan.findings import Finding
from emitcheck.scan.rules import BY_CODE
from emitcheck.scan.scanner import Report


def shown(path: Path) -> str:
    """A path as the user would write it: relative to here when below it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:  # another drive
        return str(path)


def line(finding: Finding) -> str:
    return (f"{shown(finding.path)}:{finding.line}: {finding.code} {finding.message} "
            f"[cell {finding.cell_said}: {finding.verdict}] {finding.remedy}")


def text(report: Report) -> str:
    lines = [line(f) for f in report.findings]
    count = len(report.findings)
    summary = (f"{count} finding{'s' if count != 1 else ''} in {report.files} file"
               f"{'s' if report.files != 1 else ''} ({report.lines} lines)")
    if report.unreadable:
        summary += f"; {len(report.unreadable)} file(s) skipped: they do not parse"
    return "\n".join([*lines, summary])


def as_dict(finding: Finding) -> dict:
    return {"path": shown(finding.path), "line": finding.line, "rule": finding.code,
            "name": BY_CODE[finding.code].name, "message": finding.message,
            "cell": finding.cell, "resolved": finding.resolved, "verdict": finding.verdict,
            "why": finding.why, "cell_doc": doc_url(finding.doc), "remedy": finding.remedy,
            "rule_doc": doc_url(finding.rule_doc)}


def as_json(report: Report) -> str:
    return json.dumps({
        "findings": [as_dict(f) for f in report.findings],
        # Matches our matrix measured delivered on this stack: not findings.
        "delivered": [as_dict(f) for f in report.delivered],
        "files": report.files, "lines": report.lines,
        "skipped": report.unreadable, "dependencies": report.dependencies,
    }, indent=2)
