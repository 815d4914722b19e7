"""``emitcheck sweep``: which release of a package changed a cell's verdict; and
``emitcheck cache``: where emitcheck keeps what it builds, and clearing it.

``sweep`` exits 0 when no cell changed its verdict across the releases that
ran, 1 when one did (the change is printed with its evidence; with
``--bisect``: when the two releases that bracket it were found), 2 on bad
input, 3 (options.NOT_CLEAN) when the sweep has no answer: emitcheck could not
run in a release's environment, no release could be installed at all (then
nothing was compared: 0 would say "no change" and 1 "a change", both untrue),
or an end of ``--bisect`` tells nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from emitcheck.cli import options
from emitcheck.outputs import files
from emitcheck.system import cache as cache_folder

if TYPE_CHECKING:  # the rest is imported when a sweep runs: packaging is needed only then
    from packaging.version import Version
    from rich.progress import Progress

    from emitcheck.sweep.environments import Python
    from emitcheck.sweep.releases import Bisection, Row, Sweeper

#: Releases swept without --versions: the newest few.
NEWEST = 5
#: ``--swept-in``'s choices (sweep/releases.py's SWEPT_IN: not imported before a sweep runs).
SWEPT_IN = ("all", "server", "others")


def _cells(patterns: tuple[str, ...]) -> list:
    """The cells named: whole ids in the order given, else what 'matrix -k' selects
    (cells.select, which lists every valid cell to match a pattern)."""
    from emitcheck.matrix import cells

    try:
        return list(dict.fromkeys(cells.parse_ours(p) for p in patterns))
    except cells.CellError:
        return cells.select(",".join(patterns))


def _pythons(texts: tuple[str, ...]) -> list[str | None]:
    asked = [p.strip() for text in texts for p in text.split(",") if p.strip()]
    return list(dict.fromkeys(asked)) or [None]  # None: the running Python


def _range(text: str, known: list[Version], package: str) -> list[Version]:
    """The releases from GOOD to BAD (both included), GOOD first."""
    from packaging.version import InvalidVersion, Version

    good_text, sep, bad_text = text.partition("..")
    try:
        if not sep:
            raise InvalidVersion(text)
        good, bad = Version(good_text.strip()), Version(bad_text.strip())
    except InvalidVersion:
        raise click.UsageError(f"--bisect {text!r}: write it GOOD..BAD, two releases of "
                               f"{package}, e.g. --bisect 1.0.0..1.1.0") from None
    for end in (good, bad):
        if end not in known:
            near = ", ".join(str(v) for v in known[-8:])
            raise click.UsageError(f"--bisect: {end} is not a release of {package} (pre-releases "
                                   f"and yanked ones are left out); the newest: {near}")
    if good == bad:
        raise click.UsageError("--bisect: GOOD and BAD are the same release")
    low, high = sorted((good, bad))
    between = [v for v in known if low <= v <= high]
    return between if good < bad else between[::-1]


def _write(target: str | None, text: str, what: str) -> None:
    if target is None:
        return
    if target == "-":
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write the {what} to {target}: {exc}") from None
    click.echo(f"{what} written to {target}", err=True)


def _progress() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def _counting(progress: Progress, task, evaluate: Callable[[str], Row]) -> Callable[[str], Row]:
    def counted(version: str) -> Row:
        row = evaluate(version)
        progress.advance(task)
        return row
    return counted


@click.command("sweep")
@click.argument("cell_patterns", metavar="CELL...", nargs=-1, required=True)
@click.option("--package", required=True, help="The package whose releases are swept "
              "(gevent, eventlet, flask-socketio, python-socketio, ...).")
@click.option("--versions", "spec", help="Which releases: a version specifier as pip takes "
              f"it ('>=24,<25'); default: the newest {NEWEST}. Pre-releases and yanked "
              "releases are left out.")
@click.option("--newest", type=click.IntRange(1, 500), default=None,
              help=f"Only the newest N of those releases (default without --versions: {NEWEST}).")
@click.option("--with", "pins", multiple=True, metavar="REQ",
              help="Also install this requirement in every environment ('gunicorn<26'); "
                   "repeatable.")
@click.option("--python", "pythons", multiple=True, metavar="VERSIONS",
              help="The Pythons to sweep on, comma separated ('3.10,3.13'); default: the "
                   "one running emitcheck.")
@click.option("--bisect", "bisect_range", metavar="GOOD..BAD",
              help="Find the first release between GOOD and BAD whose verdicts differ from "
                   "GOOD's, in about log2(n) environments.")
@click.option("--json", "json_to", metavar="FILE|-", callback=files.checked,
              help="Write every row and change as JSON.")
@click.option("--markdown", "markdown_to", metavar="FILE|-", callback=files.checked,
              help="Write a block for a bug report (versions, the change, the cells, how to "
                   "reproduce it).")
@click.option("--install-timeout", type=click.FloatRange(min=10), default=None,
              help="Seconds uv may take to install one environment (default: 600).")
@click.option("--swept-in", type=click.Choice(SWEPT_IN), default="all", show_default=True,
              help="Which processes of a cell get the release: all; the web server only "
                   "(server: the other processes stay on this environment's stack); or the "
                   "other processes only (others: the emitter, the Celery worker, server 2 "
                   "of two; the web server stays).")
def sweep(cell_patterns: tuple[str, ...], package: str, spec: str | None, newest: int | None,
          pins: tuple[str, ...], pythons: tuple[str, ...], bisect_range: str | None,
          json_to: str | None, markdown_to: str | None, install_timeout: float | None,
          swept_in: str) -> None:
    """Run CELL... in one environment per release of a package (built with uv,
    cached) and show which release changed a verdict, with the evidence.

    CELL is a cell id or a pattern, as 'emitcheck matrix -k' takes them."""
    from rich.console import Console

    from emitcheck.matrix import cells
    from emitcheck.outputs.grid import show
    from emitcheck.sweep import index
    from emitcheck.sweep import report as sweep_report
    from emitcheck.sweep.environments import (
        INSTALL_TIMEOUT,
        SweepError,
        find_python,
        find_uv,
        parse_requirements,
    )
    from emitcheck.sweep.releases import Sweeper, changes
    from emitcheck.system import environment

    try:
        selected = _cells(cell_patterns)
        wanted = index.specifier(spec) if spec else None
        parse_requirements(pins)
        uv = find_uv()
    except (cells.CellError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None
    if bisect_range and (spec or newest):
        raise click.UsageError("--bisect GOOD..BAD names its releases: leave out --versions "
                               "and --newest")
    if swept_in == "others" and pythons:
        raise click.UsageError("--swept-in others keeps the web server on the Python running "
                               "emitcheck, and the other processes' environment is this one's "
                               "with the release: leave out --python")
    if bisect_range and len(_pythons(pythons)) > 1:
        raise click.UsageError("--bisect runs on one Python: give one --python (run it once "
                               "per Python)")
    where = index.index()
    try:
        known = index.releases(package, where=where)
    except index.PackageIndexError as exc:
        raise click.UsageError(str(exc)) from None
    if bisect_range:
        versions = _range(bisect_range, known, package)
    else:
        versions = [v for v in known if wanted is None or wanted.contains(v)]
        versions = versions[-(newest or (NEWEST if spec is None else len(versions))):]
        if not versions:
            raise click.UsageError(f"no release of {package} matches --versions {spec!r}; "
                                   f"the newest: {', '.join(map(str, known[-8:]))}")
    try:
        found_pythons = [find_python(p, uv) for p in _pythons(pythons)]
    except SweepError as exc:
        raise click.UsageError(str(exc)) from None
    ids = [c.id for c in selected]
    try:
        rows, bisection = _sweep(Sweeper(package, selected, uv, where, pins,
                                         install_timeout or INSTALL_TIMEOUT,
                                         swept_in=swept_in),
                                 found_pythons, [str(v) for v in versions], bisect_range, ids)
    except RuntimeError as exc:  # --bisect: an end that does not run
        click.echo(f"Error: {exc}", err=True)
        sys.exit(options.NOT_CLEAN)
    result = sweep_report.Sweep(
        package, ids, rows, sweep_report.command_line(sys.argv[1:]),
        {"versions": spec, "newest": newest, "with": list(pins), "bisect": bisect_range,
         "swept_in": swept_in,
         "pythons": [p.version for p in found_pythons], "index": where.url,
         "releases": [str(v) for v in versions]},
        environment.environment(), changes(rows, ids), bisection)
    if json_to != "-" and markdown_to != "-":
        show(sweep_report.terminal(result), width=max(100, Console().width))
    _write(json_to, json.dumps(sweep_report.document(result), indent=2) + "\n", "JSON")
    _write(markdown_to, sweep_report.markdown(result), "Markdown")
    if rows and all(row.not_installed for row in rows):
        click.echo(f"emitcheck: no release of {package} could be installed ({len(rows)} "
                   f"tried), so no verdict was compared; {_shortened(rows[0].reason)}", err=True)
        sys.exit(options.NOT_CLEAN)
    if any(row.emitcheck_failed for row in rows):
        sys.exit(options.NOT_CLEAN)  # not a verdict: emitcheck failed in a release's environment
    changed = bisection.changed if bisection else bool(result.changes)
    sys.exit(options.DIFFERS if changed else options.OK)


def _shortened(reason: str | None, most: int = 200) -> str:
    text = " ".join((reason or "").split())
    return text if len(text) <= most else text[:most - 3] + "..."


def _sweep(sweeper: Sweeper, pythons: list[Python], versions: list[str],
           bisect_range: str | None, ids: list[str]) -> tuple[list[Row], Bisection | None]:
    """Every row (with --bisect: those it built), with a progress bar on stderr."""
    from packaging.version import Version

    from emitcheck.sweep.releases import bisect

    rows: list[Row] = []
    bisection = None
    with _progress() as progress:  # a bisection builds about 2 + log2(n): no total
        task = progress.add_task("environments",
                                 total=None if bisect_range else len(versions) * len(pythons))
        sweeper.say = lambda what: progress.update(task, description=what)
        for python in pythons:
            def evaluate(version: str, python: Python = python) -> Row:
                return sweeper.row(python, version)
            counted = _counting(progress, task, evaluate)
            if bisect_range:
                bisection = bisect(versions, counted, ids)
                rows += sorted(bisection.tried, key=lambda r: Version(r.version))
            else:
                rows += [counted(version) for version in versions]
    return rows, bisection


@click.group("cache", invoke_without_command=True)
@click.pass_context
def cache(context: click.Context) -> None:
    """Where emitcheck keeps what it builds (sweep environments, the Node client),
    and how big it is; 'emitcheck cache clear' removes it."""
    if context.invoked_subcommand is not None:
        return
    root = cache_folder.cache_root()
    found = cache_folder.entries(root)
    total = sum(entry.bytes for entry in found)
    click.echo(f"emitcheck's cache: {root} ({cache_folder.human(total)}, "
               f"{len(found)} item(s))")
    for entry in found:
        click.echo(f"  {cache_folder.human(entry.bytes):>9}  {entry.path.relative_to(root)}")


@cache.command("clear")
def clear() -> None:
    """Remove the sweep environments and the Node client's install (rebuilt on demand)."""
    root = cache_folder.cache_root()
    removed = cache_folder.clear(root)
    total = sum(entry.bytes for entry in removed)
    for entry in removed:
        click.echo(f"removed {entry.path} ({cache_folder.human(entry.bytes)})")
    click.echo(f"emitcheck's cache {root}: removed {len(removed)} item(s), "
               f"{cache_folder.human(total)}" if removed else
               f"emitcheck's cache {root} is empty: nothing to remove")
