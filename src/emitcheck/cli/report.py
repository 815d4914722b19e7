"""``emitcheck report PATH...``: merge result files into one grid, or sweep
documents of one package into one sweep table.

Exits as the results it merged would (options.status); for sweeps, DIFFERS
when a cell changed its verdict across the releases, else OK.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from emitcheck.cli import options
from emitcheck.model.results import SchemaError
from emitcheck.outputs import grid

TITLE = "emitcheck matrix (all environments)"


@click.command("report")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@options.html_option
def report_cmd(paths: tuple[Path, ...], html_path: Path | None) -> None:
    """Merge result files (JSON from --emitcheck-json or matrix --json) into one grid,
    or sweep documents (emitcheck sweep --json) of one package into one sweep table."""
    if _report_sweeps(paths, html_path):
        return
    try:
        results, environments = grid.load_with_environments(list(paths))
    except ValueError as exc:  # SchemaError, CellError: one line naming the file
        raise click.UsageError(f"cannot read the results: {exc}") from None
    if not results:
        raise click.UsageError(f"no results found in {', '.join(map(str, paths))}")
    grid.show(grid.grid(results, TITLE), width=options.width())
    if html_path is not None:
        options.save_html(html_path, results, environments, title=TITLE)
    sys.exit(options.status(results))


def _report_sweeps(paths: tuple[Path, ...], html_path: Path | None) -> bool:
    """Merge and print sweep documents; False when ``paths`` are not sweeps."""
    from emitcheck.sweep import report as sweep_report

    documents = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):
            return False  # not ours to judge: the results reader says what is wrong
        documents.append(data)
    kinds = {sweep_report.is_sweep(doc) for doc in documents}
    if kinds == {False}:
        return False
    if kinds != {True}:
        raise click.UsageError("give either sweep documents (emitcheck sweep --json) or "
                               "matrix results, not both")
    if html_path is not None:
        raise click.UsageError("--html draws matrix results; for sweeps, each emitcheck "
                               "sweep --markdown is the report")
    try:
        for path, document in zip(paths, documents, strict=True):
            sweep_report.check_document(document, str(path))
    except SchemaError as exc:
        raise click.UsageError(f"cannot read the sweeps: {exc}") from None
    try:
        merged = sweep_report.merged(documents, sweep_report.command_line(sys.argv))
    except (ValueError, TypeError, KeyError) as exc:
        raise click.UsageError(f"cannot merge the sweeps: {exc}") from None
    grid.show(sweep_report.terminal(merged), width=options.width())
    sys.exit(options.DIFFERS if merged.changes else options.OK)
