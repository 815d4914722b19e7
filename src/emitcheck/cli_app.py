"""``emitcheck app MODULE:ATTR --event NAME``: the user's app through the matrix.

Each cell serves the app in one mode and patching, with ``socketio.run`` or
gunicorn (``families/app.py``), connects a real client, runs the triggers that
start the app's work, watches a window that adapts to the app's cadence, and
judges what arrived against what the app emitted. For every cell that is not
delivered it says what to change, from the matrix we measured (remedy.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import environment, html_report, model, report, runner
from .cells import Cell, CellError
from .families import variants
from .model import Timing, results_document
from .user_app import AppError, AppSpec, UserApp, cadence_of, check, waited, what_to_change

#: The app's emits decide the window: at most this long by default.
DEFAULT_TIMEOUT = 60.0
SERVERS = {"run": "socketio.run", "gunicorn": "gunicorn"}


def app_cells() -> list[Cell]:
    """Every mode and patching of our matrix (the app's own mode first, as ``auto``),
    served by socketio.run and by gunicorn, where that combination is valid."""
    modes = sorted((v.value for v in variants("mode")), key=lambda m: m != "auto")
    found = []
    for mode in modes:
        for patch in (v.value for v in variants("patch")):
            for server in SERVERS:
                try:
                    found.append(Cell(mode, patch, "app", "own", server=server))
                except CellError:  # threading-patched, auto under gunicorn, ...
                    continue
    return found


def _place(cell: Cell) -> tuple[str, str]:
    return "", SERVERS[cell.server]


def _judged(result: model.CellResult, spec: AppSpec) -> dict:
    """The result as JSON, with what a reader of an app's grid needs: what to
    change, how long the window waited and at what cadence the app emitted."""
    obs = result.observation
    mode = obs.async_mode if obs else None
    return {**result.to_json(),
            "remedies": what_to_change(spec, result.cell, mode, result.verdict),
            "waited_s": waited(obs) if obs else None,
            "cadence_s": cadence_of(obs) if obs else None}


def _details(result: dict) -> list[str]:
    words = report.IN_WORDS.get(result["verdict"])
    lines = [f"{result['cell']}: {report.cell_label(result)}" + (f" ({words})" if words else "")]
    if result.get("evidence"):
        lines.append(f"  evidence: {result['evidence']}")
    if result.get("waited_s") is not None:
        cadence = f", the app emitted every {result['cadence_s']:g} s" \
            if result.get("cadence_s") else ""
        lines.append(f"  watched {result['waited_s']:g} s{cadence}")
    return lines  # what to change: under the grid, once per row


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
@click.option("--every", type=click.FloatRange(0.001, 3600), default=None,
              help="The app's emit cadence in seconds, if known (else it is observed).")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=DEFAULT_TIMEOUT,
              show_default=True, help="The longest a cell's window waits for the app's events.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print a block to paste into a bug report about the app.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None, help="Cells run at once.")
@html_report.html_option
def app(target: str, event: str, folder: Path, namespace: str, triggers: tuple[str, ...],
        ack: str | None, every: float | None, timeout: float, as_json: bool,
        as_markdown: bool, jobs: int | None, html: Path | None) -> None:
    """Run YOUR Flask-SocketIO app through the matrix and say where its events arrive.

    Exits 0 when every cell delivered, 1 otherwise, 2 on bad input, 3 when
    emitcheck itself failed in a cell.
    """
    if not folder.is_dir():
        raise click.UsageError(f"--path {folder}: no such folder")
    try:
        spec = AppSpec(target, event, str(folder), namespace,
                       triggers or AppSpec.triggers, ack)  # the class attribute: the default
        own_mode = check(spec)
    except AppError as exc:
        raise click.UsageError(str(exc)) from None
    timing = Timing(timeout=timeout, every=every)
    try:
        ran = runner.run_many(app_cells(), jobs=jobs, timing=timing, work=UserApp(spec))
    except KeyboardInterrupt:
        click.echo("emitcheck: interrupted; every server was stopped", err=True)
        sys.exit(130)
    results = [_judged(r, spec) for r in ran]
    env = environment.environment()
    title = f"{target}: {event!r} in {namespace} (the app's own mode: {own_mode})"
    if as_json:
        click.echo(json.dumps({**results_document(results, env), "app": {
            "target": target, "event": event, "namespace": namespace,
            "triggers": list(spec.triggers), "own_async_mode": own_mode}}, indent=2))
    elif as_markdown:
        click.echo(report.markdown(results, env, _place, "mode-patch \\ server",
                                   f"app {title}"), nl=False)
    else:
        report.show(report.grid(results, title, _place, "mode-patch \\ server"), width=132)
        for result in results:
            if result["verdict"] != "delivered" and not result.get("skipped"):
                click.echo("\n".join(_details(result)))
    if html is not None:
        html_report.save(html, results, {"this run": env}, title=f"app {title}", place=_place,
                         corner="mode-patch \\ server")
    if any(r.get("failure") for r in results):
        sys.exit(3)
    sys.exit(0 if all(r["verdict"] == "delivered" or r.get("skipped") for r in results) else 1)
