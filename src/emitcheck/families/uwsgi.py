"""``-uwsgi``: uWSGI serves the cell's app (issue 12).

The command is Flask-SocketIO's documented one (its deployment docs), on
loopback, with what a cell needs added::

    uwsgi --http 127.0.0.1:PORT --gevent 1000 --http-websockets --master \\
          --lazy-apps --die-on-term --no-orphans --need-app \\
          --module 'emitcheck.scripts.server_child:uwsgi_app()'

gevent mode is Flask-SocketIO's ``gevent_uwsgi`` mode there (WebSocket through
uWSGI's own API). Threading mode, which Flask-SocketIO does not document under
uWSGI, is the same command with uWSGI threads (``--threads 4`` in place of
``--gevent 1000``, as the gthread worker of ``-gunicorn``); it has no
WebSocket: simple-websocket cannot find the connection's socket in uWSGI's WSGI
environment. uWSGI has no eventlet loop engine: eventlet mode is a conflict.

``--lazy-apps`` loads the app in the worker, as gunicorn does, where our work
starts while the app loads. Without it the master loads the app and then
forks: an OS thread started while loading stays in the master, and the worker
either never sees its events or, when the fork caught that thread holding the
GIL, hangs (uWSGI does not re-initialise the interpreter after its fork). That
is a race, not a verdict: measured, in docs/deployments.md#uwsgi.

``-patched-`` means what it means in every cell: the app's first statement
monkey patches (server_child.py). That is what uWSGI's
``--gevent-early-monkey-patch`` does (measured: the same verdicts), while
``--gevent-monkey-patch`` patches only after the app has loaded, too late
(measured: the verdicts of the unpatched cells).

Auto mode is a conflict too, as under gunicorn: under uWSGI, ``SocketIO(app)``
picks eventlet where it is installed, before gevent_uwsgi, and uWSGI cannot run
that (measured: the server stops answering); elsewhere it is gevent_uwsgi or
threading, the cells that name them.

uWSGI comes from PyPI as source (``pip install 'emitcheck[uwsgi]'`` compiles
it); the one used is the ``uwsgi`` of the running Python's environment, since
it embeds the Python it was built for. Its master, worker and HTTP router are
one process group, which SIGTERM ends (``--die-on-term``: without it uWSGI 2.0
reloads on SIGTERM); ``--no-orphans`` makes the kernel kill the worker when
the master dies. It writes no file (no pid, socket or stats file): the router
reaches the worker over loopback TCP.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from emitcheck.matrix.cell import Expect, ServerVariant

DOC = "deployments.md#uwsgi"
#: One grid for the family, its suffixes in the columns.
GRID = "uWSGI"
INSTALL = "pip install 'emitcheck[uwsgi]', which compiles it: a C compiler and the Python headers"
#: The suffix factors uWSGI cells keep at their default (factor: default value).
#: -redis under uWSGI varies from run to run (unpatched gevent's Redis listener
#: wedges the connection or stops the worker); Celery's pools are not measured
#: with it; the cluster values start socketio.run servers. (nginx in front of
#: uWSGI was measured: the nginx rules hold.)
AT_DEFAULT = {"queue": "none", "pool": "none", "cluster": "single"}
#: The default matrix's uWSGI cells (each measured >= 3 times: docs/deployments.md#uwsgi):
#: gevent's rows, uWSGI's own WebSocket (with and without the hub's wake-up),
#: threading mode over each transport.
DEFAULT_CELLS = frozenset({
    *(f"gevent-{patch}-{work}-uwsgi" for patch in ("unpatched", "patched")
      for work in ("thread-time_sleep", "thread-socketio_sleep", "task-time_sleep",
                   "task-socketio_sleep")),
    "gevent-unpatched-thread-time_sleep-websocket-uwsgi",
    "gevent-unpatched-task-socketio_sleep-websocket-uwsgi",
    "threading-unpatched-thread-time_sleep-uwsgi",
    "threading-unpatched-thread-time_sleep-polling-uwsgi",
    "threading-unpatched-task-socketio_sleep-polling-uwsgi",
    "threading-unpatched-thread-time_sleep-websocket-uwsgi",
})


def binary() -> Path | None:
    """The uwsgi of the running Python's environment (it embeds that Python)."""
    found = Path(sysconfig.get_path("scripts")) / "uwsgi"
    return found if found.is_file() else None


@functools.cache
def _options(uwsgi: Path) -> str:
    """``uwsgi --help``: the options (so the loop engines) of this build."""
    try:
        return subprocess.run([str(uwsgi), "--help"], capture_output=True, text=True,
                              timeout=10, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _no_websocket():
    from emitcheck.model.expectation import Expectation

    return Expectation(
        "error", "threading mode under uWSGI has no WebSocket: simple-websocket cannot find "
        "the connection's socket in uWSGI's WSGI environment ('Cannot obtain socket from WSGI "
        "environment', HTTP 500); a client that may fall back stays on long-polling", DOC)


@dataclass(eq=False)
class UWSGI(ServerVariant):
    def conflict(self, cell):
        if cell.mode == "eventlet":
            return ("uWSGI has no eventlet loop engine (Flask-SocketIO documents uWSGI with "
                    "gevent): use gevent-...-uwsgi, threading-...-uwsgi, or "
                    "eventlet-...-gunicorn")
        if cell.mode == "auto":
            return ("under uWSGI, SocketIO(app) picks eventlet where it is installed, which "
                    "uWSGI cannot run, else gevent_uwsgi or threading: name the mode "
                    "(gevent-...-uwsgi, threading-...-uwsgi)")
        others = [f"-{getattr(cell, name)}" for name, default in AT_DEFAULT.items()
                  if getattr(cell, name) != default]
        if others:
            return (f"-uwsgi cells run without {' '.join(others)}: uWSGI is measured with "
                    "the client's transports, clients and nginx only "
                    "(docs/deployments.md#uwsgi)")
        return None

    def unavailable(self, cell):
        uwsgi = binary()
        if uwsgi is None:
            return f"uWSGI is not installed in this environment ({INSTALL})"
        if cell.mode == "gevent" and "--gevent " not in _options(uwsgi):
            return f"this uWSGI ({uwsgi}) was built without the gevent loop engine ({INSTALL})"
        return None

    def in_default(self, cell):
        return cell.id in DEFAULT_CELLS

    def expect(self, cell, expected: Expect, resolved=None):
        """Measured: threading mode has no WebSocket under uWSGI; otherwise every
        cell is its socketio.run twin (the app loads in the worker, --lazy-apps)."""
        from emitcheck.model.expectation import Expectation

        if cell.mode == "threading" and cell.transport != "polling":
            return _no_websocket()
        twin = expected(cell.replace(server="run"))
        bursts = ""
        if twin.verdict == "delayed" and cell.transport != "polling":
            bursts = ("; over uWSGI's WebSocket they leave in bursts, when gevent_uwsgi's "
                      "loop wakes every 3 s (Flask-SocketIO 847)")
        return Expectation(twin.verdict, "with --lazy-apps the app loads in uWSGI's worker, "
                           f"as under socketio.run: {twin.why}{bursts}", DOC)

    def start(self, run, directory):
        from emitcheck.scripts.server_child import UWSGI_EMIT_LOG, UWSGI_INTERVAL
        from emitcheck.system.process import SERVER_BANNER, ManagedProcess

        uwsgi = binary()
        assert uwsgi is not None  # unavailable() says so first
        loop = ["--gevent", "1000"] if run.cell.mode == "gevent" else ["--threads", "4"]

        def command(files, port):
            settings = {UWSGI_EMIT_LOG: files.emits, UWSGI_INTERVAL: run.timing.interval}
            return [str(uwsgi), "--http", f"127.0.0.1:{port}", *loop, "--http-websockets",
                    "--master", "--lazy-apps", "--die-on-term", "--need-app",
                    # The worker dies with the master (which dies with us: process.py),
                    # even a worker whose hub is blocked: measured, it outlives it otherwise.
                    "--no-orphans",
                    # The environment's site-packages, for the Python uWSGI embeds.
                    *(["--virtualenv", sys.prefix] if sys.prefix != sys.base_prefix else []),
                    *(arg for name, value in settings.items()
                      for arg in ("--env", f"{name}={value}")),
                    "--module", "emitcheck.scripts.server_child:uwsgi_app()"]

        # Ready once the worker loaded the app (--lazy-apps), not when the router listens.
        return ManagedProcess.serve(directory, run.cell.id, command, banner=SERVER_BANNER)


VARIANTS = [UWSGI(
    "uwsgi", "uWSGI, Flask-SocketIO's documented command with --lazy-apps (gevent: --gevent "
    "1000 --http-websockets, async_mode='gevent_uwsgi'; threading: --threads 4)",
    doc=DOC, grid=GRID, forkable=False, reproducible=False)]
