"""What stack this environment has: versions for reports and baselines. Nothing
is imported to find out (package metadata only), so eventlet and gevent never
load in this process. (Which cells cannot run here is for their values to
say: ``Cell.unavailable``.)"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from emitcheck.system import binaries

#: Packages named in every report, in this order; None where not installed.
VERSIONED = ("flask", "flask-socketio", "python-socketio", "python-engineio",
             "eventlet", "gevent", "greenlet", "simple-websocket", "redis", "gunicorn",
             "celery", "uwsgi", "uvicorn", "uvicorn-worker", "aiohttp")


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


#: Seconds another interpreter may take to say its versions.
VERSIONS_TIMEOUT = 30.0
#: What another interpreter runs to say its versions (as ``_versions`` finds them).
_SAY_VERSIONS = """
import importlib.metadata as m, json, platform, sys
found = {"python": platform.python_version()}
for name in sys.argv[1:]:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""
#: The packages a mixed cell's evidence always names, on both sides (beyond them,
#: those of VERSIONED installed on both at different releases).
MIXED = ("python-socketio", "python-engineio", "flask-socketio", "redis")


@functools.cache
def versions_of(python: str) -> dict[str, str | None]:
    """``versions()`` as the interpreter ``python`` sees them (its environment's);
    RuntimeError in one line when it cannot say."""
    if python == sys.executable:
        return versions()
    from emitcheck.system.process import run_bounded

    try:
        done = run_bounded([python, "-I", "-c", _SAY_VERSIONS, *VERSIONED], Path.cwd(),
                           VERSIONS_TIMEOUT)
        return dict(json.loads(done.stdout))
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        raise RuntimeError(f"{python} did not say its versions ({exc})") from None


def mixed_releases(others_python: str) -> dict[str, str]:
    """Facts for the evidence of a cell whose other processes ran ``others_python``:
    the releases of the web server's stack and of theirs (``MIXED``, and any other
    of VERSIONED installed on both sides at different releases: eventlet missing
    from one side is not said, it is the cell's stack that tells)."""
    server = versions()
    try:
        others = versions_of(others_python)
    except RuntimeError as exc:
        return {"other processes ran": str(exc)}
    names = [n for n in ("python", *VERSIONED) if n in MIXED or (
        server.get(n) and others.get(n) and server.get(n) != others.get(n))]

    def said(found: dict[str, str | None]) -> str:
        return ", ".join(f"{n} {found.get(n) or '(not installed)'}" for n in names)
    return {"web server ran": said(server), "other processes ran": said(others)}


def environment() -> dict[str, Any]:
    """Everything a bug report or a baseline records about where cells ran."""
    return {
        "python_implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.machine()}",
        "os_release": platform.release(),
        "emitcheck": importlib.metadata.version("emitcheck"),
        "versions": versions(),
        # The programs cells run that are not Python packages (binaries.py): each
        # one's version, where it came from and its path, None where missing.
        "binaries": binaries.found(),
    }
