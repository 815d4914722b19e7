import pytest

from emitcheck import cells
from emitcheck.cells import Cell, CellError


def test_base_matrix_has_twenty_cells_with_stable_ids():
    ids = [c.id for c in cells.all_cells()]
    assert len(ids) == len(set(ids)) == 20
    assert ids[0] == "threading-unpatched-thread-time_sleep"
    assert "eventlet-unpatched-thread-time_sleep" in ids
    assert "gevent-patched-task-socketio_sleep" in ids
    assert not any(i.startswith("threading-patched") for i in ids)


@pytest.mark.parametrize("cell", cells.all_cells(), ids=str)
def test_every_id_parses_back_to_its_cell(cell):
    assert cells.parse(cell.id) == cell
    assert str(cell) == cell.id == f"{cell.row}-{cell.column}"


def test_factor_order_in_the_id():
    cell = cells.parse("gevent-patched-task-time_sleep")
    assert (cell.mode, cell.patch, cell.spawn, cell.wait) == ("gevent", "patched", "task",
                                                             "time_sleep")
    assert cell.package == "gevent"
    assert cells.parse("threading-unpatched-task-time_sleep").package is None


@pytest.mark.parametrize("bad, says", [
    ("asyncio-unpatched-thread-time_sleep", "valid mode values: threading, eventlet, gevent"),
    ("eventlet-half-thread-time_sleep", "valid patch values: unpatched, patched"),
    ("eventlet-patched-process-time_sleep", "valid spawn values: thread, task"),
    ("eventlet-patched-thread-sleep", "valid wait values: time_sleep, socketio_sleep"),
    ("eventlet-patched-thread", "expected 4"),
    ("eventlet-patched-thread-time_sleep-extra", "expected 4"),
    ("", "emitcheck list"),
    ("threading-patched-thread-time_sleep", "threading mode has no monkey patching"),
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
    assert len(cells.select("eventlet")) == 8
    assert len(cells.select("*-unpatched-task-*")) == 6
    assert len(cells.select("threading,gevent-patched")) == 8
    assert len(cells.select(None)) == len(cells.select("")) == 20


def test_select_that_matches_nothing_is_an_error():
    with pytest.raises(CellError, match="matches no cell"):
        cells.select("asyncio")


def test_every_cell_has_an_expectation_with_a_known_verdict():
    from emitcheck.expectations import EXPECTED
    from emitcheck.verdict import VERDICTS
    assert set(EXPECTED) == {c.id for c in cells.all_cells()}
    for cell_id, exp in EXPECTED.items():
        assert exp.verdict in VERDICTS, cell_id
        assert exp.why and "\n" not in exp.why
