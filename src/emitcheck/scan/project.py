"""What a project declares: its dependencies (pyproject.toml, requirements*.txt,
setup.cfg), and so what ``async_mode`` left to auto resolves to; and how it is
deployed (Procfile, Dockerfile, a gunicorn config): several workers, a green
gunicorn worker (which monkey patches by itself).

Auto-detection, as Flask-SocketIO and python-socketio's ``Server`` do it:
eventlet if importable, then gevent, then threading; an ``AsyncServer``:
aiohttp, then asgi. An optional dependency counts (an extra that installs
eventlet makes auto resolve to it wherever it is installed). Where no
dependency file is found, the packages installed
next to emitcheck stand in for it (the finding says so).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from emitcheck.matrix.cell import mode_value, variant

_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", "Pipfile")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_WORKERS = re.compile(r"\b(gunicorn|uvicorn|hypercorn)\b.*?(?:-w|--workers)[ =]+(\d+)")
_GREEN_WORKER = re.compile(r"(?:-k|--worker-class)[ =]+['\"]?(eventlet|gevent|geventwebsocket)")
_DEPLOY_FILES = ("Procfile", "Dockerfile*", "docker-compose*.y*ml", "compose*.y*ml", "*.sh")


@dataclass
class Declared:
    """The dependencies a project declares, and where they came from."""
    names: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.names


@dataclass(frozen=True)
class Deployment:
    path: Path
    line: int
    what: str          # workers or green
    value: str         # the worker count, or the library
    text: str          # what the file says


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that declares dependencies,
    not above the repository's root (a ``.git``)."""
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        if any((folder / m).exists() for m in _MARKERS) or any(folder.glob("requirements*.txt")):
            return folder
        if (folder / ".git").exists():
            return None
    return None


def declared(root: Path | None) -> Declared | None:
    """The dependencies declared in ``root``, or None when it declares none."""
    if root is None:
        return None
    found = Declared()
    for path in sorted([*root.glob("requirements*.txt"), *root.glob("requirements/*.txt")]):
        _add(found, path, path.read_text(errors="replace").splitlines())
    if (root / "pyproject.toml").exists():
        _add(found, root / "pyproject.toml", _pyproject(root / "pyproject.toml"))
    if (root / "setup.cfg").exists():
        _add(found, root / "setup.cfg", _setup_cfg(root / "setup.cfg"))
    return found if found.sources else None


def _add(found: Declared, path: Path, lines: list[str]) -> None:
    named = False
    for line in lines:
        line = line.split("#", 1)[0].split(";", 1)[0]
        match = _NAME.match(line)
        if match and not line.lstrip().startswith("-"):
            found.names.add(_normal(match.group(1)))
            found.names.update(_normal(e) for e in (match.group(2) or "").split(",") if e)
            named = True
    if named:
        found.sources.append(path.name)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _pyproject(path: Path) -> list[str]:
    """Its dependencies, optional ones, and Poetry's."""
    text = path.read_text(errors="replace")
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            data = tomllib.loads(text)
        except ValueError:
            return []
        project = data.get("project", {})
        extras = [d for group in project.get("optional-dependencies", {}).values()
                  for d in group]
        poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
        return [*project.get("dependencies", []), *extras, *(k for k in poetry if k != "python")]
    # Python 3.10 has no tomllib: the lists of strings, by hand
    return [d for block in re.findall(r"(?ms)^\w*dependencies\s*=\s*\[(.*?)\]", text)
            for d in re.findall(r"['\"]([^'\"]+)['\"]", block)]


def _setup_cfg(path: Path) -> list[str]:
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return []
    return parser.get("options", "install_requires", fallback="").splitlines()


def installed(name: str) -> bool:
    """Is ``name`` importable here (found, never imported)?"""
    return importlib.util.find_spec(name) is not None


def resolve_auto(library: str, have) -> str:
    """What ``async_mode`` left to auto resolves to, given ``have(name)``: for
    an AsyncServer, aiohttp where it is there; else what ``SocketIO(app)``
    picks (families/auto.py, through the registry), gevent under uWSGI being
    gevent's row."""
    if library == "async_server":
        return "aiohttp" if have("aiohttp") else "asgi"
    return mode_value(variant("mode", "auto").resolve(have))


def deployments(root: Path) -> list[Deployment]:
    """Several workers (gunicorn -w 4, uvicorn --workers 2) and green gunicorn
    workers (-k eventlet), from the files that start the server."""
    found: list[Deployment] = []
    paths = sorted({p for pattern in _DEPLOY_FILES for p in root.glob(pattern) if p.is_file()})
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            workers = _WORKERS.search(line)
            if workers and int(workers.group(2)) > 1:
                found.append(Deployment(path, number, "workers", workers.group(2), line.strip()))
            green = _GREEN_WORKER.search(line)
            if green:
                library = "eventlet" if green.group(1) == "eventlet" else "gevent"
                found.append(Deployment(path, number, "green", library, line.strip()))
    for path in sorted(root.glob("gunicorn*.py")):
        found.extend(_gunicorn_config(path))
    return found


def _gunicorn_config(path: Path) -> list[Deployment]:
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            value = node.value.value
            if "workers" in names and isinstance(value, int) and value > 1:
                found.append(Deployment(path, node.lineno, "workers", str(value),
                                        f"workers = {value}"))
            if "worker_class" in names and isinstance(value, str) and \
                    value.partition(".")[0] in ("eventlet", "gevent", "geventwebsocket"):
                found.append(Deployment(path, node.lineno, "green",
                                        "eventlet" if value == "eventlet" else "gevent",
                                        f"worker_class = {value!r}"))
    return found
