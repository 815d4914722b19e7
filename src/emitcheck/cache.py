"""emitcheck's cache folder: what is in it, how big it is, and clearing it.

Everything emitcheck keeps between runs is under one folder,
``${XDG_CACHE_HOME:-~/.cache}/emitcheck``: the Node client's socket.io-client
(``node-<hash>``, node_install.py) and the environments of ``emitcheck sweep``
with the copies of emitcheck they run (``sweep/``). All of it is rebuilt on
demand, so clearing it costs only time. uv's own cache of downloaded wheels is
uv's (``uv cache clean``), not ours.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .node_install import cache_root

__all__ = ["Entry", "cache_root", "clear", "entries", "human", "size_of"]


@dataclass(frozen=True)
class Entry:
    path: Path
    bytes: int


def size_of(path: Path) -> int:
    """Bytes in the files under ``path`` (hard links counted once per name; symlinks not
    followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
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
    """Remove everything in the cache folder; what was removed, with its size."""
    removed = entries(root)
    for entry in removed:
        if entry.path.is_dir() and not entry.path.is_symlink():
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink(missing_ok=True)
    root = root or cache_root()
    shutil.rmtree(root / "sweep", ignore_errors=True)
    return removed


def human(size: int) -> str:
    """``size`` bytes as a person reads it (``12.3 MB``)."""
    value, units = float(size), ["B", "kB", "MB", "GB"]
    while value >= 1000 and len(units) > 1:
        value, units = value / 1000, units[1:]
    return f"{size} B" if units[0] == "B" else f"{value:.1f} {units[0]}"
