"""Cells served by gunicorn instead of ``socketio.run`` (the ``-gunicorn`` suffix).

Each mode gets the worker class Flask-SocketIO's deployment docs give for it,
with one worker (Socket.IO needs sticky sessions beyond one): gevent mode the
``gevent`` worker, which monkey patches by itself before it loads the app;
threading mode the ``gthread`` worker with 4 threads; eventlet mode the
``eventlet`` worker, which recent gunicorn releases no longer have.

Nothing here imports gunicorn's workers (the gevent one imports gevent): the
list of worker classes is a plain dict in ``gunicorn.workers``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

from .cells import Cell

#: The worker class and its extra options, per async mode.
WORKERS = {
    "threading": ["--worker-class", "gthread", "--threads", "4"],
    "eventlet": ["--worker-class", "eventlet"],
    "gevent": ["--worker-class", "gevent"],
}


def unavailable(cell: Cell) -> str | None:
    """Why gunicorn cannot serve this cell here, or None."""
    if importlib.util.find_spec("gunicorn") is None:
        return "gunicorn not installed (pip install 'emitcheck[gunicorn]')"
    from gunicorn.workers import SUPPORTED_WORKERS  # a dict; imports no worker

    version = importlib.metadata.version("gunicorn")
    worker = WORKERS[cell.mode][1]  # the --worker-class value
    if worker not in SUPPORTED_WORKERS:
        return (f"gunicorn {version} has no {worker} worker (it has: "
                f"{', '.join(SUPPORTED_WORKERS)})")
    if worker == "gevent" and importlib.util.find_spec("packaging") is None:
        return "gunicorn's gevent worker needs packaging: pip install 'gunicorn[gevent]'"
    return None


def _has_control_socket_option() -> bool:
    """gunicorn 25+ opens a control socket in ~/.gunicorn unless told not to; cells
    that run side by side would fight over it."""
    from gunicorn.config import KNOWN_SETTINGS  # plain settings; imports no worker

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def argv(cell: Cell, port: int, emit_log: str, interval: float,
         queue_url: str | None) -> list[str]:
    """The command that serves the cell's app (from server_child.py) with gunicorn."""
    args = ", ".join(repr(a) for a in (cell.id, emit_log, interval, queue_url))
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", *WORKERS[cell.mode], "--graceful-timeout", "1",
               "--log-level", "warning"]
    if _has_control_socket_option():
        command.append("--no-control-socket")
    return [*command, f"emitcheck.server_child:gunicorn_app({args})"]

