"""What the commands of ``emitcheck`` share: their exit statuses, their common
options, and how a run's results become an exit status.

Every command exits with one of these (its docstring says which mean what for
it); a signal ends any of them with 128 + its number (main.py's group):

- ``OK`` (0): every cell got the verdict we measured before (``app``, ``probe``:
  delivered; ``sweep``, ``report`` of sweeps, a baseline: nothing changed);
- ``DIFFERS`` (1): a verdict differs from that (or was not delivered, or changed);
- ``BAD_INPUT`` (2): bad input, one line (click's usage errors exit with it);
- ``NOT_CLEAN`` (3): emitcheck's own machinery failed in a cell (or a sweep has
  no answer): no verdict to compare.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from emitcheck.matrix import cells
from emitcheck.model.results import CellResult
from emitcheck.outputs.files import cannot_write

OK = 0
DIFFERS = 1
BAD_INPUT = 2
NOT_CLEAN = 3

F = TypeVar("F", bound=Callable[..., Any])


def status(results: Iterable[CellResult]) -> int:
    """NOT_CLEAN when emitcheck failed in a cell, else OK when every cell got
    the verdict we measured before (or was skipped), else DIFFERS."""
    results = list(results)
    if any(r.failure for r in results):
        return NOT_CLEAN
    return OK if all(r.matches for r in results) else DIFFERS


def width() -> int:
    """The grid's width: the terminal's, and never narrower than 132 columns."""
    return max(132, shutil.get_terminal_size((140, 20)).columns)


def parse_cell(cell_id: str) -> cells.Cell:
    """A cell of our matrix, or a one-line usage error saying what is valid."""
    try:
        return cells.parse_ours(cell_id)
    except cells.CellError as exc:
        raise click.UsageError(str(exc)) from None


# -- options more than one command takes -------------------------------------------


def pattern_option(help: str) -> Callable[[F], F]:
    """``-k PATTERN``: which cells (each command says of which)."""
    return click.option("-k", "pattern", default=None, metavar="PATTERN", help=help)


def json_option(help: str) -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help)


def markdown_option(help: str) -> Callable[[F], F]:
    return click.option("--markdown", "as_markdown", is_flag=True, help=help)


jobs_option = click.option("--jobs", type=click.IntRange(1, 64), default=None,
                           help="Cells run at once (default: 16 per core).")


def _writable(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and (problem := cannot_write(value)):
        raise click.BadParameter(problem)  # before the run, not after it
    return value


html_option = click.option(
    "--html", "html_path", metavar="FILE", callback=_writable,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as one self-contained HTML file: the grids and a timeline "
         "per cell (docs/html-report.md).")


def save_html(path: Path, results: list[CellResult], environments: dict[str, dict],
              **how: Any) -> None:
    """Write the HTML report (``--html``); a failure is a one-line usage error."""
    from emitcheck.outputs import html  # Jinja2: only when a page is written

    try:
        html.write(path, results, environments, **how)
    except html.ReportError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"HTML report written to {path}", err=True)
