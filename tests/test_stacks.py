"""The server libraries beside Flask-SocketIO: python-socketio's Server
(``-python_socketio``) and its AsyncServer (the ``asgi`` and ``aiohttp`` modes).
Their ids, what they refuse, what we tell users to change, and the scripts that
serve them; their verdicts on real servers are checked against the baselines
(tests/test_matrix.py in the stack environments)."""

import pytest

from emitcheck.matrix import cells
from emitcheck.matrix.cell import CellError
from emitcheck.matrix.remedies import for_cell
from emitcheck.outputs.repro import render
from emitcheck.running.work import server_script


@pytest.mark.parametrize(("cell_id", "says"), [
    ("asgi-patched-task-socketio_sleep", "asgi mode has no monkey patching"),
    ("aiohttp-unpatched-thread-time_sleep", "thread_threadsafe"),
    ("asgi-unpatched-thread_threadsafe-socketio_sleep", "goes with wait time_sleep"),
    ("threading-unpatched-thread_threadsafe-time_sleep", "asgi- or aiohttp-unpatched"),
    ("asgi-unpatched-task-socketio_sleep-python_socketio", "drop -python_socketio"),
    ("threading-unpatched-thread-time_sleep-redis-python_socketio", "drop -redis"),
])
def test_a_value_that_does_not_fit_its_stack_is_a_one_line_error_naming_what_does(
        cell_id, says):
    with pytest.raises(CellError) as refused:
        cells.parse(cell_id)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_python_socketios_server_adds_one_suffix_and_leaves_every_flask_socketio_id_as_it_was():
    default = {c.id for c in cells.default_cells()}
    ours = {i for i in default if i.endswith("-python_socketio")}
    twins = {i.removesuffix("-python_socketio") for i in ours}
    assert twins and twins <= default
    assert all(not cells.parse(i).suffixes for i in twins)


def test_an_emit_never_awaited_is_told_to_await_it_not_to_start_a_task_it_already_is():
    lines = for_cell(cells.parse("asgi-unpatched-unawaited-socketio_sleep"))
    assert lines and all("await" in line for line in lines)
    assert not any("start_background_task" in line for line in lines)


def test_a_loop_captured_at_import_is_told_to_take_the_serving_loop():
    lines = for_cell(cells.parse("aiohttp-unpatched-thread_import_loop-time_sleep"))
    assert any("get_running_loop()" in line for line in lines)


def test_an_asyncio_cell_is_served_and_reproduced_by_the_asyncio_script():
    cell = cells.parse("asgi-unpatched-thread_asyncio_run-time_sleep")
    assert server_script(cell.id).name == "async_server_child.py"
    assert server_script("threading-unpatched-thread-time_sleep").name == "server_child.py"
    script = render(cell)
    assert "socketio.AsyncServer(" in script and "from flask_socketio" not in script
    assert "pip install \"python-socketio[client]\" uvicorn" in script
