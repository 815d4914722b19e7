"""The ``emitcheck`` command group: one module per command (or group of them),
added here; the exit statuses and the options they share: options.py.

Bad input (an unknown cell id, factor value or pattern, a file that is not a
results file) exits 2 with a one-line message that says what is valid.

Ctrl-C (SIGINT), SIGTERM (what CI sends on cancel) and SIGHUP (the terminal
closed) stop every process the command started, remove its temporary
directories and exit 128 + the signal's number (130, 143, 129) with one line
on stderr: ``Emitcheck.invoke`` is the one place that says so, for every
command.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator

import click

from emitcheck.outputs import files

#: Each command: its name -> (its module in emitcheck.cli, the click command's
#: name there). A command's module is imported only when that command runs (or
#: for ``emitcheck --help``, which lists them all): ``probe`` imports
#: python-socketio, ``scan`` the matrix, and a command starts in the time its
#: own imports take.
COMMANDS = {
    "list": ("matrix", "list_cells"), "run": ("matrix", "run"), "matrix": ("matrix", "matrix"),
    "repro": ("repro", "repro"), "report": ("report", "report_cmd"), "app": ("app", "app"),
    "probe": ("probe", "probe"), "node-install": ("node", "node_install"),
    "sweep": ("sweep", "sweep"), "cache": ("sweep", "cache"), "scan": ("scan", "scan_cmd"),
    "doctor": ("doctor", "doctor"),
}

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
    """The command group: every command ends the same way on a signal, and is
    imported when it is asked for (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"emitcheck.cli.{module}"), name)
        assert command.name == cmd_name, f"{module}.{name} is {command.name!r}"
        return command

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
    files.tolerant_streams()  # what the terminal cannot encode is escaped, never raised


if __name__ == "__main__":  # pragma: no cover
    main()
