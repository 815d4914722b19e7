"""emitcheck's cache folder: where it is, what is in it, how big it is, clearing it,
and the temporary folders things are built in before they are renamed into it.

Everything emitcheck keeps between runs is under one folder,
``$EMITCHECK_CACHE_DIR`` when set, else ``${XDG_CACHE_HOME:-~/.cache}/emitcheck``:
the Node client's socket.io-client (``node-<hash>``, node_install.py) and the
environments of ``emitcheck sweep`` with the copies of emitcheck they run
(``sweep/``). All of it is rebuilt on demand, so clearing it costs only time.
uv's own cache of downloaded wheels is uv's (``uv cache clean``), not ours.

Each item is built in a *staging* folder beside its place, named
``.<item>.staging-<host>-<pid>-<start>-<random>`` (the owner: a hash of the
host name, the process id and its start time, so a reused pid is not mistaken
for the owner), and renamed into place when complete. A staging folder whose
owner is no longer running (it was killed: SIGKILL, power loss) is stale: the
next build beside it removes it, and so does ``emitcheck cache clear``; one
whose owner runs is left alone by both.

A cache folder that cannot be written (read-only, another user's) is
``CacheNotWritable``: one line naming the folder and what to do, status 2 on the
command line, where every command reports it the same way (a ClickException).

A copy of the running emitcheck package (``sweep/self-<hash>``: ``emitcheck/``
and its metadata, nothing else, named by a hash of their content) is what a
process in another environment imports emitcheck from (``PYTHONPATH``): the
cells of a sweep, a Celery worker of the other processes' environment
(``--others-with``). It works whether emitcheck was installed from a wheel or is
an editable checkout, and shadows nothing of that environment's stack.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import click

__all__ = ["CACHE_ENV", "CacheError", "CacheNotWritable", "Entry", "cache_error", "cache_root",
           "clear", "entries", "human", "in_use", "make_staging", "remove_stale",
           "self_copy", "size_of", "stale", "staging_for", "staging_name", "sweep_root"]

#: Names the cache folder (instead of ``${XDG_CACHE_HOME:-~/.cache}/emitcheck``).
CACHE_ENV = "EMITCHECK_CACHE_DIR"
#: A staging folder whose owner cannot be told (made by an older emitcheck, or on
#: another host sharing the folder) is abandoned when untouched this long.
ABANDONED_AFTER_S = 24 * 3600
#: What a write refused for want of permission raises (EROFS: a read-only mount).
NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
#: What a full disk (or quota) raises.
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

_STAGING = re.compile(r"\.staging-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<started>\d+)-\w+$")


def cache_root() -> Path:
    """``$EMITCHECK_CACHE_DIR``; else ``$XDG_CACHE_HOME/emitcheck``, or
    ``~/.cache/emitcheck`` (the XDG base directory rule: a relative
    XDG_CACHE_HOME is ignored)."""
    own = os.environ.get(CACHE_ENV, "")
    if own:
        return Path(os.path.abspath(os.path.expanduser(own)))
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "emitcheck"


class CacheError(click.ClickException):
    """A write to the cache folder failed (a full disk, say); one line, status 1."""


class CacheNotWritable(CacheError):
    """The cache folder cannot be written; one line saying which and what to do,
    status 2 (the machine's setup, like bad input: not a failure of emitcheck)."""
    exit_code = 2


def reason(exc: OSError, besides: Path | None = None) -> str:
    """What an OSError says, lower case, with the file it names (unless ``besides``)."""
    said = (exc.strerror or str(exc)).lower()
    named = exc.filename and str(exc.filename) != str(besides)
    return f"{said}: {exc.filename}" if named else said


def advice(exc: OSError, root: Path | None = None) -> str:
    """One line on a failed write under the cache folder: what failed and what to do."""
    root = root or cache_root()
    if exc.errno in NOT_WRITABLE:
        return (f"emitcheck's cache folder {root} is not writable ({reason(exc, root)}): "
                f"make it writable, or set {CACHE_ENV} to a folder that is")
    if exc.errno in FULL:  # the file named, if any, may be the source of a copy: not said
        return (f"no space left on the device of emitcheck's cache folder {root}: free "
                f"some space, or set {CACHE_ENV} to a folder on another device")
    return f"cannot write in emitcheck's cache folder {root} ({reason(exc, root)})"


def cache_error(exc: OSError, doing: str = "", root: Path | None = None) -> CacheError:
    """The exception for a failed write under the cache folder: CacheNotWritable
    when permission was refused, else CacheError. ``doing`` starts its line."""
    kind = CacheNotWritable if exc.errno in NOT_WRITABLE else CacheError
    return kind(f"{doing}: {advice(exc, root)}" if doing else advice(exc, root))


# -- staging folders ---------------------------------------------------------------------

@dataclass(frozen=True)
class Owner:
    host: str           # 8 hex of the host name's sha256
    pid: int
    started: int        # the process's start time, whole seconds since the epoch


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (whole seconds), None when it is not running."""
    import psutil  # here, not at import: node_install imports this module for every cell

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return int(process.create_time())
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:  # another user's process: it runs, its start time is not ours to read
        return -1


def owner(path: Path) -> Owner | None:
    """The owner its name records, None when it is not a staging folder of this scheme."""
    found = _STAGING.search(path.name)
    if found is None:
        return None
    return Owner(found["host"], int(found["pid"]), int(found["started"]))


def staging_name(target: Path) -> Path:
    """A fresh name beside ``target`` for a folder that is not ``target`` yet
    (or no longer: a broken one on its way out), owned by this process."""
    pid = os.getpid()
    return target.parent / (f".{target.name}.staging-{_host()}-{pid}-"
                            f"{_start_time(pid) or 0}-{secrets.token_hex(4)}")


def make_staging(target: Path) -> Path:
    """A new empty staging folder for ``target`` (mode 0700, as mkdtemp makes)."""
    while True:
        path = staging_name(target)
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:  # 32 random bits taken: another name
            continue


def staging_for(target: Path) -> Path:
    """A new staging folder for ``target``, once the stale ones beside it are
    removed. Raises CacheNotWritable (or CacheError: a full disk) in one line."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target.parent)
        return make_staging(target)
    except OSError as exc:
        raise cache_error(exc, f"cannot build {target.name}") from None


def _age(path: Path) -> float:
    try:
        return time.time() - path.lstat().st_mtime
    except OSError:  # gone meanwhile
        return 0.0


def in_use(path: Path) -> bool:
    """Is ``path`` a staging folder whose owner still runs? On another host (a cache
    folder shared over the network) that cannot be told: it is while it is young."""
    made_by = owner(path)
    if made_by is None:
        return False
    if made_by.host != _host():
        return _age(path) <= ABANDONED_AFTER_S
    started = _start_time(made_by.pid)
    return started is not None and (started == -1 or abs(started - made_by.started) <= 1)


def stale(path: Path) -> bool:
    """Is ``path`` a staging folder that nothing will finish? Its owner is gone; or
    its name tells no owner (an older emitcheck's) and it is a day old."""
    if owner(path) is not None:
        return not in_use(path)
    return _age(path) > ABANDONED_AFTER_S


def _remove(path: Path) -> OSError | None:
    """Remove a file or a folder tree; the error that stopped it, if any."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:  # removed meanwhile: as good
        return None
    except OSError as exc:
        return exc
    return None


def remove_stale(parent: Path) -> list[Path]:
    """Remove the stale staging folders in ``parent`` (every hidden item there is
    one); those removed."""
    try:
        hidden = sorted(parent.glob(".*"))
    except OSError:
        return []
    removed = []
    for item in hidden:
        if stale(item) and _remove(item) is None:
            removed.append(item)
    return removed


# -- the copy of emitcheck -------------------------------------------------------------

def sweep_root() -> Path:
    """Where the sweep's environments and the copies of emitcheck are."""
    return cache_root() / "sweep"


def _package_files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _remove_abandoned(parent: Path, pattern: str) -> None:
    """Items of ``parent`` matching ``pattern`` untouched for a day."""
    for item in parent.glob(pattern):
        if _age(item) > ABANDONED_AFTER_S:
            shutil.rmtree(item, ignore_errors=True)


def self_copy() -> Path:
    """A folder with a copy of the running emitcheck package and its metadata, named
    by a hash of their content (made once per content; staging and rename as above)."""
    import emitcheck

    package = Path(emitcheck.__file__).parent
    files = _package_files(package)
    try:
        metadata = importlib.metadata.distribution("emitcheck").read_text("METADATA") or ""
    except importlib.metadata.PackageNotFoundError:
        metadata = ""
    if not metadata:
        metadata = "Metadata-Version: 2.1\nName: emitcheck\nVersion: 0+unknown\n"
    digest = hashlib.sha256(metadata.encode())
    for path in files:
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    target = sweep_root() / f"self-{digest.hexdigest()[:12]}"
    if (target / "emitcheck" / "__init__.py").is_file():
        with contextlib.suppress(OSError):  # a read-only cache: it is there, good enough
            os.utime(target)  # in use: not pruned
        return target
    staging = staging_for(target)
    _remove_abandoned(target.parent, "self-*")  # copies of emitchecks not run for a day
    try:
        for path in files:
            copy = staging / "emitcheck" / path.relative_to(package)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        version = next((line.split(":", 1)[1].strip() for line in metadata.splitlines()
                        if line.startswith("Version:")), "0+unknown")
        info = staging / f"emitcheck-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(metadata)
        try:
            staging.rename(target)
        except OSError:  # another process made the same copy first
            if not (target / "emitcheck" / "__init__.py").is_file():
                raise
    except OSError as exc:
        raise cache_error(exc, "cannot copy emitcheck into its cache") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# -- what is in it -----------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    path: Path
    bytes: int


def size_of(path: Path) -> int:
    """Bytes in the files under ``path`` (hard links counted once per name; symlinks not
    followed)."""
    try:
        if path.is_symlink() or path.is_file():
            return path.lstat().st_size
    except OSError:  # removed meanwhile
        return 0
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def entries(root: Path | None = None) -> list[Entry]:
    """Each top-level item of the cache folder (sweep/ split into its environments)."""
    root = root or cache_root()
    if not root.is_dir():
        return []
    found = []
    for item in sorted(root.iterdir()):
        if item.name == "sweep" and item.is_dir():
            found += [Entry(sub, size_of(sub)) for sub in sorted(item.iterdir())]
        else:
            found.append(Entry(item, size_of(item)))
    return found


def clear(root: Path | None = None) -> list[Entry]:
    """Remove everything in the cache folder but the staging folders of builds
    still running; what was removed, with its size. Raises CacheNotWritable
    (or CacheError) when something cannot be removed."""
    root = root or cache_root()
    removed = []
    for entry in entries(root):
        if in_use(entry.path):
            continue
        error = _remove(entry.path)
        if error is not None:
            raise cache_error(error, f"cannot remove {entry.path}", root)
        removed.append(entry)
    with contextlib.suppress(OSError):  # not empty: a build still runs there
        (root / "sweep").rmdir()
    return removed


def human(size: int) -> str:
    """``size`` bytes as a person reads it (``12.3 MB``)."""
    value, units = float(size), ["B", "kB", "MB", "GB"]
    while value >= 1000 and len(units) > 1:
        value, units = value / 1000, units[1:]
    return f"{size} B" if units[0] == "B" else f"{value:.1f} {units[0]}"
