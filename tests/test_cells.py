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
    assert ids[:20] == BASE_20
    assert not any(i.startswith(("threading-patched", "auto-patched")) for i in ids)


def test_transport_is_a_suffix_left_out_at_its_default():
    cell = cells.parse("gevent-patched-task-time_sleep-polling")
    assert cell.transport == "polling" and cell.family == "polling"
    assert cells.parse("gevent-patched-task-time_sleep").transport == "default"
    assert cells.Cell("gevent", "patched", "task", "time_sleep", "websocket").id == \
        "gevent-patched-task-time_sleep-websocket"
    ids = [c.id for c in cells.all_cells()]
    assert len(ids) == 24 * 3 + 24
    assert ids[48] == "threading-unpatched-thread-time_sleep-polling"
    assert ids[-1] == "auto-unpatched-task-socketio_sleep-websocket"


def test_cpu_bound_cells_come_after_the_base_with_the_default_transport_only():
    ids = [c.id for c in cells.all_cells()]
    assert ids[24] == "threading-unpatched-thread-busy"
    assert all(cells.parse(i).cpu_bound for i in ids[24:48])
    assert cells.parse("gevent-patched-task-busy_yield").grid == "CPU-bound work"
    with pytest.raises(CellError, match="default transport only"):
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
    assert cell.base.id == base and cell.base.transport == "default"


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
    ("eventlet-patched-process-time_sleep", "valid spawn values: thread, task"),
    ("eventlet-patched-thread-sleep", "valid wait values: time_sleep, socketio_sleep, busy"),
    ("eventlet-patched-thread", "expected 4 to 5"),
    ("eventlet-patched-thread-time_sleep-extra", "valid suffixes: polling, websocket"),
    ("eventlet-patched-thread-time_sleep-default", "the default is left out of the id"),
    ("eventlet-patched-thread-time_sleep-polling-websocket", "expected 4 to 5"),
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
    assert len(cells.select("eventlet")) == 8 * 3 + 8
    assert len(cells.select("*-unpatched-task-*")) == 8 * 3 + 8
    assert len(cells.select("*-polling")) == 24
    assert [c.id for c in cells.select("gevent-patched-task-time_sleep")] == \
        ["gevent-patched-task-time_sleep"]  # a whole id: exactly that cell
    assert len(cells.select("gevent-patched-task-time_sle")) == 3  # a part: every transport
    assert len(cells.select("-unpatched-task-")) == 8 * 3 + 8
    assert len(cells.select("threading,gevent-patched")) == 8 * 3 + 8
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
