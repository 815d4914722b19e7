"""What stack this environment has: versions for reports and baselines, and
which cells cannot run here. Nothing is imported to find out (``find_spec`` and
package metadata only), so eventlet and gevent never load in this process."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import platform
import shutil

from . import gunicorn_server, node_client
from .cells import Cell

#: Packages named in every report, in this order; None where not installed.
VERSIONED = ("flask", "flask-socketio", "python-socketio", "python-engineio",
             "eventlet", "gevent", "greenlet", "simple-websocket", "redis", "gunicorn")


def versions() -> dict[str, str | None]:
    """Python's version and each package's, None where not installed."""
    return dict(_versions())  # a copy: callers may keep or change it


@functools.cache
def _versions() -> dict[str, str | None]:  # read once: installs do not change mid-run
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def environment() -> dict[str, object]:
    """Everything a bug report or a baseline records about where cells ran."""
    return {
        "python_implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.machine()}",
        "os_release": platform.release(),
        "emitcheck": importlib.metadata.version("emitcheck"),
        "versions": versions(),
    }


def auto_mode() -> str:
    """The async_mode that ``SocketIO(app)`` will pick here.

    python-engineio tries eventlet, gevent_uwsgi, gevent and threading in that
    order and keeps the first whose driver imports; this predicts that from
    what is installed, without importing anything. The runner checks the
    prediction against what the server reports.
    """
    def has(name: str) -> bool:
        return importlib.util.find_spec(name) is not None

    if has("eventlet"):
        return "eventlet"
    if has("gevent") and has("uwsgi"):
        return "gevent_uwsgi"
    if has("gevent"):
        return "gevent"
    return "threading"


def missing_stack(cell: Cell) -> str | None:
    """Why the cell cannot run here, or None when all it needs is installed:
    its async stack, Redis (server and Python client), gunicorn, Node."""
    if cell.package and importlib.util.find_spec(cell.package) is None:
        return f"{cell.package} not installed"
    if cell.queue == "redis":
        if shutil.which("redis-server") is None:
            return "redis-server not found on PATH (Debian: apt-get install redis-server)"
        if importlib.util.find_spec("redis") is None:
            return "the redis Python package is not installed (pip install 'emitcheck[redis]')"
    if cell.server == "gunicorn":
        return gunicorn_server.unavailable(cell)
    if cell.client == "node":
        return node_client.node_unavailable()
    return None
