import pytest

from emitcheck import cells
from emitcheck.cells import Cell, CellError

BASE_20 = [f"{row}-{spawn}-{wait}"
           for row in ("threading-unpatched", "eventlet-unpatched", "eventlet-patched",
                       "gevent-unpatched", "gevent-patched")
           for spawn in ("thread", "task") for wait in ("time_sleep", "socketio_sleep")]


def test_the_base_twenty_ids_stay_first_and_unchanged():
    ids = [c.id for c in cells.all_cells()]
    assert len(ids) == len(set(ids))
    assert ids[:20] == BASE_20 == [c.id for c in cells.base_cells()]
    assert not any(i.startswith(("threading-patched", "auto-patched")) for i in ids)


def test_transport_is_a_suffix_left_out_at_its_default():
    cell = cells.parse("gevent-patched-task-time_sleep-polling")
    assert cell.transport == "polling" and cell.family == "polling"
    assert cells.parse("gevent-patched-task-time_sleep").transport == "default"
    assert cells.Cell("gevent", "patched", "task", "time_sleep", "websocket").id == \
        "gevent-patched-task-time_sleep-websocket"
    ids = [c.id for c in cells.all_cells()]
    assert ids[48] == "threading-unpatched-thread-time_sleep-polling"
    assert ids[95] == "auto-unpatched-task-socketio_sleep-websocket"


def test_families_follow_in_factor_order_and_one_suffix_at_most():
    listed = cells.all_cells()
    families = list(dict.fromkeys(c.grid for c in listed))
    assert families == ["", "CPU-bound work", "transport: polling", "transport: websocket",
                        "queue: redis", "server: gunicorn", "client: node"]
    sizes = {g: sum(1 for c in listed if c.grid == g) for g in families}
    # 6 rows x (thread, task, process) x 2 waits + 6 rows x process_manager-time_sleep
    assert sizes["queue: redis"] == 6 * 3 * 2 + 6
    assert sizes["server: gunicorn"] == 20  # no auto row: the worker decides the mode
    assert sizes["client: node"] == 24  # the base grid, auto included
    assert all(len([v for v in c.family.split("-") if v]) <= 1 for c in listed)
    with pytest.raises(CellError, match="one suffix factor at most"):
        cells.parse("gevent-patched-task-time_sleep-polling-node")


def test_cpu_bound_cells_come_after_the_base_with_the_default_transport_only():
    ids = [c.id for c in cells.all_cells()]
    assert ids[24] == "threading-unpatched-thread-busy"
    assert all(cells.parse(i).cpu_bound for i in ids[24:48])
    assert cells.parse("gevent-patched-task-busy_yield").grid == "CPU-bound work"
    with pytest.raises(CellError, match="every suffix factor at its default"):
        cells.parse("gevent-patched-task-busy-polling")


def test_auto_mode_cells_follow_the_base():
    ids = [c.id for c in cells.all_cells()]
    assert ids[20:24] == ["auto-unpatched-thread-time_sleep",
                          "auto-unpatched-thread-socketio_sleep",
                          "auto-unpatched-task-time_sleep", "auto-unpatched-task-socketio_sleep"]


@pytest.mark.parametrize("cell", cells.all_cells(), ids=str)
def test_every_id_parses_back_to_its_cell(cell):
    assert cells.parse(cell.id) == cell
    base = f"{cell.row}-{cell.column}"
    assert str(cell) == cell.id == (f"{base}-{cell.family}" if cell.family else base)
    if cell.spawn not in cells.OTHER_PROCESS_SPAWNS:  # those have no cell without a queue
        assert cell.base.id == base and cell.base.transport == "default"


@pytest.mark.parametrize("bad, says", [
    ("gevent-patched-process-time_sleep", "emits through a message queue"),
    ("gevent-patched-process_manager-socketio_sleep-redis", "use process_manager-time_sleep"),
    ("auto-unpatched-thread-time_sleep-gunicorn", "the worker class decides the mode"),
    ("gevent-patched-thread-busy-redis", "every suffix factor at its default"),
])
def test_combinations_that_do_not_exist_say_why(bad, says):
    with pytest.raises(CellError) as info:
        cells.parse(bad)
    assert says in str(info.value)


def test_factor_order_in_the_id():
    cell = cells.parse("gevent-patched-task-time_sleep")
    assert (cell.mode, cell.patch, cell.spawn, cell.wait) == ("gevent", "patched", "task",
                                                             "time_sleep")
    assert cell.package == "gevent"
    assert cells.parse("threading-unpatched-task-time_sleep").package is None


@pytest.mark.parametrize("bad, says", [
    ("asyncio-unpatched-thread-time_sleep",
     "valid mode values: threading, eventlet, gevent, auto"),
    ("eventlet-half-thread-time_sleep", "valid patch values: unpatched, patched"),
    ("eventlet-patched-fork-time_sleep",
     "valid spawn values: thread, task, process, process_manager"),
    ("eventlet-patched-thread-sleep", "valid wait values: time_sleep, socketio_sleep, busy"),
    ("eventlet-patched-thread", "expected 4 to 8"),
    ("eventlet-patched-thread-time_sleep-extra",
     "valid suffixes: polling, websocket, redis, gunicorn, node"),
    ("eventlet-patched-thread-time_sleep-default", "the default is left out of the id"),
    ("eventlet-patched-thread-time_sleep-polling-websocket", "unknown suffix 'websocket'"),
    ("", "emitcheck list"),
    ("threading-patched-thread-time_sleep", "threading mode has no monkey patching"),
    ("auto-patched-thread-time_sleep", "auto mode is SocketIO(app) as it is"),
])
def test_invalid_ids_say_what_is_valid(bad, says):
    with pytest.raises(CellError, match=None) as info:
        cells.parse(bad)
    assert says in str(info.value)


def test_cell_constructor_validates_too():
    with pytest.raises(CellError):
        Cell("eventlet", "patched", "thread", "busy_wait")


def test_select_by_substring_glob_and_commas():
    assert {c.mode for c in cells.select("eventlet")} == {"eventlet"}
    # per family: 8 eventlet cells (base, CPU-bound, polling, websocket, gunicorn,
    # node) and 14 through Redis (process and process_manager columns)
    assert len(cells.select("eventlet")) == 8 * 6 + 14
    assert len(cells.select("*-unpatched-task-*")) == 8 * 6 + 6  # no auto under gunicorn
    assert len(cells.select("*-polling")) == 24
    assert [c.id for c in cells.select("gevent-patched-task-time_sleep")] == \
        ["gevent-patched-task-time_sleep"]  # a whole id: exactly that cell
    assert len(cells.select("gevent-patched-task-time_sle")) == 6  # a part: every family
    assert len(cells.select("-unpatched-task-")) == 8 * 6 + 6
    assert len(cells.select("threading,gevent-patched")) == 2 * (4 * 6 + 7)
    assert len(cells.select(None)) == len(cells.select("")) == len(cells.all_cells())


def test_select_that_matches_nothing_is_an_error():
    with pytest.raises(CellError, match="matches no cell"):
        cells.select("asyncio")


def test_every_cell_has_an_expectation_with_a_known_verdict():
    from emitcheck.expectations import EXPECTED, expected
    from emitcheck.verdict import VERDICTS
    assert set(EXPECTED) == {c.id for c in cells.all_cells()
                             if c.mode != "auto" and not c.family}
    for cell in cells.all_cells():
        exp = expected(cell.id)
        assert exp.verdict in VERDICTS, cell.id
        assert exp.why and "\n" not in exp.why


@pytest.mark.parametrize("resolved", ["threading", "eventlet", "gevent", "gevent_uwsgi"])
def test_an_auto_cell_is_judged_as_the_mode_it_resolved_to(resolved):
    from emitcheck.expectations import expected
    twin = ("gevent" if resolved == "gevent_uwsgi" else resolved) + "-unpatched-thread-time_sleep"
    exp = expected("auto-unpatched-thread-time_sleep", resolved)
    assert exp.verdict == expected(twin).verdict
    assert f"resolves to {resolved}" in exp.why and twin in exp.why
    assert exp.doc == "pitfall.md#which-mode-you-get"


@pytest.mark.parametrize("cell_id, verdict, says", [
    ("threading-unpatched-process-time_sleep-redis", "delivered", "comes back"),
    ("gevent-unpatched-thread-time_sleep-redis", "error", "monkey patched socket library"),
    ("eventlet-unpatched-process_manager-time_sleep-redis", "error", "RuntimeError"),
    ("eventlet-unpatched-task-time_sleep-redis", "starved", "blocks the unpatched hub"),
    ("gevent-patched-process_manager-time_sleep-redis", "lost", "channel='flask-socketio'"),
    ("eventlet-patched-thread-time_sleep-gunicorn", "delivered", "monkey patch"),
    ("gevent-unpatched-thread-time_sleep-node", "delayed", "with the Node client"),
])
def test_expectations_of_the_families(cell_id, verdict, says):
    from emitcheck.expectations import expected
    exp = expected(cell_id)
    assert exp.verdict == verdict and says in exp.why


def test_auto_through_redis_is_judged_as_its_resolved_mode():
    from emitcheck.expectations import expected
    assert expected("auto-unpatched-thread-time_sleep-redis", "eventlet").verdict == "error"
    assert expected("auto-unpatched-thread-time_sleep-redis", "threading").verdict == \
        "delivered"
