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
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


class BadInput(click.ClickException):
    """One line, "Error: ...", exit 2."""
    exit_code = BAD_INPUT


class OneLineErrors(click.Command):
    """Bad options are one line too (click's usage errors print the usage first)."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise BadInput(exc.format_message()) from None


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


# -- the other processes' interpreter (run, matrix) -----------------------------------

OTHERS_WITH = "--others-with"
OTHERS_PYTHON = "--others-python"


def others_options(f: F) -> F:
    """``--others-with REQ`` (repeatable) and ``--others-python PATH``: what the
    processes of a cell other than the web server run (docs/sweep.md#mixed-releases)."""
    f = click.option(OTHERS_PYTHON, "others_python", metavar="PATH",
                     type=click.Path(exists=True, dir_okay=False),
                     help="Run the cells' other processes with this Python (and its "
                          "environment's packages) instead of the one running emitcheck.")(f)
    return click.option(
        OTHERS_WITH, "others_with", multiple=True, metavar="REQ",
        help="Run the cells' other processes (the emitter, the Celery worker, server 2 of "
             "two) in an environment that has this one's packages with REQ instead "
             "('python-socketio==5.8.0'), built with uv and cached; the web server stays. "
             "Repeatable.")(f)


@dataclass(frozen=True)
class Others:
    """What ``--others-with``/``--others-python`` gave: the interpreter of the other
    processes (None: ours), or why the cells cannot run at all (``skipped``)."""
    python: str | None = None
    skipped: str | None = None


def others(requirements: tuple[str, ...], python: str | None) -> Others:
    """The other processes' interpreter: ``python``, or that of the environment
    ``requirements`` make (built first unless cached). Bad input is a one-line
    usage error; an environment uv cannot build for want of the package index
    is ``skipped``, said once here."""
    if requirements and python:
        raise click.UsageError(f"{OTHERS_WITH} builds the other processes' environment and "
                               f"{OTHERS_PYTHON} names one: give one of them")
    if python:
        return Others(_interpreter(python))
    if not requirements:
        return Others()
    from emitcheck.sweep.environments import InstallFailed, SweepError, others_environment

    try:
        built = others_environment(requirements, OTHERS_WITH)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None
    except InstallFailed as exc:
        wanted = " ".join(requirements)
        if not exc.offline:
            raise click.UsageError(f"{OTHERS_WITH} {wanted}: uv cannot install it with this "
                                   f"environment's packages: {exc}") from None
        reason = (f"the other processes' environment ({wanted}) could not be built: the "
                  f"package index cannot be reached ({exc})")
        click.echo(f"emitcheck: skipping the cells: {reason}", err=True)
        return Others(skipped=reason)
    if built.built_s is not None:
        click.echo(f"emitcheck: the other processes' environment ({' '.join(requirements)}) "
                   f"built in {built.built_s:g} s: {built.folder}", err=True)
    return Others(str(built.python))


def _interpreter(python: str) -> str:
    """``--others-python``'s value, once it answered as a Python (absolute: the
    processes run elsewhere); a one-line usage error when it does not."""
    from emitcheck.system.environment import versions_of

    path = str(Path(python).absolute())
    if path == sys.executable:
        return path
    try:
        versions_of(path)
    except RuntimeError as exc:
        raise click.UsageError(f"{OTHERS_PYTHON} {python}: {exc}") from None
    return path
