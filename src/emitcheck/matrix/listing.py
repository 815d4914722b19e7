"""The default matrix and every valid cell, remembered on disk between runs.

Finding every valid cell tries the product of every factor's values
(``cells.possible_cells``: about a second and a half of CPU), and every
``emitcheck list``, ``-k PATTERN`` and plugin run needs the default matrix it
yields. The cells depend only on emitcheck's own declarations: a value's
``conflict`` and ``in_default`` read the cell, never what is
installed (that is ``unavailable``'s). So the list is kept in emitcheck's
cache folder under a key made of those declarations' source (``matrix/`` and
``families/``), emitcheck's and Python's versions, and found again whenever
the key changes. It is written whole (a staging file, renamed); a cache that
cannot be read or written is passed by: the cells are found as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from collections.abc import Callable
from functools import cache
from pathlib import Path

from emitcheck import __version__
from emitcheck.system.cache import cache_root, staging_name

Values = tuple[str, ...]
_PACKAGE = Path(__file__).resolve().parent.parent
#: The folders whose source decides which cells exist.
DECLARATIONS = (_PACKAGE / "matrix", _PACKAGE / "families")


@cache
def key() -> str:
    """A digest of what decides the cells: the declarations' source, emitcheck's
    and Python's versions."""
    digest = hashlib.sha256(f"{__version__} {platform.python_version()}".encode())
    for folder in DECLARATIONS:
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(folder.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def folder() -> Path:
    return cache_root() / "cells"


def remembered(kind: str, find: Callable[[], list[Values]]) -> list[Values]:
    """The cells of ``kind`` ("possible", "default") as their values: read from
    the cache when its key matches, else ``find()``-ed and kept for next time."""
    path = folder() / f"{kind}-{key()}.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        return [tuple(values) for values in json.loads(path.read_text())]
    found = find()
    _keep(path, found)
    return found


def _keep(path: Path, found: list[Values]) -> None:
    """Write ``found`` to ``path`` whole, and remove the same kind's files of
    other keys; on any error, nothing is left behind and nothing is said."""
    staging = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_name(path)
        staging.write_text(json.dumps([list(values) for values in found]))
        os.replace(staging, path)
        staging = None
        kind = path.name.split("-")[0]
        for old in path.parent.glob(f"{kind}-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        if staging is not None:
            with contextlib.suppress(OSError):
                staging.unlink()
