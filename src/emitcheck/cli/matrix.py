"""``emitcheck list``, ``run CELL`` and ``matrix``: our matrix's cells, one or many.

``run`` and ``matrix`` exit OK when every cell matched its expectation,
DIFFERS when a verdict differs, NOT_CLEAN when emitcheck's own machinery
failed in a cell (the cell's result says why; the other cells still ran).

Both take ``--others-with REQ`` / ``--others-python PATH``: the processes of a
cell other than the web server then run another environment's releases
(options.py's ``others``; docs/sweep.md#mixed-releases).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from emitcheck.cli import options
from emitcheck.matrix import baselines, cells
from emitcheck.model.results import CellResult, results_document
from emitcheck.outputs import files, grid
from emitcheck.system import environment


def _select(pattern: str | None) -> list[cells.Cell]:
    try:
        return cells.select(pattern)
    except cells.CellError as exc:
        raise click.UsageError(str(exc)) from None


def _run(selected: list[cells.Cell], jobs: int | None = None,
         others: options.Others = options.Others(), live: bool = False) -> list[CellResult]:
    """Run cells; Ctrl-C, SIGTERM or SIGHUP stops every server (main.py's group).
    When the other processes' environment could not be built, every cell is
    skipped saying why. ``live``: draw the grid as the cells finish (a terminal)."""
    from emitcheck.running import runner  # the servers' stack: only when cells run

    if others.skipped:
        return [runner.not_run(cell, others.skipped) for cell in selected]
    if not live:
        return runner.run_many(selected, jobs=jobs, others_python=others.python)
    from emitcheck.outputs.live import LiveGrid

    with LiveGrid(len(selected), options.width()) as shown:
        return runner.run_many(selected, jobs=jobs, others_python=others.python,
                               on_result=shown.add)


@click.command("list")
@click.option("--all", "everything", is_flag=True,
              help="Every valid combination of values, not only the default matrix.")
def list_cells(everything: bool) -> None:
    """Print the cell ids of the default matrix (or every valid one), one a line."""
    for cell in cells.possible_cells() if everything else cells.all_cells():
        click.echo(cell.id)


@click.command()
@click.argument("cell_id")
@options.json_option("Print the result as JSON.")
@options.others_options
def run(cell_id: str, as_json: bool, others_with: tuple[str, ...],
        others_python: str | None) -> None:
    """Run one cell (a real server and a real client) and print its verdict.
    Any valid combination of values is a cell (see 'emitcheck list --all')."""
    cell = options.parse_cell(cell_id)
    [result] = _run([cell], jobs=1, others=options.others(others_with, others_python))
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else grid.summary(result))
    sys.exit(options.status([result]))


@click.command()
@options.pattern_option("Only these cells: a whole cell id selects that cell, anything else "
                        "the cells whose id contains it (or matches it as a glob); several "
                        "separated by commas, each of which must select a cell.")
@options.json_option("Print a JSON list of results.")
@options.markdown_option("Print a block to paste into a GitHub issue.")
@options.jobs_option
@click.option("--save-baseline", type=click.Path(dir_okay=False, path_type=Path),
              callback=files.checked,
              help="Write the observed verdicts and the environment to this file.")
@click.option("--check-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Compare with this baseline: exit 1 and list every changed cell.")
@options.html_option
@options.others_options
@click.option("--no-skip", is_flag=True,
              help="Exit 1 when a cell was skipped (CI: every family must run here).")
def matrix(pattern: str | None, as_json: bool, as_markdown: bool, jobs: int | None,
           save_baseline: Path | None, check_baseline: Path | None,
           html_path: Path | None, others_with: tuple[str, ...],
           others_python: str | None, no_skip: bool) -> None:
    """Run many cells at once and print the grid.

    Exits 0 when every cell matched its expectation (with --check-baseline:
    when no cell changed its verdict), 1 otherwise, 3 when emitcheck itself
    failed in a cell.
    """
    selected = _select(pattern)
    recorded = None
    if check_baseline is not None:
        try:
            recorded = baselines.load(check_baseline)
        except baselines.BaselineError as exc:
            raise click.UsageError(str(exc)) from None
    live = sys.stdout.isatty() and not (as_json or as_markdown)
    results = _run(selected, jobs, options.others(others_with, others_python), live=live)
    env = environment.environment()
    if as_json:
        click.echo(json.dumps(results_document(results, env), indent=2))
    elif as_markdown:
        click.echo(grid.markdown(results, env), nl=False)
    else:
        grid.show(grid.grid(results), width=options.width())
        for result in results:
            if not result.matches:
                click.echo(grid.summary(result))
    if html_path is not None:
        options.save_html(html_path, results, {"this run": env},
                          title=f"emitcheck matrix -k {pattern}" if pattern
                          else "emitcheck matrix")
    status = options.status(results)
    skipped = [r for r in results if r.skipped]
    if no_skip and skipped and status == options.OK:
        click.echo(f"emitcheck: {len(skipped)} cell(s) skipped (--no-skip), the first: "
                   f"{skipped[0].cell}: {skipped[0].skipped}", err=True)
        status = options.DIFFERS
    if save_baseline is not None:
        _save_baseline(save_baseline, results, env, status)
    if recorded is not None:
        comparison = baselines.compare(recorded, results, env)
        for line in comparison.lines():
            click.echo(line, err=as_json or as_markdown)
        click.echo(f"baseline {check_baseline}: "
                   + ("no cell changed" if comparison.ok
                      else f"{len(comparison.changed)} cell(s) changed"),
                   err=as_json or as_markdown)
        sys.exit(status if status == options.NOT_CLEAN
                 else options.OK if comparison.ok else options.DIFFERS)
    sys.exit(status)


def _save_baseline(path: Path, results: list[CellResult], env: dict, status: int) -> None:
    """Write the baseline (its path was checked before the run); a run where no
    cell got a verdict writes none: a baseline without verdicts checks nothing."""
    if not any(result.verdict for result in results):
        click.echo(f"emitcheck: no baseline written to {path}: no cell got a verdict here "
                   "(every one was skipped or failed), and a baseline without verdicts "
                   "checks nothing", err=True)
        sys.exit(status if status == options.NOT_CLEAN else options.BAD_INPUT)
    try:
        baselines.save(path, results, env)
    except OSError as exc:  # checked before the run: a full disk, say
        click.echo(f"emitcheck: cannot write the baseline {path}: {exc.strerror or exc}",
                   err=True)
        sys.exit(options.NOT_CLEAN)
    click.echo(f"baseline written to {path}", err=True)
