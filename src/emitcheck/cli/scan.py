"""``emitcheck scan [PATH...]``: read a project's Python source (never importing
it) and report where it emits from background work in a way our matrix
measured as not delivered; every finding names its cell and our verdict
(docs/scan.md lists the rules).

Exit status: 0 no finding, 1 findings, 2 bad input (a path that does not
exist, a file named that does not parse, an unknown rule), one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emitcheck.cli import options
from emitcheck.scan import sarif, text
from emitcheck.scan.scanner import ScanError, scan, select_rules


def _codes(values: tuple[str, ...]) -> list[str]:
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


@click.command("scan", cls=options.OneLineErrors)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@options.json_option("Print the findings as JSON (with the matches measured delivered).")
@click.option("--sarif", "as_sarif", is_flag=True,
              help="Print the findings as SARIF 2.1.0 (GitHub code scanning).")
@click.option("--select", multiple=True, metavar="CODES",
              help="Only these rules (codes or prefixes, comma-separated: ECK101,ECK2).")
@click.option("--ignore", multiple=True, metavar="CODES",
              help="Not these rules (codes or prefixes, comma-separated).")
def scan_cmd(paths: tuple[Path, ...], as_json: bool, as_sarif: bool,
             select: tuple[str, ...], ignore: tuple[str, ...]) -> None:
    """Find, without running it, where a project's background work emits in a way
    our matrix measured as not delivered (PATH: files or folders, default .).

    Every PATH is read as one project: its dependencies (pyproject.toml,
    requirements*.txt, setup.cfg) say what async_mode left to auto resolves to.
    Silence a finding with '# emitcheck: ignore[ECK101]' on its line."""
    if as_json and as_sarif:
        raise options.BadInput("give --json or --sarif, not both")
    try:
        rules = select_rules(_codes(select), _codes(ignore))
        report = scan(list(paths) or [Path(".")], rules)
    except ScanError as exc:
        raise options.BadInput(str(exc)) from None
    if as_sarif:
        click.echo(sarif.sarif(report))
    elif as_json:
        click.echo(text.as_json(report))
    else:
        click.echo(text.text(report))
    sys.exit(options.DIFFERS if report.findings else options.OK)
