"""The environments of ``emitcheck sweep``: one per Python and set of requirements.

Each is a virtual environment made by uv (``uv venv``, ``uv pip install``) in
``<cache>/sweep/<package>-<version>-py<X.Y>-<hash>``, the hash being that of
what it holds (the interpreter and the requirements), so a sweep reuses the
environments of earlier sweeps. It is built in a staging folder beside its
place (named after its process: cache.py) and renamed into place when complete
(``uv venv --relocatable``, so its scripts, gunicorn's say, work after the
rename): an interrupted or failed build never looks complete, and of two
processes building the same one, the first rename wins. A staging folder left
by a build that was killed is removed by the next build (and by ``emitcheck
cache clear``). A cache folder that cannot be written ends the sweep with one
line saying which and what to do (status 2), a full one likewise (status 1).

What is installed: the swept package at one version, the ``--with``
requirements, and emitcheck's own dependencies (with the extras the cells
need: ``eventlet`` for an eventlet cell, ``redis`` for a ``-redis`` one, ...),
less those naming a package the sweep pins. emitcheck itself is not installed
there: the cells run with ``PYTHONPATH`` set to a copy of the running emitcheck
package (``sweep/self-<hash>``: ``emitcheck/`` and its metadata, nothing else),
which works whether emitcheck was installed from a wheel or is an editable
checkout, and shadows nothing of the environment's stack. Every process a cell
starts inherits it (the servers, gunicorn, emitters), and the environment stays
exactly what uv installed, shared by every emitcheck that sweeps the same pins.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from emitcheck.matrix.cell import Cell
from emitcheck.sweep.index import Index
from emitcheck.system import cache
from emitcheck.system.cache import cache_root
from emitcheck.system.process import die_with_parent_prefix, run_bounded

#: Seconds ``uv venv`` may take, and ``uv python find``.
VENV_TIMEOUT = 60.0
#: Seconds ``uv pip install`` may take by default (a cold cache downloads the
#: stack, about 30 MB; a release without a wheel for this Python builds from source).
INSTALL_TIMEOUT = 600.0
#: A copy of emitcheck (``self-<hash>``) unused this long is removed.
ABANDONED_AFTER_S = 24 * 3600
#: What each environment records about itself (written before the rename).
RECORD = "emitcheck-sweep.json"
UV_HELP = ("uv not found: emitcheck sweep builds its environments with uv; install it with "
           "'pip install uv' (or see https://docs.astral.sh/uv/getting-started/installation/)")


class SweepError(Exception):
    """Something a whole sweep needs is missing (uv, a Python); says what to do."""


class InstallFailed(Exception):
    """One environment could not be built; the message is uv's reason, one line."""


def sweep_root() -> Path:
    return cache_root() / "sweep"


def find_uv() -> str:
    """The uv binary: the ``uv`` Python package's, else the one on PATH."""
    try:  # imported by name: typed or absent, mypy has nothing to say either way
        return importlib.import_module("uv").find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise SweepError(UV_HELP)
    return found


def _pyenv_python(version: str) -> Path | None:
    """pyenv's newest ``version`` (``3.12`` -> ``~/.pyenv/versions/3.12.1/bin/python3.12``).
    uv skips pyenv's shims (they fail outside the version pyenv selects)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    try:
        candidates = [p for p in root.iterdir()
                      if p.name == version or p.name.startswith(version + ".")]
    except OSError:
        return None

    def numbers(p: Path) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in p.name.split("."))
    for folder in sorted(candidates, key=numbers, reverse=True):
        python = folder / "bin" / "python"
        if python.exists():
            return python
    return None


@dataclass(frozen=True)
class Python:
    """An interpreter a sweep runs on: what the user asked for, and what was found."""
    asked: str        # "3.12", or the running interpreter's X.Y
    path: str
    version: str      # its full version, 3.12.1


def _describe(path: str) -> str:
    done = run_bounded([path, "-c", "import platform; print(platform.python_version())"],
                       Path.cwd(), VENV_TIMEOUT)
    if done.returncode != 0:
        raise SweepError(f"{path} does not run: {first_line(done.stderr)}")
    return done.stdout.decode().strip()


def find_python(asked: str | None, uv: str) -> Python:
    """The interpreter for ``--python asked`` (None: the running one): what
    ``uv python find`` finds, else pyenv's."""
    if asked is None:
        return Python(f"{sys.version_info[0]}.{sys.version_info[1]}", sys.executable,
                      _describe(sys.executable))
    try:
        done = run_bounded([uv, "python", "find", "--no-project", asked], Path.cwd(),
                           VENV_TIMEOUT)
        found = done.stdout.decode().strip() if done.returncode == 0 else ""
    except subprocess.TimeoutExpired:
        found = ""
    path = found or str(_pyenv_python(asked) or "")
    if not path:
        raise SweepError(f"no Python {asked} found (neither 'uv python find {asked}' nor "
                         f"pyenv has one): install it with 'uv python install {asked}'")
    return Python(asked, path, _describe(path))


def first_line(stderr: bytes | str | None) -> str:
    """The first line of uv's (or Python's) error that says something: uv's
    ``error:``/``×`` line with what follows it, else the last line."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [line.strip(" ╰─▶│×").strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Using ", "Resolved ",
                                                                   "Prepared ", "Installed "))]
    for index, line in enumerate(lines):
        if line.startswith(("error:", "Because ", "hint:")) or "No solution found" in line:
            detail = [rest for rest in lines[index + 1:index + 3] if not rest.startswith("hint")]
            return " ".join([line.removeprefix("error:").strip(), *detail])[:400]
    return (lines[-1] if lines else "(nothing said)")[:400]


def _emitcheck_requirements(extras: set[str], pinned: set[NormalizedName]) -> list[str]:
    """emitcheck's dependencies with ``extras``, less those on a ``pinned`` name."""
    try:
        declared = importlib.metadata.requires("emitcheck") or []
    except importlib.metadata.PackageNotFoundError:
        raise SweepError("emitcheck's metadata is not found: install emitcheck "
                         "(pip install emitcheck, or pip install -e . in a checkout)") from None
    kept = []
    for text in declared:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) in pinned:
            continue
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras):
            requirement.marker = None
            kept.append(str(requirement))
    return kept


def extras_for(cells: Iterable[Cell]) -> set[str]:
    """emitcheck's extras the cells need: those named like one of their values."""
    try:
        offered = set(importlib.metadata.metadata("emitcheck").get_all("Provides-Extra") or [])
    except importlib.metadata.PackageNotFoundError:
        offered = set()
    return {value.value for cell in cells for value in cell.variants()} & offered - {"test"}


def parse_requirements(texts: Iterable[str]) -> list[Requirement]:
    """``--with`` values; a ValueError in one line for one that is not a requirement."""
    parsed = []
    for text in texts:
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as exc:
            raise ValueError(f"--with {text!r} is not a requirement ({exc}); write it as pip "
                             "does, e.g. 'gunicorn<26' or 'eventlet==0.35.2'") from None
    return parsed


@dataclass(frozen=True)
class EnvSpec:
    """What one environment holds."""
    python: Python
    package: str
    version: str
    pins: tuple[str, ...] = ()          # the --with requirements
    extras: tuple[str, ...] = ()        # emitcheck's extras the cells need

    def requirements(self) -> list[str]:
        pinned = {canonicalize_name(self.package),
                  *(canonicalize_name(Requirement(p).name) for p in self.pins)}
        return [f"{self.package}=={self.version}", *self.pins,
                *_emitcheck_requirements(set(self.extras), pinned)]

    @property
    def key(self) -> str:
        what = {"python": [self.python.path, self.python.version],
                "requirements": sorted(self.requirements())}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def folder(self) -> Path:
        name = canonicalize_name(self.package)
        return sweep_root() / f"{name}-{self.version}-py{self.python.version}-{self.key}"


@dataclass
class Environment:
    """A built environment: where, and what uv installed there."""
    spec: EnvSpec
    folder: Path
    installed: dict[str, str] = field(default_factory=dict)
    built_s: float | None = None        # None: it was in the cache

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"


def _installed(uv: str, python: Path, cwd: Path) -> dict[str, str]:
    done = run_bounded([uv, "pip", "freeze", "--python", str(python)], cwd, VENV_TIMEOUT)
    pairs = (line.split("==", 1) for line in done.stdout.decode().splitlines() if "==" in line)
    return {name.lower(): version for name, version in pairs}


def _uv(argv: list[str], cwd: Path, timeout: float, what: str) -> None:
    try:
        done = run_bounded([*die_with_parent_prefix(), *argv], cwd, timeout,
                           env={**os.environ, "UV_NO_PROGRESS": "1"})
    except subprocess.TimeoutExpired as exc:
        raise InstallFailed(f"{what} did not finish within {timeout:g} s: "
                            f"{first_line(exc.stderr)}") from None
    if done.returncode != 0:
        raise InstallFailed(first_line(done.stderr))


def ensure(spec: EnvSpec, uv: str, index: Index,
           timeout: float = INSTALL_TIMEOUT) -> Environment:
    """The environment of ``spec``, built first unless the cache has it.
    Raises InstallFailed with uv's reason (not cached: the next sweep tries again)."""
    folder = spec.folder
    record = folder / RECORD
    if record.is_file():
        return Environment(spec, folder, json.loads(record.read_text())["installed"])
    started = time.perf_counter()
    staging = _staging(folder)
    try:
        venv = staging / "venv"
        _uv([uv, "venv", "--quiet", "--relocatable", "--python", spec.python.path, str(venv)],
            staging, VENV_TIMEOUT, "uv venv")
        _uv([uv, "pip", "install", "--python", str(venv / "bin" / "python"),
             "--compile-bytecode", *index.uv_args(), *spec.requirements()],
            staging, timeout, f"installing {spec.package}=={spec.version}")
        installed = _installed(uv, venv / "bin" / "python", staging)
        try:
            (venv / RECORD).write_text(json.dumps({
                "python": spec.python.version, "requirements": spec.requirements(),
                "installed": installed}, indent=2))
        except OSError as exc:
            raise cache.cache_error(exc, f"cannot build the environment {folder.name}") \
                from None
        try:
            venv.rename(folder)
        except OSError as exc:  # another process was first: its copy is as good
            if not folder.is_dir():
                raise cache.cache_error(exc, f"cannot build the environment {folder.name}") \
                    from None
            if not record.is_file():
                raise InstallFailed(f"{folder} exists but is not a complete environment: "
                                    "remove it ('emitcheck cache clear') and try again") from None
    except BaseException:  # Ctrl-C: uv would go on writing there until we exit
        _stop_builders(staging)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Environment(spec, folder, installed, round(time.perf_counter() - started, 1))


def _stop_builders(staging: Path) -> None:
    """Kill our child processes that work in ``staging`` (uv, its byte-compiler)."""
    import psutil

    building = []
    for child in psutil.Process().children(recursive=True):
        try:
            if str(staging) in " ".join(child.cmdline()):
                child.kill()
                building.append(child)
        except psutil.Error:
            pass
    psutil.wait_procs(building, timeout=5)


def _staging(target: Path) -> Path:
    """A new staging folder for ``target``, once the stale ones beside it are
    removed. Raises CacheNotWritable (or CacheError: a full disk) in one line."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        cache.remove_stale(target.parent)
        return cache.make_staging(target)
    except OSError as exc:
        raise cache.cache_error(exc, f"cannot build {target.name}") from None


def _remove_abandoned(parent: Path, pattern: str) -> None:
    """Items of ``parent`` matching ``pattern`` untouched for a day."""
    for staging in parent.glob(pattern):
        try:
            if time.time() - staging.stat().st_mtime > ABANDONED_AFTER_S:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            pass


def _package_files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


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
    staging = _staging(target)
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
        raise cache.cache_error(exc, "cannot copy emitcheck into its cache") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def run_env(environment: Environment, emitcheck: Path) -> dict[str, str]:
    """The process environment for the cells: the venv's Python first on PATH,
    emitcheck importable from its copy, nothing of the caller's Python settings."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH",
                           "__PYVENV_LAUNCHER__")}
    env.update(VIRTUAL_ENV=str(environment.folder), PYTHONPATH=str(emitcheck),
               PATH=os.pathsep.join([str(environment.folder / "bin"), env.get("PATH", "")]))
    return env
