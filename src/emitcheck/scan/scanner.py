"""One scan: the Python files under the paths given, read into one program
(program.py), every selected rule run on it, each match judged (findings.py).

Every path given is read as one project: the server made in one module and the
thread started in another are seen together. Its dependencies and deployment
files are those of the nearest folder above the paths that declares them.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from emitcheck.scan import project, source
from emitcheck.scan.findings import Finding, ignored, judge
from emitcheck.scan.program import Program
from emitcheck.scan.rules import RULES, Rule

#: Folders never scanned below a path given (a path given is always scanned).
SKIPPED = frozenset({".git", ".hg", ".tox", ".nox", ".venv", "venv", "env", "node_modules",
                     "__pycache__", "site-packages", "build", "dist", ".eggs",
                     ".mypy_cache", ".ruff_cache", ".pytest_cache"})


class ScanError(ValueError):
    """Bad input: a path that does not exist, a file named that is not Python."""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    delivered: list[Finding] = field(default_factory=list)  # matched, measured delivered
    files: int = 0
    lines: int = 0
    unreadable: list[str] = field(default_factory=list)      # files under a folder that
    #                                                          do not parse, one line each
    dependencies: list[str] = field(default_factory=list)    # the files auto was read from


def select_rules(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Rule]:
    """The rules whose code starts with one of ``select`` (all when empty) and
    with none of ``ignore``; an unknown code or prefix is a ScanError."""
    select, ignore = [s.upper() for s in select], [s.upper() for s in ignore]
    for prefix in (*select, *ignore):
        if not any(r.code.startswith(prefix) for r in RULES):
            raise ScanError(f"unknown rule {prefix!r}; rules: "
                            f"{', '.join(r.code for r in RULES)}")
    return [r for r in RULES if (not select or r.code.startswith(tuple(select)))
            and not (ignore and r.code.startswith(tuple(ignore)))]


def python_files(paths: Iterable[Path]) -> list[tuple[Path, Path, bool]]:
    """(file, the folder module names start from, named by the user) for each file."""
    found: list[tuple[Path, Path, bool]] = []
    for path in paths:
        if not path.exists():
            raise ScanError(f"no such file or folder: {path}")
        if path.is_file():
            found.append((path, path.parent, True))
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith("."))
            found.extend((Path(folder) / f, path, False) for f in sorted(files)
                         if f.endswith(".py"))
    return found


def _module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    parts = [p for p in relative.parts if p]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or path.stem


def read_program(paths: list[Path], have: Callable[[str], bool] = project.installed
                 ) -> tuple[Program, Report]:
    report = Report()
    modules = []
    for path, start, named in python_files(paths):
        try:
            text = path.read_bytes()
            tree = ast.parse(text, filename=str(path))
        except (SyntaxError, ValueError, OSError) as exc:
            if named:
                raise ScanError(f"{path}: not Python that parses: {exc}") from None
            report.unreadable.append(f"{path}: {type(exc).__name__}")
            continue
        report.files += 1
        report.lines += text.count(b"\n") + 1
        modules.append(source.read(path, _module_name(path, start), tree))
    common = _common(paths)
    root = project.find_root(common)
    declared = project.declared(root)
    if declared is not None:
        report.dependencies = declared.sources
    deployed = root or (common if common.is_dir() else common.parent)
    return Program(modules, declared, project.deployments(deployed), have), report


def _common(paths: list[Path]) -> Path:
    resolved = [p.resolve() for p in paths]
    return Path(os.path.commonpath(resolved)) if resolved else Path.cwd()


def scan(paths: list[Path], rules: list[Rule] | None = None,
         have: Callable[[str], bool] = project.installed) -> Report:
    program, report = read_program(paths, have)
    seen: set[tuple[Path, int, str]] = set()
    lines: dict[Path, list[str]] = {}
    for rule in RULES if rules is None else rules:
        for match in rule.match(program):
            finding = judge(rule.code, rule.remedy, rule.anchor, match)
            key = (match.path, match.line, rule.code)
            if finding is None or key in seen or ignored(finding, lines):
                continue
            if finding.delivered:
                report.delivered.append(finding)
            else:
                seen.add(key)
                report.findings.append(finding)
    report.findings.sort(key=lambda f: (str(f.path), f.line, f.code))
    report.delivered = [d for d in report.delivered
                        if (d.path, d.line, d.code) not in seen]
    return report
