"""``emitcheck app MODULE:ATTR --event NAME``: the user's app through the matrix.

Each cell serves the app in one mode and patching, with ``socketio.run`` (a
python-socketio app: as its stack serves it, Werkzeug, eventlet's or gevent's
WSGI server, uvicorn, aiohttp) or gunicorn (``families/app.py``), connects a
real client, runs the triggers that start the app's work, watches a window
that adapts to the app's cadence, and judges what arrived against what the app
emitted. An app's rows are those of its kind (``app_modes``). For every cell that is not
delivered it says what to change, from the matrix we measured (remedy.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from emitcheck.apps.user_app import (
    AppError,
    AppInfo,
    AppSpec,
    UserApp,
    cadence_of,
    check,
    patching_entry_points,
    waited,
    what_to_change,
)
from emitcheck.cli import options
from emitcheck.matrix.cell import Cell, CellError, mode_value, variants
from emitcheck.matrix.cells import matches
from emitcheck.model.credentials import Credentials, credential_options, redacted
from emitcheck.model.docs import OWN_APP as DOC
from emitcheck.model.results import CellResult, Timing, Watched, results_document
from emitcheck.outputs import grid
from emitcheck.system import environment

#: The app's emits decide the window: at most this long by default.
DEFAULT_TIMEOUT = 60.0
SERVERS = {"run": "socketio.run", "gunicorn": "gunicorn"}


def app_modes(info: AppInfo | None = None) -> list[str]:
    """The modes an app's rows may force (the app's own mode first, as ``auto``):
    for a sync app (Flask-SocketIO, ``socketio.Server``) every sync mode of our
    matrix; for an asyncio one (``AsyncServer``), the mode it is served in.
    Without ``info``: every mode any app may have."""
    own = mode_value(info.async_mode) if info else None
    modes = [v.value for v in variants("mode") if info is None or not v.concrete or (
        v.asyncio == info.asyncio and (not info.asyncio or v.value == own))]
    return sorted(modes, key=lambda m: m != "auto")


def app_cells(info: AppInfo | None = None) -> list[Cell]:
    """The app's rows (``app_modes``) in every patching, served by socketio.run
    (or the app's own server) and by gunicorn, where that combination is valid."""
    modes = app_modes(info)
    found = []
    for mode in modes:
        for patch in (v.value for v in variants("patch")):
            for server in SERVERS:
                try:
                    found.append(Cell(mode, patch, "app", "own", server=server))
                except CellError:  # threading-patched, auto under gunicorn, ...
                    continue
    return found


def contradiction(cell: Cell, info: AppInfo) -> str | None:
    """Why ``cell`` cannot run an app that monkey patches itself, if it cannot:
    another mode than its own patch's, or that mode left unpatched (the app's
    first statement patches, whatever the row says). Its own row (``auto``) and
    the patched row of its library run it as it runs itself."""
    if not info.patches or cell.mode == "auto":
        return None
    where = f" ({info.patched_at})" if info.patched_at else ""
    if cell.mode != info.patches:
        return (f"the app monkey patches itself with {info.patches}{where}: it never runs in "
                f"{cell.mode} mode")
    if cell.patch == "unpatched" and cell.server == "run":
        return (f"the app monkey patches itself with {info.patches}{where}: it never runs "
                "unpatched (its own row and the patched row run it)")
    return None


def chosen(cells: list[Cell], pattern: str | None) -> list[Cell]:
    """The cells whose id contains, or matches as a glob, one of the
    comma-separated ``pattern``s (all without one)."""
    if not pattern:
        return cells
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    picked = [c for c in cells if any(matches(c, p) for p in patterns)]
    if not picked:
        raise click.UsageError(f"-k {pattern!r} matches none of the app's cells: "
                               f"{', '.join(c.id for c in cells)}")
    return picked


def _place(cell: Cell) -> tuple[str, str]:
    return "", SERVERS[cell.server]


def _judged(result: CellResult, spec: AppSpec) -> CellResult:
    """The result with what a reader of an app's grid needs: what to change,
    how long the window waited and at what cadence the app emitted."""
    obs = result.observation
    return dataclasses.replace(
        result, remedies=what_to_change(spec, result.cell, obs, result.verdict),
        watched=Watched(waited(obs) if obs else None, cadence_of(obs) if obs else None))


def _skipped(cell: Cell, reason: str) -> CellResult:
    return CellResult(cell.id, "delivered", "a working app delivers its events", DOC,
                      skipped=reason)


def _delivered(result: CellResult) -> bool:
    """What an app's cell is judged by: delivered (or skipped), whatever we measured."""
    return result.verdict == "delivered" or bool(result.skipped)


def _details(result: CellResult) -> list[str]:
    words = grid.IN_WORDS.get(str(result.verdict))
    lines = [f"{result.cell}: {grid.cell_label(result)}" + (f" ({words})" if words else "")]
    if result.evidence:
        lines.append(f"  evidence: {result.evidence}")
    watched = result.watched
    if watched is not None and watched.waited_s is not None:
        cadence = f", the app emitted every {watched.cadence_s:g} s" \
            if watched.cadence_s else ""
        lines.append(f"  watched {watched.waited_s:g} s{cadence}")
    return lines  # what to change: under the grid, once per row


def _pairs(values: tuple[str, ...], option: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for text in values:
        name, equals, value = text.partition("=")
        if not equals or not name:
            raise click.UsageError(f"{option} {text!r}: expected NAME=VALUE")
        pairs.append((name, value))
    return tuple(pairs)


def _about(spec: AppSpec, info: AppInfo, jobs_note: str | None) -> list[str]:
    """Lines under the title: what loading the app showed that changes the rows."""
    lines = []
    if info.patches:
        where = f" ({info.patched_at})" if info.patched_at else ""
        lines.append(f"the app monkey patches itself with {info.patches}{where}: its own row "
                     "runs it so; rows that contradict its patching are skipped")
    else:
        attr = spec.app.partition(":")[2]
        lines += [f"{entry}.py monkey patches, then imports {spec.app.partition(':')[0]}: "
                  f"to check the app as it runs, name that module: {entry}:{attr}"
                  for entry in patching_entry_points(spec)]
    if info.note:
        lines.append(info.note)
    if info.ran_at:
        lines.append(f"the app calls {info.ran_with} when it is imported ({info.ran_at}): "
                     "emitcheck serves it itself instead (on a free port, no reloader); "
                     "put that call under 'if __name__ == \"__main__\":'")
    if jobs_note:
        lines.append(jobs_note)
    return lines


@click.command("app")
@click.argument("target", metavar="MODULE:ATTR")
@click.option("--event", required=True, help="The event the app's background work emits.")
@click.option("--path", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=".", show_default=True, help="Put on sys.path; the app runs from here.")
@click.option("--namespace", default="/", show_default=True)
@click.option("--trigger", "triggers", multiple=True,
              help="What starts the app's work once connected: connect, get:/PATH or "
                   "emit:EVENT[:JSON]; repeatable (default: connect and get:/).")
@click.option("--ack", help="An event the app acknowledges, sent during the traffic phase.")
@credential_options
@click.option("--setup", default=None, metavar="MODULE:FUNCTION",
              help="Called once the app is loaded, before it serves (what your main() "
                   "sets up first); given the Flask app if it takes an argument.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE",
              help="Set in the environment of the app's processes; repeatable.")
@options.pattern_option("Only the app's cells whose id contains this (or matches it as a "
                        "glob); comma-separated, e.g. -k auto-unpatched.")
@click.option("--every", type=click.FloatRange(0.001, 3600), default=None,
              help="The app's emit cadence in seconds, if known (else it is observed).")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=DEFAULT_TIMEOUT,
              show_default=True, help="The longest a cell's window waits for the app's events.")
@options.json_option("Print the results as JSON.")
@options.markdown_option("Print a block to paste into a bug report about the app.")
@options.jobs_option
@options.html_option
def app(target: str, event: str, folder: Path, namespace: str, triggers: tuple[str, ...],
        ack: str | None, credentials: Credentials, setup: str | None, env: tuple[str, ...],
        pattern: str | None, every: float | None, timeout: float, as_json: bool,
        as_markdown: bool, jobs: int | None, html_path: Path | None) -> None:
    """Run YOUR Flask-SocketIO or python-socketio app through the matrix and say where
    its events arrive.

    Exits 0 when every cell delivered, 1 otherwise, 2 on bad input, 3 when
    emitcheck itself failed in a cell.
    """
    if not folder.is_dir():
        raise click.UsageError(f"--path {folder}: no such folder")
    chosen(app_cells(), pattern)  # a pattern that matches no row at all: before loading
    try:
        spec = AppSpec(target, event, str(folder), namespace,
                       triggers or AppSpec.triggers, ack,  # the class attribute: the default
                       credentials, setup, _pairs(env, "--env"))
        info = check(spec)
    except AppError as exc:
        raise click.UsageError(str(exc)) from None
    cells = chosen(app_cells(info), pattern)
    skips = {cell: reason for cell in cells if (reason := contradiction(cell, info))}
    jobs_note = None
    if info.shared and len(cells) - len(skips) > 1:
        jobs, jobs_note = 1, f"cells ran one at a time: {info.shared}"
    timing = Timing(timeout=timeout, every=every)
    from emitcheck.running import runner  # the servers' stack: only when cells run

    ran = runner.run_many([c for c in cells if c not in skips], jobs=jobs, timing=timing,
                          work=UserApp(spec))  # Ctrl-C: the command group (cli.py) says it
    judged = {r.cell: _judged(r, spec) for r in ran}
    results = [judged.get(c.id) or _skipped(c, skips[c]) for c in cells]
    env_doc = environment.environment()
    title = f"{target}: {event!r} in {namespace} (the app's own mode: {info.async_mode})"
    if as_json:
        click.echo(json.dumps({**results_document(results, env_doc), "app": {
            "target": target, "event": event, "namespace": namespace,
            "triggers": list(spec.triggers), "own_async_mode": info.async_mode,
            "patches_itself": info.patches, "patched_at": info.patched_at,
            "runs_at_import": info.ran_at, "asyncio": info.asyncio,
            "namespaces": list(info.namespaces), "one_at_a_time": jobs_note,
            "credentials": redacted(credentials)}}, indent=2))
    elif as_markdown:
        click.echo(grid.markdown(results, env_doc, _place, "mode-patch \\ server",
                                   f"app {title}"), nl=False)
    else:
        grid.show(grid.grid(results, title, _place, "mode-patch \\ server"), width=132)
        for line in _about(spec, info, jobs_note):
            click.echo(line)
        for result in results:
            if not _delivered(result):
                click.echo("\n".join(_details(result)))
    if html_path is not None:
        options.save_html(html_path, results, {"this run": env_doc}, title=f"app {title}",
                          place=_place, corner="mode-patch \\ server")
    if any(r.failure for r in results):
        sys.exit(options.NOT_CLEAN)
    sys.exit(options.OK if all(map(_delivered, results)) else options.DIFFERS)
