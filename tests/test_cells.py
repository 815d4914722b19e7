"""Cell ids: stable, composable, and every bad one a one-line error naming what is valid."""

import pytest

from emitcheck.matrix import cells
from emitcheck.matrix.cell import FACTORS, MODULES, Cell, CellError, variants

BASE_20 = [f"{row}-{spawn}-{wait}"
           for row in ("threading-unpatched", "eventlet-unpatched", "eventlet-patched",
                       "gevent-unpatched", "gevent-patched")
           for spawn in ("thread", "task") for wait in ("time_sleep", "socketio_sleep")]


def test_the_base_twenty_ids_stay_first_and_unchanged():
    ids = [c.id for c in cells.all_cells()]
    assert ids[:20] == BASE_20 == [c.id for c in cells.base_cells()]


def test_every_id_in_the_committed_baselines_is_in_the_default_matrix():
    """The baselines hold the ids users cite: each must still name a default cell."""
    import json
    from pathlib import Path

    default = {c.id for c in cells.all_cells()}
    for path in (Path(__file__).parent.parent / "baselines").glob("*.json"):
        recorded = json.loads(path.read_text())["verdicts"]
        assert set(recorded) <= default, path.name
        for cell_id in recorded:
            assert cells.parse(cell_id).id == cell_id


def test_ids_are_unique_and_parse_back_to_their_cell():
    listed = cells.possible_cells()
    assert len({c.id for c in listed}) == len(listed)
    for cell in listed:
        assert cells.parse(cell.id) == cell and str(cell) == cell.id


def test_suffixes_are_left_out_at_their_default_and_compose_in_factor_order():
    cell = cells.parse("gevent-patched-task-time_sleep-polling")
    assert cell.transport == "polling" and cell.family == "polling"
    assert cells.parse("gevent-patched-task-time_sleep").transport == "default"
    both = Cell("gevent", "patched", "task", "time_sleep", server="gunicorn",
                transport="websocket")
    assert both.id == "gevent-patched-task-time_sleep-websocket-gunicorn"
    # any order is accepted; the id is written in factor order
    assert cells.parse("gevent-patched-task-time_sleep-gunicorn-websocket") == both
    assert both.grid == "transport: websocket, server: gunicorn"


def test_the_default_matrix_is_one_suffix_at_most_plus_the_declared_composed_families():
    from emitcheck.matrix.cell import FACTORS, variants

    default = set(cells.default_cells())
    for cell in cells.possible_cells():
        if any(value.in_default(cell) is not None for value in cell.variants()):
            continue  # a family that says which of its cells run by default: below
        assert (cell in default) == (len(cell.suffixes) <= 1), cell
    # each composed family a family declares has cells, in factor order
    declared = {family for factor in FACTORS for value in variants(factor.name)
                for family in value.composed}
    assert {("websocket", "gunicorn"), ("redis", "gunicorn"), ("polling", "node")} <= declared
    for family in declared:
        members = [c for c in default if tuple(c.suffixes) == family]
        assert members and all(c.family == "-".join(family) for c in members)


def test_a_family_can_keep_a_cell_out_of_the_default_matrix_or_take_one_in(monkeypatch):
    """False wins: a family with many cells keeps most of them out; True takes in
    a composed cell no value's ``composed`` names."""
    from emitcheck.matrix.cell import variant

    # The declarations change under the test: find the cells, never read them back.
    monkeypatch.setattr(cells, "remembered", lambda kind, find: find())
    one_suffix = cells.parse("gevent-patched-task-time_sleep-polling")
    three = cells.parse("gevent-patched-task-time_sleep-polling-redis-gunicorn")
    assert one_suffix in cells.default_cells() and three not in cells.default_cells()
    monkeypatch.setattr(variant("transport", "polling"), "in_default",
                        lambda cell: cell.queue == "redis")  # True for three, False for one
    cells.default_cells.cache_clear()
    try:
        default = cells.default_cells()
        assert three in default and one_suffix not in default
        monkeypatch.setattr(variant("server", "gunicorn"), "in_default", lambda cell: False)
        cells.default_cells.cache_clear()
        assert three not in cells.default_cells()
    finally:
        monkeypatch.undo()
        cells.default_cells.cache_clear()
        cells.default_cells()  # as declared, for the tests after this one


def test_every_value_is_declared_once_by_one_family_module():
    for factor in FACTORS:
        declared = [v.value for v in variants(factor.name)]
        assert declared and len(declared) == len(set(declared)), factor.name
        if factor.is_suffix:
            assert factor.default in declared
        assert all(v.module in MODULES for v in variants(factor.name))


@pytest.mark.parametrize("bad, says", [
    ("gevent-patched-process-time_sleep", "emits through a message queue"),
    ("gevent-patched-process_manager-socketio_sleep-redis", "use process_manager-time_sleep"),
    ("auto-unpatched-thread-time_sleep-gunicorn", "the worker class decides the mode"),
    ("gevent-patched-thread-busy-redis", "every suffix factor at its default"),
    ("gevent-patched-task-busy-polling", "every suffix factor at its default"),
])
def test_combinations_that_do_not_exist_say_why(bad, says):
    with pytest.raises(CellError) as info:
        cells.parse(bad)
    assert says in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("bad, says", [
    ("asyncio-unpatched-thread-time_sleep",
     "valid mode values: threading, eventlet, gevent, auto"),
    ("eventlet-half-thread-time_sleep", "valid patch values: unpatched, patched"),
    ("eventlet-patched-fork-time_sleep",
     "valid spawn values: thread, task, process, process_manager"),
    ("eventlet-patched-thread-sleep",
     "valid wait values: time_sleep, socketio_sleep, event_wait, busy"),
    ("eventlet-patched-thread", "expected 4 to 13"),
    ("eventlet-patched-thread-time_sleep-extra",
     "valid suffixes: polling, websocket, redis, gunicorn"),
    ("eventlet-patched-thread-time_sleep-default", "the default is left out of the id"),
    ("eventlet-patched-thread-time_sleep-polling-websocket",
     "two transport values in 'eventlet-patched-thread-time_sleep-polling-websocket'"),
    ("", "emitcheck list"),
    ("threading-patched-thread-time_sleep", "threading mode has no monkey patching"),
    ("auto-patched-thread-time_sleep", "auto mode has no monkey patching"),
])
def test_invalid_ids_say_what_is_valid(bad, says):
    with pytest.raises(CellError) as info:
        cells.parse(bad)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_cells_are_immutable_and_validated_when_made():
    cell = cells.parse("gevent-patched-task-time_sleep")
    with pytest.raises(AttributeError):
        cell.mode = "eventlet"
    with pytest.raises(CellError, match="unknown wait 'busy_wait'"):
        Cell("eventlet", "patched", "thread", "busy_wait")
    assert cell.replace(mode="eventlet").id == "eventlet-patched-task-time_sleep"


def test_a_whole_id_selects_exactly_that_cell_even_outside_the_default_matrix():
    assert [c.id for c in cells.select("gevent-patched-task-time_sleep")] == \
        ["gevent-patched-task-time_sleep"]
    composed = "gevent-patched-task-time_sleep-polling-redis"
    assert cells.parse(composed) not in cells.default_cells()
    assert [c.id for c in cells.select(composed)] == [composed]


@pytest.mark.parametrize("pattern", ["eventlet", "-unpatched-task-", "*-polling",
                                     "gevent-patched-task-time_sle"])
def test_a_part_selects_every_default_cell_containing_or_matching_it(pattern):
    chosen = cells.select(pattern)
    expected = [c for c in cells.all_cells()
                if pattern in c.id or __import__("fnmatch").fnmatchcase(c.id, pattern)]
    assert chosen == expected and chosen


def test_commas_select_the_union_in_listing_order():
    union = cells.select("threading,gevent-patched")
    assert union == [c for c in cells.all_cells()
                     if "threading" in c.id or "gevent-patched" in c.id]


@pytest.mark.parametrize("pattern, says", [("trio", "matches no cell"),
                                           ("", "empty cell pattern"),
                                           (" , ", "empty cell pattern")])
def test_a_pattern_that_selects_nothing_is_an_error(pattern, says):
    with pytest.raises(CellError, match=says):
        cells.select(pattern)
    assert cells.select(None) == cells.all_cells()


def test_every_cell_has_an_expectation_with_a_known_verdict():
    from emitcheck.families.waits import BlocksLike
    from emitcheck.matrix.expectations import EXPECTED, expected
    from emitcheck.model.verdicts import VERDICTS
    # The base and CPU-bound cells; a wait that blocks like another decides its own.
    # (An asyncio mode's family measured its own: families/asyncio.py.)
    assert set(EXPECTED) == {c.id for c in cells.all_cells()
                             if c.mode != "auto" and not c.suffixes
                             and not c.value_of("mode").asyncio
                             and not isinstance(c.value_of("wait"), BlocksLike)}
    for cell in cells.possible_cells():
        exp = expected(cell)
        assert exp.verdict in VERDICTS, cell.id
        assert exp.why and "\n" not in exp.why


@pytest.mark.parametrize("resolved", ["threading", "eventlet", "gevent", "gevent_uwsgi"])
def test_an_auto_cell_is_judged_as_the_mode_it_resolved_to(resolved):
    from emitcheck.matrix.expectations import expected
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
    ("gevent-unpatched-thread-time_sleep-node", "delayed", "socket.io-client"),
    # composed: gunicorn's worker patches, then the queue's rules apply to the patched cell
    ("gevent-unpatched-process_manager-time_sleep-redis-gunicorn", "lost", "channel="),
    ("gevent-unpatched-task-time_sleep-websocket-gunicorn", "delivered", "monkey patch"),
])
def test_expectations_of_the_families(cell_id, verdict, says):
    from emitcheck.matrix.expectations import expected
    exp = expected(cell_id)
    assert exp.verdict == verdict and says in exp.why


def test_auto_through_redis_is_judged_as_its_resolved_mode():
    from emitcheck.matrix.expectations import expected
    assert expected("auto-unpatched-thread-time_sleep-redis", "eventlet").verdict == "error"
    assert expected("auto-unpatched-thread-time_sleep-redis", "threading").verdict == \
        "delivered"
