"""What stack this environment has: versions for reports and baselines. Nothing
is imported to find out (package metadata only), so eventlet and gevent never
load in this process. (Which cells cannot run here is for their values to
say: ``Cell.unavailable``.)"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from typing import Any

#: Packages named in every report, in this order; None where not installed.
VERSIONED = ("flask", "flask-socketio", "python-socketio", "python-engineio",
             "eventlet", "gevent", "greenlet", "simple-websocket", "redis", "gunicorn",
             "celery", "uwsgi")


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


def environment() -> dict[str, Any]:
    """Everything a bug report or a baseline records about where cells ran."""
    return {
        "python_implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.machine()}",
        "os_release": platform.release(),
        "emitcheck": importlib.metadata.version("emitcheck"),
        "versions": versions(),
    }
