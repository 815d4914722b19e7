"""Where asyncio servers are deployed (issue 22): the suffixes asyncio cells
take are the ones measured (families/asyncio.py's ``DEPLOYMENTS``), each a
valid cell with the verdict its family declares; the rest are one-line
conflicts naming what works; remedies never offer what a cell already does.
Their verdicts on real servers are checked against the baselines."""

import importlib.util

import pytest

from emitcheck.families import gunicorn
from emitcheck.families.asyncio import DEPLOYMENTS
from emitcheck.families.workers import _landed
from emitcheck.matrix import cells
from emitcheck.matrix.cell import FACTORS, Cell, CellError
from emitcheck.matrix.expectations import expected
from emitcheck.matrix.remedies import for_cell
from emitcheck.running.work import OurWork
from emitcheck.scripts import async_server_child, server_child
from emitcheck.system.process import ServerFiles

MEASURED = [cells.parse("-".join([mode, "unpatched", *pair, *suffixes]))
            for mode, table in DEPLOYMENTS.items()
            for suffixes, pairs in table.items() for pair in pairs]


def test_every_measured_deployment_is_a_cell_with_an_expectation_and_nothing_else_is():
    assert MEASURED and all(expected(cell).verdict for cell in MEASURED)
    measured = set(MEASURED)
    asyncio_cells = {c for c in cells.possible_cells()
                     if c.value_of("mode").asyncio and c.suffixes}
    assert asyncio_cells == measured


@pytest.mark.parametrize(("cell_id", "says"), [
    ("aiohttp-unpatched-task-socketio_sleep-gunicorn", "aiohttp cells are measured with "
     "-other_namespace"),
    ("asgi-unpatched-task-socketio_sleep-node", "measured with -gunicorn"),
    ("asgi-unpatched-task-busy-gunicorn", "use asgi-unpatched-task-socketio_sleep-gunicorn"),
    ("asgi-unpatched-task-socketio_sleep-two_workers", "-websocket-two_workers is"),
    ("threading-unpatched-task-socketio_sleep-websocket-redis-two_workers", "use asgi-"),
])
def test_an_unmeasured_deployment_is_a_one_line_conflict_naming_what_works(cell_id, says):
    with pytest.raises(CellError) as refused:
        cells.parse(cell_id)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_the_families_decide_the_verdicts_of_asyncio_deployments():
    def verdict(cell_id):
        return expected(cell_id).verdict

    # gunicorn's uvicorn worker is uvicorn.run's twin
    assert verdict("asgi-unpatched-task-time_sleep-gunicorn") == "starved"
    assert verdict("asgi-unpatched-thread_import_loop-time_sleep-gunicorn") == "lost"
    # python-socketio's RedisManager publishes where AsyncRedisManager listens
    assert verdict("asgi-unpatched-process_manager-time_sleep-redis") == "delivered"
    assert verdict("threading-unpatched-process_manager-time_sleep-redis") == "lost"
    # awaiting the publish gives a blocked loop a turn at every emit (measured)
    assert verdict("asgi-unpatched-task-time_sleep") == "starved"
    assert verdict("asgi-unpatched-task-time_sleep-redis") == "delivered"
    # two servers: only a message queue carries the events across
    assert verdict("asgi-unpatched-task-socketio_sleep-two_ip_hash") == "lost"
    assert verdict("asgi-unpatched-task-socketio_sleep-redis-two_ip_hash") == "delivered"
    # uvicorn --workers 2, the work in the worker the client is not on
    assert verdict("asgi-unpatched-task-socketio_sleep-websocket-two_workers") == "lost"
    assert verdict("asgi-unpatched-task-socketio_sleep-websocket-redis-two_workers") == \
        "delivered"


@pytest.mark.parametrize("cell", [c for c in MEASURED if expected(c).verdict != "delivered"],
                         ids=str)
def test_a_remedy_never_offers_what_the_cell_already_does(cell: Cell):
    lines = for_cell(cell)
    assert lines
    for line in lines:
        for factor in FACTORS:
            own = cell.value_of(factor.name).remedy
            assert not own or own not in line, (factor.name, line)


def test_the_queue_remedy_names_python_socketios_manager_for_asyncio_servers():
    [line] = for_cell(cells.parse("asgi-unpatched-task-socketio_sleep-two_ip_hash"))
    assert "AsyncRedisManager(URL)" in line


def test_gunicorn_loads_the_app_of_the_modes_own_script(tmp_path):
    files = ServerFiles(tmp_path)
    asgi = OurWork().gunicorn_app("asgi-unpatched-task-socketio_sleep-gunicorn", 0.1, files,
                                  None)
    wsgi = OurWork().gunicorn_app("threading-unpatched-task-socketio_sleep-gunicorn", 0.1,
                                  files, None)
    assert asgi.startswith("emitcheck.scripts.async_server_child:gunicorn_app(")
    assert wsgi.startswith("emitcheck.scripts.server_child:gunicorn_app(")


def test_the_uvicorn_worker_class_falls_back_to_uvicorns_own_then_is_unavailable(monkeypatch):
    real = importlib.util.find_spec
    hidden: set[str] = set()
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.partition(".")[0] in hidden
                        else real(name, *a))
    cell = cells.parse("asgi-unpatched-task-socketio_sleep-gunicorn")
    hidden.add("uvicorn_worker")
    assert gunicorn.worker_class("uvicorn_worker.UvicornWorker") == \
        "uvicorn.workers.UvicornWorker"
    hidden.add("uvicorn")
    assert gunicorn.worker_class("uvicorn_worker.UvicornWorker") is None
    reason = cell.value_of("server").unavailable(cell)
    assert reason and "uvicorn-worker not installed" in reason


def test_both_server_scripts_read_the_second_server_from_the_same_variable():
    assert async_server_child.SECOND_SERVER == server_child.SECOND_SERVER


def test_the_evidence_names_the_worker_the_client_landed_on(tmp_path):
    assert _landed(tmp_path) == "neither worker logged a connect"
    (tmp_path / async_server_child.WORKER_CONNECTS).write_text("1.0 websocket 4242\n")
    assert _landed(tmp_path) == "worker 4242, not the one with the work"

