"""The Node client's dependencies, installed on first use into a cache folder.

emitcheck ships ``node/probe.js`` with its ``package.json`` and
``package-lock.json`` (in the wheel too); ``npm ci`` installs exactly the lock
file's versions into ``<cache>/node-<hash of the lock file>`` (``<cache>`` is
``$EMITCHECK_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/emitcheck``:
cache.py). A new lock file gets a new folder, so a folder is never updated in
place, and every emitcheck with the same lock file shares it. probe.js runs
from the package with ``NODE_PATH`` set to that folder's ``node_modules``, so
the cache holds no copy of it to go stale.

An install is complete or absent. npm ci runs in a staging folder beside the
target (cache.py names it after its process), and what it made is checked
before the rename: npm said nothing of files it could not write (on a full
disk npm ci exits 0 and only warns, leaving files empty), every package of the
lock file is there with a readable package.json of its locked version, and
``node`` loads socket.io-client from it, within a bound. Then the install
records its files and their sizes (``emitcheck-node.json``) and is renamed
into place. A failed check is one line and leaves nothing in the cache.

A cached install is checked again the first time a process uses it (the same
checks, and the recorded sizes): one that is not complete any more (truncated,
emptied, half removed) is removed, saying so in one line, and installed again;
when it cannot be removed, the ``-node`` cells skip saying why. That first use
also removes the staging folders of installs that were killed (SIGKILL).

Several processes may install at once (pytest-xdist workers, two shells): each
runs ``npm ci`` in its own staging folder and renames it into place. The first
rename wins; a rename onto a folder that exists fails, and the loser drops its
copy. So there is no lock to wait on, and nothing half-installed is ever seen.
Within one process the threads (the cell pool's) share a single attempt, and a
failed attempt is remembered: every ``-node`` cell then skips with its reason,
and npm is not asked again for each cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from emitcheck.system import binaries, cache
from emitcheck.system.cache import CacheNotWritable, cache_root
from emitcheck.system.process import die_with_parent_prefix, run_bounded

__all__ = ["INSTALL_TIMEOUT", "SHIPPED", "NodeCacheNotWritable", "NodeInstallError",
           "cache_folder", "cache_root", "damage", "dependencies", "ensure", "incomplete",
           "install", "is_installed", "load_failure", "node_env", "provide"]

#: probe.js, package.json and package-lock.json, as shipped.
SHIPPED = Path(__file__).with_name("node")
#: Seconds ``npm ci`` may take (it fetches about ten small packages, or reads
#: them from npm's own cache); npm's own network timeouts are much longer.
INSTALL_TIMEOUT = 120.0
#: Seconds ``node`` may take to load socket.io-client from an install (about 0.1 s).
LOAD_TIMEOUT = 30.0
#: What a checked install records about itself, written before the rename: its
#: files and their sizes, which later checks compare.
RECORD = "emitcheck-node.json"
STDERR_TAIL_CHARS = 400

_lock = threading.Lock()
_failed: dict[Path, NodeInstallError] = {}
_checked: set[Path] = set()


class NodeInstallError(Exception):
    """npm is missing, ``npm ci`` failed or did not finish in time, or what it
    installed is not complete; says why."""


class NodeCacheNotWritable(NodeInstallError, CacheNotWritable):
    """The cache folder cannot be written: a NodeInstallError (the ``-node``
    cells skip with it) that the command line reports in one line, status 2."""


def cache_folder(package: Path = SHIPPED) -> Path:
    """Where ``package``'s lock file is installed: ``node-<12 hex of its sha256>``."""
    digest = hashlib.sha256((package / "package-lock.json").read_bytes()).hexdigest()
    return cache_root() / f"node-{digest[:12]}"


def dependencies(package: Path) -> list[str]:
    return sorted(json.loads((package / "package.json").read_text())["dependencies"])


def _what(package: Path) -> str:
    return ", ".join(dependencies(package))


def _locked(package: Path) -> dict[str, dict]:
    """The packages the lock file installs: ``node_modules/...`` path -> its entry."""
    packages = json.loads((package / "package-lock.json").read_text()).get("packages", {})
    return {where: entry for where, entry in packages.items()
            if where.startswith("node_modules/") and not entry.get("link")}


def _manifest(path: Path) -> tuple[dict | None, str | None]:
    """A package.json's content, or what is wrong with it."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None, "is missing"
    except OSError as exc:
        return None, f"cannot be read ({cache.reason(exc)})"
    if not text.strip():
        return None, "is empty"
    try:
        content = json.loads(text)
    except ValueError:
        return None, "is not JSON (cut short?)"
    return (content, None) if isinstance(content, dict) else (None, "is not a JSON object")


def is_installed(folder: Path, package: Path = SHIPPED) -> bool:
    """Does ``folder/node_modules`` hold every dependency of ``package``, each with
    a readable package.json? (A prepared ``EMITCHECK_NODE_DIR``'s check: its lock
    file is its own. The cache folder's is ``damage``.)"""
    return all(_manifest(folder / "node_modules" / name / "package.json")[1] is None
               for name in dependencies(package))


def incomplete(folder: Path, package: Path = SHIPPED) -> str | None:
    """What is missing or damaged in ``folder``, an install of ``package``'s lock
    file, as far as can be told without running node: every package of the lock
    file there with a readable package.json of its locked version, and every file
    of the record (when there is one) at its recorded size. None when nothing is."""
    for where, entry in _locked(package).items():
        content, wrong = _manifest(folder / where / "package.json")
        if wrong == "is missing" and entry.get("optional"):
            continue  # not for this platform
        if wrong:
            return f"{where}/package.json {wrong}"
        assert content is not None
        if entry.get("version") and content.get("version") != entry["version"]:
            return f"{where} is version {content.get('version')}, not {entry['version']} " \
                   "as locked"
    try:
        recorded = json.loads((folder / RECORD).read_text())["files"]
    except FileNotFoundError:
        return None  # installed by an emitcheck that recorded nothing: the rest must do
    except (OSError, ValueError, KeyError, TypeError):
        return f"its record {RECORD} is unreadable"
    changed = []
    for name, size in recorded.items():
        try:
            now = (folder / name).lstat().st_size
        except OSError:
            now = None
        if now != size:
            changed.append((name, size, now))
    if changed:
        name, size, now = changed[0]
        first = f"{name} is missing" if now is None else f"{name} has {now} bytes, not {size}"
        return f"{len(changed)} of its {len(recorded)} files changed since the install: {first}"
    return None


def node_env(modules: Path) -> dict[str, str]:
    """The environment for node to ``require()`` from ``modules``."""
    return {**os.environ, "NODE_PATH": str(modules)}


def load_failure(folder: Path, package: Path = SHIPPED,
                 timeout: float = LOAD_TIMEOUT) -> str | None:
    """Why node cannot load ``package``'s dependencies from ``folder``, None when it
    does. Raises NodeInstallError when node is missing or does not answer in time
    (that says nothing about the install)."""
    node = binaries.find("node")
    if node is None:
        raise NodeInstallError(str(binaries.unavailable(
            "node", f"needed to check the install in {folder}")))
    script = "".join(f"require({json.dumps(name)});" for name in dependencies(package))
    try:
        done = run_bounded([*die_with_parent_prefix(), *node.argv, "-e", script], folder,
                           timeout,
                           node_env(folder / "node_modules"))
    except subprocess.TimeoutExpired:
        raise NodeInstallError(f"node did not load {_what(package)} from {folder} within "
                               f"{timeout:g} s") from None
    if done.returncode == 0:
        return None
    return f"node cannot load {_what(package)} from it: {_node_says(done.stderr)}"


def damage(folder: Path, package: Path = SHIPPED) -> str | None:
    """What is wrong with the install in ``folder`` (``incomplete``, else node cannot
    load it), None when nothing is."""
    return incomplete(folder, package) or load_failure(folder, package)


def ensure(package: Path = SHIPPED, timeout: float = INSTALL_TIMEOUT) -> Path:
    """The cache folder with ``package``'s dependencies installed and checked,
    installing them first if needed. Raises NodeInstallError, also for every
    later call in this process once an attempt failed."""
    return provide(package, timeout)[0]


def provide(package: Path = SHIPPED,
            timeout: float = INSTALL_TIMEOUT) -> tuple[Path, float | None]:
    """``ensure``, and the seconds the install took (None: it was there). An
    install that is there is checked once per process (``damage``); one that
    is damaged is removed and installed again."""
    folder = cache_folder(package)
    with _lock:  # threads wait for one attempt, which is bounded by ``timeout``
        if folder in _checked:
            return folder, None
        if folder in _failed:
            known = _failed[folder]
            raise type(known)(str(known))
        started = time.perf_counter()
        cache.remove_stale(folder.parent)  # staging folders of killed installs (one glob)
        try:
            if folder.is_dir():
                why = damage(folder, package)
                if why is None:
                    _checked.add(folder)
                    return folder, None
                _discard(folder, why, package)
                started = time.perf_counter()
            install(package, folder, timeout)
        except NodeInstallError as exc:
            _failed[folder] = exc
            raise
        _checked.add(folder)
    return folder, round(time.perf_counter() - started, 1)


def _discard(folder: Path, why: str, package: Path) -> None:
    """Remove the damaged install in ``folder``, saying so; raise when it cannot be."""
    trash = cache.staging_name(folder)  # a rename first: nobody uses it from then on
    try:
        folder.rename(trash)
    except FileNotFoundError:  # another process removed it first
        return
    except OSError as exc:
        said = f"{folder} is not a complete install of {_what(package)} ({why}), and " \
               "cannot be removed"
        if exc.errno in cache.NOT_WRITABLE:
            raise NodeCacheNotWritable(f"{said}: {cache.advice(exc)}") from None
        raise NodeInstallError(f"{said} ({cache.reason(exc)}): remove it "
                               "('emitcheck cache clear')") from None
    print(f"emitcheck: {folder} was not a complete install of {_what(package)} ({why}): "
          "removed it", file=sys.stderr, flush=True)
    shutil.rmtree(trash, ignore_errors=True)


def _write_failed(exc: OSError, folder: Path, package: Path) -> NodeInstallError:
    said = f"cannot install {_what(package)} into {folder}: {cache.advice(exc)}"
    return NodeCacheNotWritable(said) if exc.errno in cache.NOT_WRITABLE \
        else NodeInstallError(said)


def install(package: Path, folder: Path, timeout: float) -> None:
    """``npm ci`` from ``package``'s lock file into a staging folder, checked, and
    renamed to ``folder`` when complete; NodeInstallError (nothing left) when not."""
    what = _what(package)
    npm = binaries.find("npm")
    if npm is None:
        raise NodeInstallError(str(binaries.unavailable(
            "npm", f"needed once, to install {what} into {folder}")))
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        cache.remove_stale(folder.parent)
        staging = cache.make_staging(folder)
    except OSError as exc:
        raise _write_failed(exc, folder, package) from None
    print(f"emitcheck: installing {what} into {folder} (npm ci from the lock file, once)",
          file=sys.stderr, flush=True)
    try:
        _npm_ci(npm, package, staging, folder, timeout)
        why = damage(staging, package)
        if why is not None:
            raise NodeInstallError(f"npm ci installed {what} for {folder}, but not "
                                   f"completely: {why}")
        try:
            _record(staging)
        except OSError as exc:
            raise _write_failed(exc, folder, package) from None
        try:
            staging.rename(folder)
        except OSError as exc:
            if not folder.is_dir():
                raise _write_failed(exc, folder, package) from None
            # another process was first: its copy is as good (it was checked as this one)
            if incomplete(folder, package) is not None:
                raise NodeInstallError(f"{folder} exists but does not hold {what}: remove "
                                       "it ('emitcheck cache clear') and try again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _npm_ci(npm: binaries.Binary, package: Path, staging: Path, folder: Path,
            timeout: float) -> None:
    """Run npm ci in ``staging``; NodeInstallError with npm's reason when it failed,
    or when it said it could not write a file."""
    what = _what(package)
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(package / name, staging / name)
    except OSError as exc:
        raise _write_failed(exc, folder, package) from None
    # Warnings too: npm reports a file it could not write (ENOSPC) as one, and exits 0.
    argv = [*die_with_parent_prefix(), *npm.argv, "ci", "--prefix", str(staging), "--no-audit",
            "--no-fund", "--ignore-scripts", "--loglevel=warn"]
    try:
        done = run_bounded(argv, staging, timeout)
    except subprocess.TimeoutExpired as exc:
        raise NodeInstallError(
            f"npm ci did not finish within {timeout:g} s installing {what} into {folder} "
            f"(is the npm registry reachable?): {_npm_says(exc.stderr)}") from None
    if done.returncode != 0:
        raise NodeInstallError(f"npm ci failed (status {done.returncode}) installing {what} "
                               f"into {folder}: {_npm_says(done.stderr)}{_hint(done.stderr)}")
    unwritten = _unwritten(done.stderr)
    if unwritten:
        raise NodeInstallError(f"npm ci could not write every file installing {what} into "
                               f"{folder}: {unwritten}{_hint(done.stderr)}")


def _record(staging: Path) -> None:
    """Write the record of the install in ``staging``: each file and its size."""
    files = {}
    for where, _, names in os.walk(staging):
        for name in names:
            path = Path(where, name)
            if not path.is_symlink():
                files[str(path.relative_to(staging))] = path.lstat().st_size
    (staging / RECORD).write_text(json.dumps({"files": dict(sorted(files.items()))},
                                             indent=0))


#: Lines of npm's error that repeat its code (syscall, errno), trace JavaScript
#: frames, or point at its log file; of the others the first two say it.
_NPM_NOISE = ("syscall ", "errno ", "at ", "A complete log of this run")
#: npm's warnings for a file of a package it could not write (or read from its tarball).
_TAR_PROBLEMS = re.compile(r"\b(TAR_ENTRY_ERROR|TAR_ENTRY_INVALID|TAR_BAD_ARCHIVE|"
                           r"TAR_ABORT)\b\s*(?P<what>.*)")


def _text(stderr: bytes | None) -> str:
    return (stderr or b"").decode(errors="replace")


def _npm_says(stderr: bytes | None) -> str:
    """npm's error on one line: its code and its message (its warnings left out)."""
    kept = []
    for line in _text(stderr).splitlines():
        for prefix in ("npm error", "npm ERR!"):
            if line.startswith(prefix):
                line = line.removeprefix(prefix)
                break
        else:
            if line.lower().startswith("npm warn"):
                continue
        line = line.strip()
        if line and not line.startswith(_NPM_NOISE):
            kept.append(line)
    return "; ".join(kept[:2])[:STDERR_TAIL_CHARS] or "(npm said nothing)"


def _unwritten(stderr: bytes | None) -> str | None:
    """npm's warnings of files it could not write, on one line: the first, and how
    many there were."""
    found = [match for line in _text(stderr).splitlines()
             if (match := _TAR_PROBLEMS.search(line))]
    if not found:
        return None
    first = f"{found[0][1]} {found[0]['what']}".strip()
    more = f" ({len(found)} files)" if len(found) > 1 else ""
    return f"{first}{more}"[:STDERR_TAIL_CHARS]


def _hint(stderr: bytes | None) -> str:
    """What to do, when npm's words say the disk is full."""
    if re.search(r"\bENOSPC\b|no space left on device", _text(stderr), re.IGNORECASE):
        return (f"; free some space on the device of {cache_root()}, or set "
                f"{cache.CACHE_ENV} to a folder on another device")
    return ""


def _node_says(stderr: bytes | None) -> str:
    """node's error on one line: the error (``SyntaxError: ...``), and the file it
    points at."""
    lines = [line.strip() for line in _text(stderr).splitlines()]
    error = next((line for line in lines if re.match(r"^[A-Za-z.]*Error\b", line)), None)
    where = next((line for line in lines if re.match(r"^/.*:\d+$", line)), None)
    said = error or (lines[-1] if lines else "(node said nothing)")
    return (f"{said} (at {where})" if where else said)[:STDERR_TAIL_CHARS]
