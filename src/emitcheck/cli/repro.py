"""``emitcheck repro CELL``: write a standalone script that reproduces one cell."""

from __future__ import annotations

from pathlib import Path

import click

from emitcheck.cli import options
from emitcheck.outputs import repro as reproduce


@click.command()
@click.argument("cell_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the script (default: repro-CELL_ID.py).")
def repro(cell_id: str, output: Path | None) -> None:
    """Write a standalone script that reproduces one cell (server and client)."""
    cell = options.parse_cell(cell_id)
    try:
        reproduce.check(cell)
    except reproduce.NotReproducible as exc:
        raise click.UsageError(str(exc)) from None
    try:
        path = reproduce.write(cell, output or Path(f"repro-{cell.id}.py"))
    except OSError as exc:
        raise click.UsageError(f"cannot write the script: {exc}") from None
    click.echo(f"wrote {path}; run it with: python {path}")
