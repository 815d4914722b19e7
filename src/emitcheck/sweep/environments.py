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
package (``sweep/self-<hash>``, system/cache.py's ``self_copy``). Every process a
cell starts inherits it (the servers, gunicorn, emitters), and the environment
stays exactly what uv installed, shared by every emitcheck that sweeps the same pins.

The *other processes' environment* (``OthersSpec``, ``--others-with`` of ``run``
and ``matrix``, ``sweep --swept-in others``) is built the same way, in
``<cache>/sweep/others-<names>-py<X.Y>-<hash>``: every distribution of the running
environment at its installed version (``current_requirements``), with the given
requirements as uv overrides (``--override``): they replace the pins and every
requirement on the same package, a dependent's included, as a deployment that
upgrades one process does. The hash is that of the interpreter and both lists,
so a change of the running environment makes another one.
"""

from __future__ import annotations

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
from emitcheck.sweep import index as package_index
from emitcheck.sweep.index import Index
from emitcheck.system import cache
from emitcheck.system.cache import sweep_root
from emitcheck.system.process import die_with_parent_prefix, run_bounded

#: Seconds ``uv venv`` may take, and ``uv python find``.
VENV_TIMEOUT = 60.0
#: Seconds ``uv pip install`` may take by default (a cold cache downloads the
#: stack, about 30 MB; a release without a wheel for this Python builds from source).
INSTALL_TIMEOUT = 600.0
#: What each environment records about itself (written before the rename).
RECORD = "emitcheck-sweep.json"
UV_HELP = ("uv not found: emitcheck sweep builds its environments with uv; install it with "
           "'pip install uv' (or see https://docs.astral.sh/uv/getting-started/installation/)")


class SweepError(Exception):
    """Something a whole sweep needs is missing (uv, a Python); says what to do."""


class InstallFailed(Exception):
    """One environment could not be built; the message is uv's reason, one line.
    ``offline``: uv could not reach the package index (not the requirements' fault)."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


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


def parse_requirements(texts: Iterable[str], option: str = "--with") -> list[Requirement]:
    """``option``'s values; a ValueError in one line for one that is not a requirement."""
    parsed = []
    for text in texts:
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as exc:
            raise ValueError(f"{option} {text!r} is not a requirement ({exc}); write it as pip "
                             "does, e.g. 'gunicorn<26' or 'eventlet==0.35.2'") from None
    return parsed


def current_requirements() -> list[str]:
    """The running environment's distributions, each ``name==version``, sorted; less
    emitcheck (its processes import it from its copy) and those installed from a
    folder or a URL (not from an index: uv could not install them again)."""
    pinned: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or canonicalize_name(name) == "emitcheck" or \
                dist.read_text("direct_url.json"):
            continue
        pinned.setdefault(canonicalize_name(name), f"{name}=={dist.version}")
    return sorted(pinned.values(), key=str.lower)


#: What uv says when it could not reach the index (or was told not to): the
#: environment is not built for want of a network, not for a bad requirement.
NETWORK_TROUBLE = ("error sending request", "dns error", "tcp connect error",
                   "failed to lookup address", "connection refused", "network is unreachable",
                   "network was disabled", "operation timed out", "connection reset")


def network_trouble(stderr: bytes | str | None) -> bool:
    """Did uv fail because it could not reach the package index?"""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    return any(words in text.lower() for words in NETWORK_TROUBLE)


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

    def overrides(self) -> list[str]:
        return []

    @property
    def what(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class OthersSpec:
    """The other processes' environment: the running one's distributions
    (``base``), with ``changed`` overriding them (uv's ``--override``)."""
    python: Python
    changed: tuple[str, ...]
    base: tuple[str, ...] = field(default_factory=lambda: tuple(current_requirements()))

    def _names(self) -> set[NormalizedName]:
        return {canonicalize_name(Requirement(text).name) for text in self.changed}

    def requirements(self) -> list[str]:
        """``base`` with ``changed`` instead of the packages it names (the overrides
        alone would install nothing that no other package requires)."""
        names = self._names()
        return [*(t for t in self.base if canonicalize_name(Requirement(t).name) not in names),
                *self.changed]

    def overrides(self) -> list[str]:
        return list(self.changed)

    @property
    def key(self) -> str:
        what = {"python": [self.python.path, self.python.version],
                "requirements": sorted(self.requirements()),
                "overrides": sorted(self.changed)}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def folder(self) -> Path:
        names = "-".join(sorted(self._names()))[:60]
        return sweep_root() / f"others-{names}-py{self.python.version}-{self.key}"

    @property
    def what(self) -> str:
        return " ".join(self.changed)


@dataclass
class Environment:
    """A built environment: where, and what uv installed there."""
    spec: EnvSpec | OthersSpec
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
                            f"{first_line(exc.stderr)}", network_trouble(exc.stderr)) from None
    if done.returncode != 0:
        raise InstallFailed(first_line(done.stderr), network_trouble(done.stderr))


def ensure(spec: EnvSpec | OthersSpec, uv: str, index: Index,
           timeout: float = INSTALL_TIMEOUT) -> Environment:
    """The environment of ``spec``, built first unless the cache has it.
    Raises InstallFailed with uv's reason (not cached: the next sweep tries again)."""
    folder = spec.folder
    record = folder / RECORD
    if record.is_file():
        return Environment(spec, folder, json.loads(record.read_text())["installed"])
    started = time.perf_counter()
    staging = cache.staging_for(folder)
    try:
        venv = staging / "venv"
        _uv([uv, "venv", "--quiet", "--relocatable", "--python", spec.python.path, str(venv)],
            staging, VENV_TIMEOUT, "uv venv")
        overrides = []
        if spec.overrides():
            (staging / "overrides.txt").write_text("\n".join(spec.overrides()) + "\n")
            overrides = ["--override", str(staging / "overrides.txt")]
        _uv([uv, "pip", "install", "--python", str(venv / "bin" / "python"),
             "--compile-bytecode", *index.uv_args(), *overrides, *spec.requirements()],
            staging, timeout, f"installing {spec.what}")
        installed = _installed(uv, venv / "bin" / "python", staging)
        try:
            (venv / RECORD).write_text(json.dumps({
                "python": spec.python.version, "requirements": spec.requirements(),
                "overrides": spec.overrides(), "installed": installed}, indent=2))
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


def others_environment(changed: Iterable[str], option: str = "--others-with",
                       timeout: float = INSTALL_TIMEOUT) -> Environment:
    """The other processes' environment: the running one with ``changed`` overriding
    it, built first unless the cache has it. Raises ValueError (a requirement that
    does not parse), SweepError (no uv) or InstallFailed (``offline`` when uv could
    not reach the index), each in one line."""
    requirements = tuple(str(r) for r in parse_requirements(changed, option))
    uv = find_uv()
    return ensure(OthersSpec(find_python(None, uv), requirements), uv, package_index.index(),
                  timeout)


def run_env(environment: Environment, emitcheck: Path) -> dict[str, str]:
    """The process environment for the cells: the venv's Python first on PATH,
    emitcheck importable from its copy, nothing of the caller's Python settings."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH",
                           "__PYVENV_LAUNCHER__")}
    env.update(VIRTUAL_ENV=str(environment.folder), PYTHONPATH=str(emitcheck),
               PATH=os.pathsep.join([str(environment.folder / "bin"), env.get("PATH", "")]))
    return env
