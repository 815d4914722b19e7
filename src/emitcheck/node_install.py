"""The Node client's dependencies, installed on first use into a cache folder.

emitcheck ships ``node/probe.js`` with its ``package.json`` and
``package-lock.json`` (in the wheel too); ``npm ci`` installs exactly the lock
file's versions into ``${XDG_CACHE_HOME:-~/.cache}/emitcheck/node-<hash of the
lock file>``. A new lock file gets a new folder, so a folder is never updated
in place, and every emitcheck with the same lock file shares it. probe.js runs
from the package with ``NODE_PATH`` set to that folder's ``node_modules``, so
the cache holds no copy of it to go stale.

Several processes may install at once (pytest-xdist workers, two shells): each
runs ``npm ci`` in a temporary folder beside the target and renames it into
place. The first rename wins; a rename onto a folder that exists fails, and the
loser drops its copy. So there is no lock to wait on, and nothing half-installed
is ever seen. Within one process the threads (the cell pool's) share a single
attempt, and a failed attempt is remembered: every ``-node`` cell then skips
with its reason, and npm is not asked again for each cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .process import die_with_parent_prefix, run_bounded

#: probe.js, package.json and package-lock.json, as shipped.
SHIPPED = Path(__file__).with_name("node")
#: Seconds ``npm ci`` may take (it fetches about ten small packages, or reads
#: them from npm's own cache); npm's own network timeouts are much longer.
INSTALL_TIMEOUT = 120.0
#: A temporary install folder this old was left by a process that died.
ABANDONED_AFTER_S = 24 * 3600
STDERR_TAIL_CHARS = 400

_lock = threading.Lock()
_failed: dict[Path, str] = {}


class NodeInstallError(Exception):
    """npm is missing, ``npm ci`` failed or did not finish in time; says why."""


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/emitcheck``, or ``~/.cache/emitcheck`` (the XDG base
    directory rule: a relative XDG_CACHE_HOME is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "emitcheck"


def cache_folder(package: Path = SHIPPED) -> Path:
    """Where ``package``'s lock file is installed: ``node-<12 hex of its sha256>``."""
    digest = hashlib.sha256((package / "package-lock.json").read_bytes()).hexdigest()
    return cache_root() / f"node-{digest[:12]}"


def dependencies(package: Path) -> list[str]:
    return sorted(json.loads((package / "package.json").read_text())["dependencies"])


def is_installed(folder: Path, package: Path = SHIPPED) -> bool:
    """Does ``folder/node_modules`` hold every dependency of ``package``?"""
    return all((folder / "node_modules" / name / "package.json").is_file()
               for name in dependencies(package))


def node_env(modules: Path) -> dict[str, str]:
    """The environment for node to ``require()`` from ``modules``."""
    return {**os.environ, "NODE_PATH": str(modules)}


def ensure(package: Path = SHIPPED, timeout: float = INSTALL_TIMEOUT) -> Path:
    """The cache folder with ``package``'s dependencies installed, installing
    them first if needed. Raises NodeInstallError, also for every later call in
    this process once an attempt failed."""
    folder = cache_folder(package)
    with _lock:  # threads wait for one attempt, which is bounded by ``timeout``
        if is_installed(folder, package):
            return folder
        if folder in _failed:
            raise NodeInstallError(_failed[folder])
        try:
            install(package, folder, timeout)
        except NodeInstallError as exc:
            _failed[folder] = str(exc)
            raise
    return folder


def install(package: Path, folder: Path, timeout: float) -> None:
    """``npm ci`` from ``package``'s lock file into a temporary folder, renamed
    to ``folder`` when complete."""
    what = ", ".join(dependencies(package))
    npm = shutil.which("npm")
    if npm is None:
        raise NodeInstallError(f"npm not found on PATH (needed once, to install {what} "
                               f"into {folder})")
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(folder)
    print(f"emitcheck: installing {what} into {folder} (npm ci from the lock file, once)",
          file=sys.stderr, flush=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(package / name, staging / name)
        argv = [*die_with_parent_prefix(), npm, "ci", "--prefix", str(staging), "--no-audit",
                "--no-fund", "--ignore-scripts", "--loglevel=error"]
        try:
            done = run_bounded(argv, staging, timeout)
        except subprocess.TimeoutExpired as exc:
            raise NodeInstallError(
                f"npm ci did not finish within {timeout:g} s installing {what} into {folder} "
                f"(is the npm registry reachable?): {_npm_says(exc.stderr)}") from None
        if done.returncode != 0:
            raise NodeInstallError(f"npm ci failed (status {done.returncode}) installing {what} "
                                   f"into {folder}: {_npm_says(done.stderr)}")
        try:
            staging.rename(folder)
        except OSError:  # another process was first: its copy is as good
            if not is_installed(folder, package):
                raise NodeInstallError(f"{folder} exists but does not hold {what}: "
                                       "remove it and try again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


#: Lines of npm's error that repeat its code (syscall, errno), trace JavaScript
#: frames, or point at its log file; of the others the first two say it.
_NPM_NOISE = ("syscall ", "errno ", "at ", "A complete log of this run")


def _npm_says(stderr: bytes | None) -> str:
    """npm's error on one line: its code and its message."""
    lines = [line.removeprefix("npm error").strip()
             for line in (stderr or b"").decode(errors="replace").splitlines()]
    kept = [line for line in lines if line and not line.startswith(_NPM_NOISE)]
    return "; ".join(kept[:2])[:STDERR_TAIL_CHARS] or "(npm said nothing)"


def _remove_abandoned(folder: Path) -> None:
    """Temporary folders of installs whose process died (SIGKILL, power loss)."""
    for staging in folder.parent.glob(f".{folder.name}-*"):
        try:
            if time.time() - staging.stat().st_mtime > ABANDONED_AFTER_S:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            pass
