"""The processes of a cell other than its web server, on other releases
(``--others-with``, ``--others-python``, ``sweep --swept-in``): option parsing,
bad input, what the environment holds, what the evidence names, and which
interpreter each process starts with. No network: the environment's build is a
stand-in where one is needed (tests/test_sweep.py builds real ones)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.matrix.cell import Run
from emitcheck.matrix.cells import parse
from emitcheck.model.results import Timing
from emitcheck.running.cell_run import CellRun
from emitcheck.sweep import environments
from emitcheck.sweep.environments import (
    InstallFailed,
    OthersSpec,
    Python,
    current_requirements,
    network_trouble,
)
from emitcheck.system import environment

PROCESS = "threading-unpatched-process-time_sleep-redis"
MANAGER = "threading-unpatched-process_manager-time_sleep-redis"
PYTHON = Python("3.11", sys.executable, "3.11.7")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# -- bad input: one line, status 2 -----------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["run", PROCESS, "--others-with", "python-socketio<<5"],
     "--others-with 'python-socketio<<5' is not a requirement"),
    (["matrix", "-k", PROCESS, "--others-with", "==5.8.0"], "--others-with '==5.8.0' is not a"),
    (["run", PROCESS, "--others-with", "redis<6", "--others-python", sys.executable],
     "give one of them"),
    (["run", PROCESS, "--others-python", "/no/such/python"], "does not exist"),
])
def test_bad_input_is_one_line_and_status_2(args, says):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output


def test_an_others_python_that_is_not_a_python_is_one_line_and_status_2(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho not a python\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = invoke("run", PROCESS, "--others-python", str(fake))
    assert result.exit_code == 2, result.output
    assert f"--others-python {fake}: {fake} did not say its versions" in result.output
    assert "Traceback" not in result.output


def test_a_requirement_uv_cannot_install_is_one_line_with_uv_s_reason(monkeypatch):
    def refused(changed, option, timeout=0.0):
        raise InstallFailed("No solution found when resolving dependencies: Because there "
                            "is no version of python-socketio==99")
    monkeypatch.setattr(environments, "others_environment", refused)
    result = invoke("run", PROCESS, "--others-with", "python-socketio==99")
    assert result.exit_code == 2, result.output
    assert "--others-with python-socketio==99: uv cannot install it" in result.output
    assert "no version of python-socketio==99" in result.output


def test_without_the_package_index_every_cell_skips_saying_why_once(monkeypatch):
    def offline(changed, option, timeout=0.0):
        raise InstallFailed("Failed to fetch: https://pypi.org/simple/python-socketio/",
                            offline=True)
    monkeypatch.setattr(environments, "others_environment", offline)
    result = invoke("matrix", "-k", f"{PROCESS},{MANAGER}", "--json",
                    "--others-with", "python-socketio==5.8.0")
    assert result.exit_code == 0, result.output  # nothing ran: nothing differs
    said = [line for line in result.stderr.splitlines() if "could not be built" in line]
    assert len(said) == 1 and "the package index cannot be reached" in said[0]
    results = json.loads(result.stdout)["results"]
    assert [r["cell"] for r in results] == [PROCESS, MANAGER]
    assert all("python-socketio==5.8.0" in r["skipped"] and r["verdict"] is None
               for r in results)


def test_sweep_of_the_others_keeps_the_running_python():
    result = invoke("sweep", PROCESS, "--package", "python-socketio", "--swept-in", "others",
                    "--python", "3.12")
    assert result.exit_code == 2, result.output
    assert "leave out --python" in result.output and "Traceback" not in result.output


# -- the environment --------------------------------------------------------------------

def test_the_others_environment_is_this_one_with_the_requirements_instead():
    spec = OthersSpec(PYTHON, ("python-socketio==5.8.0",),
                      ("Flask-SocketIO==5.7.0", "python-socketio==5.18.1", "redis==8.2.0"))
    assert spec.requirements() == ["Flask-SocketIO==5.7.0", "redis==8.2.0",
                                   "python-socketio==5.8.0"]
    assert spec.overrides() == ["python-socketio==5.8.0"]  # dependents' pins too
    other = OthersSpec(PYTHON, ("python-socketio==5.11.0",), spec.base)
    assert spec.folder != other.folder and spec.folder.name.startswith("others-python-socketio-")
    moved = OthersSpec(PYTHON, spec.changed, ("Flask-SocketIO==5.6.0", *spec.base[1:]))
    assert moved.key != spec.key  # the running environment changed: another environment


def test_the_running_environment_is_pinned_less_emitcheck_and_local_installs():
    found = current_requirements()
    names = [text.split("==")[0].lower() for text in found]
    assert "emitcheck" not in names  # its processes import it from its copy
    assert "python-socketio" in names and "click" in names
    assert all("==" in text and " @ " not in text for text in found)


@pytest.mark.parametrize("stderr, offline", [
    ("error: Failed to fetch: http://127.0.0.1:9/simple/python-socketio/\n  cause: error "
     "sending request for url\n  cause: tcp connect error\n  cause: Connection refused", True),
    ("cause: dns error\n  cause: failed to lookup address information", True),
    ("hint: Packages were unavailable because the network was disabled.", True),
    ("error: No solution found when resolving dependencies\n  cause: Because there is no "
     "version of python-socketio==99", False),
])
def test_uv_s_network_trouble_is_told_from_a_bad_requirement(stderr, offline):
    assert network_trouble(stderr) is offline


# -- the run and its evidence -----------------------------------------------------------

def test_a_run_gives_its_hooks_the_others_python_ours_by_default(tmp_path):
    cell = parse(MANAGER)
    ours: Run = CellRun(cell, Timing(), tmp_path)
    assert ours.others_python == sys.executable
    other = CellRun(cell, Timing(), tmp_path, others_python="/venv/bin/python")
    assert other.others_python == "/venv/bin/python"
    with pytest.raises(AttributeError):
        other.others_python = "/elsewhere"  # type: ignore[misc]  # read-only
    other.add(SimpleNamespace(popen=SimpleNamespace(args=["prefix", sys.executable])))
    assert not other.others_started  # the web server's interpreter
    other.add(SimpleNamespace(popen=SimpleNamespace(args=["prefix", "/venv/bin/python"])))
    assert other.others_started
    other.processes.clear()


def test_the_evidence_names_both_sides_releases(monkeypatch):
    server = {"python": "3.11.7", "flask": "3.1.0", "flask-socketio": "5.7.0",
              "python-socketio": "5.18.1", "python-engineio": "4.15.1", "redis": "8.2.0",
              "celery": "5.5.0"}
    others = {**server, "python-socketio": "5.8.0", "flask-socketio": "5.3.6", "celery": "5.4.0",
              "flask": None}  # flask missing there: not said
    monkeypatch.setattr(environment, "versions", lambda: server)
    monkeypatch.setattr(environment, "versions_of", lambda python: others)
    facts = environment.mixed_releases("/venv/bin/python")
    assert facts == {
        "web server ran": "flask-socketio 5.7.0, python-socketio 5.18.1, python-engineio "
                          "4.15.1, redis 8.2.0, celery 5.5.0",
        "other processes ran": "flask-socketio 5.3.6, python-socketio 5.8.0, python-engineio "
                               "4.15.1, redis 8.2.0, celery 5.4.0"}


def test_another_python_s_versions_are_its_own():
    assert environment.versions_of(sys.executable) == environment.versions()
    with pytest.raises(RuntimeError, match="did not say its versions"):
        environment.versions_of("/no/such/python")


# -- the processes start with it --------------------------------------------------------

def _recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in interpreter that writes its arguments and PYTHONPATH, then exits."""
    said = tmp_path / "said"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" > {said}.tmp\necho "$PYTHONPATH" >> {said}.tmp\n'
                    f"mv {said}.tmp {said}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake, said


def _said(said: Path) -> list[str]:
    deadline = time.monotonic() + 10
    while not said.exists():
        assert time.monotonic() < deadline, "the stand-in interpreter never ran"
        time.sleep(0.02)
    return said.read_text().splitlines()


def test_the_emitter_starts_with_the_python_it_is_given(tmp_path):
    from emitcheck.running.work import emitter

    fake, said = _recorder(tmp_path)
    process = emitter(MANAGER, 0.1, tmp_path / "emitter", tmp_path / "emits",
                      "redis://127.0.0.1:1", str(fake))
    try:
        arguments, _ = _said(said)
    finally:
        process.stop(grace=0.5)
    assert arguments.split()[0].endswith("server_child.py") and "emitter" in arguments


def test_a_celery_worker_in_another_environment_imports_emitcheck_from_its_copy(
        tmp_path, monkeypatch):
    from emitcheck.families.celery.worker import CeleryWorker

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EMITCHECK_CACHE_DIR", raising=False)
    fake, said = _recorder(tmp_path)
    worker = CeleryWorker(tmp_path / "celery", "redis://127.0.0.1:1", "solo", str(fake))
    try:
        arguments, path = _said(said)
    finally:
        worker.stop()
    assert arguments.startswith("-m celery -A emitcheck.scripts.celery_worker")
    copy = Path(path)
    assert copy.parent == tmp_path / "cache" / "emitcheck" / "sweep"
    assert sorted(p.name for p in copy.iterdir())[0] == "emitcheck"
    assert os.path.isfile(copy / "emitcheck" / "scripts" / "celery_worker.py")
