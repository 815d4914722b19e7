"""The ``emitcheck`` command: list, run one cell, run the matrix, merge reports.

Bad input (an unknown cell id, factor value or pattern, a file that is not a
results file) exits 2 with a one-line message that says what is valid. ``run``
and ``matrix`` exit 0 when every cell matched its expectation, 1 when a verdict
differs, and 3 when emitcheck's own machinery failed in a cell (the run is not
clean: the cell's result says why; the other cells still ran).

Ctrl-C (SIGINT), SIGTERM (what CI sends on cancel) and SIGHUP (the terminal
closed) stop every process the command started, remove its temporary
directories and exit 128 + the signal's number (130, 143, 129) with one line
on stderr: ``Emitcheck.invoke`` is the one place that says so, for every
command.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from emitcheck.cli.app import app as app_command
from emitcheck.cli.node import node_install as node_install_command
from emitcheck.cli.probe import probe as probe_command
from emitcheck.cli.sweep import cache as cache_command
from emitcheck.cli.sweep import sweep as sweep_command
from emitcheck.matrix import baselines as baseline
from emitcheck.matrix import cells
from emitcheck.model import results as model
from emitcheck.outputs import files as outputs
from emitcheck.outputs import grid as report
from emitcheck.outputs import html as html_report
from emitcheck.outputs import repro as reproduce
from emitcheck.running import runner
from emitcheck.system import environment

#: Exit status when emitcheck itself failed in a cell (not a verdict).
NOT_CLEAN = 3


def _width() -> int:
    return max(132, shutil.get_terminal_size((140, 20)).columns)


def _select(pattern: str | None) -> list[cells.Cell]:
    try:
        return cells.select(pattern)
    except cells.CellError as exc:
        raise click.UsageError(str(exc)) from None


def _parse(cell_id: str) -> cells.Cell:
    try:
        return cells.parse_ours(cell_id)
    except cells.CellError as exc:
        raise click.UsageError(str(exc)) from None


def _run(selected: list[cells.Cell], jobs: int | None = None) -> list[dict]:
    """Run cells; Ctrl-C, SIGTERM or SIGHUP stops every server (``Emitcheck``)."""
    return [r.to_json() for r in runner.run_many(selected, jobs=jobs)]


def _status(results: list[dict]) -> int:
    if any(r.get("failure") for r in results):
        return NOT_CLEAN
    return 0 if all(r["matches"] for r in results) else 1


#: Signals that end a run as Ctrl-C does (SIGINT raises KeyboardInterrupt by itself).
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived. A BaseException, as KeyboardInterrupt is, so that
    whatever catches Exception lets it through while every ``with`` and
    ``finally`` on the way (the cell pool, a process's stop) cleans up; not a
    KeyboardInterrupt, so that it ends with its own status."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminated(signum: int, _frame: object) -> None:
    for ending in ENDING_SIGNALS:  # one is enough: the cleanup is not interrupted again
        signal.signal(ending, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def _ending_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated while the command runs (in the main
    thread only: signal handlers can be set nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {signum: signal.signal(signum, _terminated) for signum in ENDING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _say_ended(line: str) -> None:
    with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
        click.echo(line, err=True)


#: What every command says once a signal ended it: every process it started was
#: stopped (servers, npm, uv), its temporary folders removed.
ENDED = "every process it started was stopped"


class Emitcheck(click.Group):
    """The command group: every command ends the same way on a signal."""

    def invoke(self, ctx: click.Context) -> object:
        with _ending_signals():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:
                _say_ended(f"emitcheck: interrupted; {ENDED}")
                sys.exit(128 + signal.SIGINT)
            except Terminated as ended:
                _say_ended(f"emitcheck: {signal.Signals(ended.signum).name} received; {ENDED}")
                sys.exit(128 + ended.signum)


@click.group(cls=Emitcheck)
@click.version_option(package_name="emitcheck")
def main() -> None:
    """Which ways of emitting from background work reach Socket.IO clients."""
    outputs.tolerant_streams()  # what the terminal cannot encode is escaped, never raised


@main.command("list")
@click.option("--all", "everything", is_flag=True,
              help="Every valid combination of values, not only the default matrix.")
def list_cells(everything: bool) -> None:
    """Print the cell ids of the default matrix (or every valid one), one a line."""
    for cell in cells.possible_cells() if everything else cells.all_cells():
        click.echo(cell.id)


@main.command()
@click.argument("cell_id")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def run(cell_id: str, as_json: bool) -> None:
    """Run one cell (a real server and a real client) and print its verdict.
    Any valid combination of values is a cell (see 'emitcheck list --all')."""
    cell = _parse(cell_id)
    [result] = _run([cell], jobs=1)
    click.echo(json.dumps(result, indent=2) if as_json else report.summary(result))
    sys.exit(_status([result]))


@main.command()
@click.option("-k", "pattern", help="Only these cells: a whole cell id selects that cell, "
              "anything else the cells whose id contains it (or matches it as a glob); "
              "several separated by commas, each of which must select a cell.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print a block to paste into a GitHub issue.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Cells run at once (default: 16 per core).")
@click.option("--save-baseline", type=click.Path(dir_okay=False, path_type=Path),
              callback=outputs.checked,
              help="Write the observed verdicts and the environment to this file.")
@click.option("--check-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Compare with this baseline: exit 1 and list every changed cell.")
@html_report.html_option
def matrix(pattern: str | None, as_json: bool, as_markdown: bool, jobs: int | None,
           save_baseline: Path | None, check_baseline: Path | None, html: Path | None) -> None:
    """Run many cells at once and print the grid.

    Exits 0 when every cell matched its expectation (with --check-baseline:
    when no cell changed its verdict), 1 otherwise, 3 when emitcheck itself
    failed in a cell.
    """
    selected = _select(pattern)
    recorded = None
    if check_baseline is not None:
        try:
            recorded = baseline.load(check_baseline)
        except baseline.BaselineError as exc:
            raise click.UsageError(str(exc)) from None
    results = _run(selected, jobs)
    env = environment.environment()
    if as_json:
        click.echo(json.dumps(model.results_document(results, env), indent=2))
    elif as_markdown:
        click.echo(report.markdown(results, env), nl=False)
    else:
        report.show(report.grid(results), width=_width())
        for result in results:
            if not result["matches"]:
                click.echo(report.summary(result))
    if html is not None:
        html_report.save(html, results, {"this run": env},
                         title=f"emitcheck matrix -k {pattern}" if pattern else "emitcheck matrix")
    if save_baseline is not None:
        _save_baseline(save_baseline, results, env)
    if recorded is not None:
        comparison = baseline.compare(recorded, results, env)
        for line in comparison.lines():
            click.echo(line, err=as_json or as_markdown)
        click.echo(f"baseline {check_baseline}: "
                   + ("no cell changed" if comparison.ok
                      else f"{len(comparison.changed)} cell(s) changed"),
                   err=as_json or as_markdown)
        sys.exit(NOT_CLEAN if _status(results) == NOT_CLEAN else 0 if comparison.ok else 1)
    sys.exit(_status(results))


def _save_baseline(path: Path, results: list[dict], env: dict) -> None:
    """Write the baseline (its path was checked before the run); a run where no
    cell got a verdict writes none: a baseline without verdicts checks nothing."""
    if not baseline.make(results, env)["verdicts"]:
        click.echo(f"emitcheck: no baseline written to {path}: no cell got a verdict here "
                   "(every one was skipped or failed), and a baseline without verdicts "
                   "checks nothing", err=True)
        sys.exit(_status(results) if _status(results) == NOT_CLEAN else 2)
    try:
        baseline.save(path, results, env)
    except OSError as exc:  # checked before the run: a full disk, say
        click.echo(f"emitcheck: cannot write the baseline {path}: {exc.strerror or exc}",
                   err=True)
        sys.exit(NOT_CLEAN)
    click.echo(f"baseline written to {path}", err=True)


@main.command()
@click.argument("cell_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the script (default: repro-CELL_ID.py).")
def repro(cell_id: str, output: Path | None) -> None:
    """Write a standalone script that reproduces one cell (server and client)."""
    cell = _parse(cell_id)
    try:
        reproduce.check(cell)
    except reproduce.NotReproducible as exc:
        raise click.UsageError(str(exc)) from None
    try:
        path = reproduce.write(cell, output or Path(f"repro-{cell.id}.py"))
    except OSError as exc:
        raise click.UsageError(f"cannot write the script: {exc}") from None
    click.echo(f"wrote {path}; run it with: python {path}")


@main.command("report")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@html_report.html_option
def report_cmd(paths: tuple[Path, ...], html: Path | None) -> None:
    """Merge result files (JSON from --emitcheck-json or matrix --json) into one grid,
    or sweep documents (emitcheck sweep --json) of one package into one sweep table."""
    if _report_sweeps(paths, html):
        return
    try:
        results, environments = report.load_with_environments(list(paths))
    except ValueError as exc:  # SchemaError, CellError: one line naming the file
        raise click.UsageError(f"cannot read the results: {exc}") from None
    if not results:
        raise click.UsageError(f"no results found in {', '.join(map(str, paths))}")
    report.show(report.grid(results, "emitcheck matrix (all environments)"), width=_width())
    if html is not None:
        html_report.save(html, results, environments,
                         title="emitcheck matrix (all environments)")
    sys.exit(_status(results))


def _report_sweeps(paths: tuple[Path, ...], html: Path | None) -> bool:
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
    if html is not None:
        raise click.UsageError("--html draws matrix results; for sweeps, each emitcheck "
                               "sweep --markdown is the report")
    try:
        for path, document in zip(paths, documents, strict=True):
            sweep_report.check_document(document, str(path))
    except model.SchemaError as exc:
        raise click.UsageError(f"cannot read the sweeps: {exc}") from None
    try:
        merged = sweep_report.merged(documents, sweep_report.command_line(sys.argv))
    except (ValueError, TypeError, KeyError) as exc:
        raise click.UsageError(f"cannot merge the sweeps: {exc}") from None
    report.show(sweep_report.terminal(merged), width=_width())
    sys.exit(1 if merged.changes else 0)


main.add_command(app_command)
main.add_command(probe_command)
main.add_command(node_install_command)
main.add_command(sweep_command)
main.add_command(cache_command)


if __name__ == "__main__":  # pragma: no cover
    main()
