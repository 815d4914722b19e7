"""A scan as SARIF 2.1.0, the format GitHub code scanning reads (upload it with
github/codeql-action/upload-sarif). Every rule is in the driver's rules, with
its evidence cells; each finding is a result whose location is the file,
relative to where the scan ran, and its line."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import PurePath

from emitcheck.model.docs import doc_url
from emitcheck.scan.findings import Finding
from emitcheck.scan.rules import RULES
from emitcheck.scan.scanner import Report
from emitcheck.scan.text import shown

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
#: Events that never arrive (or a server that stops) are errors; late ones a warning.
LEVELS = {"delayed": "warning"}


def _version() -> str:
    try:
        return importlib.metadata.version("emitcheck")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _rule(rule) -> dict:
    described = {"id": rule.code, "name": "".join(w.title() for w in rule.name.split("-")),
                 "shortDescription": {"text": rule.summary},
                 "fullDescription": {"text": rule.summary},
                 "help": {"text": f"{rule.remedy}. Evidence: {', '.join(rule.evidence)}."},
                 "defaultConfiguration": {"level": "error"},
                 "properties": {"evidence": list(rule.evidence), "tags": ["socketio"]}}
    url = doc_url(rule.anchor)
    if url.startswith(("http://", "https://")):
        described["helpUri"] = url
    return described


def _result(finding: Finding, index: dict[str, int]) -> dict:
    return {
        "ruleId": finding.code, "ruleIndex": index[finding.code],
        "level": LEVELS.get(finding.verdict, "error"),
        "message": {"text": f"{finding.message} [cell {finding.cell_said}: {finding.verdict}] "
                            f"{finding.remedy}"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": PurePath(shown(finding.path)).as_posix()},
            "region": {"startLine": finding.line}}}],
        "properties": {"cell": finding.cell, "resolved": finding.resolved,
                       "verdict": finding.verdict, "why": finding.why},
    }


def sarif(report: Report) -> str:
    index = {rule.code: number for number, rule in enumerate(RULES)}
    return json.dumps({
        "$schema": SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "emitcheck", "version": _version(),
                                "informationUri": "https://pypi.org/project/emitcheck/",
                                "rules": [_rule(r) for r in RULES]}},
            "results": [_result(f, index) for f in report.findings],
        }],
    }, indent=2)
