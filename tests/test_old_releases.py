"""What the oldest releases need from emitcheck: a connect that gets no answer is
bounded by emitcheck itself, not only by the client library (python-engineio
before 4.3.4 opened a WebSocket with no timeout), and a server that stopped
answering once the connect arrived is told from a wedged connection; cells that
an old stack cannot have skip, saying which package is missing."""

import socket
import threading

import pytest
import socketio

from emitcheck.clients.python_client import CONNECT_BOUND_RESPONSES, watch
from emitcheck.families import transports
from emitcheck.matrix.cells import parse
from emitcheck.model.results import Observation, Target, Timing
from emitcheck.model.verdicts import classify


@pytest.fixture
def silent_server():
    """A real listening socket that accepts connections (the kernel's backlog)
    and never answers: a server whose every thread is blocked."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("transport", ["default", "websocket"])
def test_a_connect_nobody_answers_is_starved_after_one_more_get(silent_server, transport):
    timing = Timing(response_timeout=0.5)
    obs = Observation(cell="probe-of-a-silent-server", interval=timing.interval)
    watch(obs, Target(silent_server, transport=transport), timing)
    assert obs.connect_ms is None and obs.connect_error  # "timed out", or "Connection error"
    assert len(obs.http) == 2, "an unanswered connect is followed by one more GET"
    assert all(get.ms is None for get in obs.http)
    assert classify(obs).verdict == "starved"


def test_a_connect_the_client_never_gives_up_on_is_given_up_by_emitcheck(silent_server,
                                                                        monkeypatch):
    """python-engineio before 4.3.4 opened a WebSocket with no timeout: its
    connect never returned. Such a connect (here, one that waits until the test
    lets it go) must not hold the window."""
    let_go = threading.Event()
    monkeypatch.setattr(socketio.Client, "connect", lambda *args, **kwargs: let_go.wait(60))
    timing = Timing(response_timeout=0.5)
    obs = Observation(cell="probe-of-a-client-without-timeout", interval=timing.interval)
    try:
        watch(obs, Target(silent_server), timing)
    finally:
        let_go.set()
    bound = CONNECT_BOUND_RESPONSES * timing.response_timeout
    assert obs.connect_error == f"connect timed out: no answer within {bound:g} s"
    assert classify(obs).verdict == "starved"


@pytest.mark.parametrize("mode, missing, says", [
    ("threading", "simple_websocket", "simple-websocket not installed"),
    ("gevent", "geventwebsocket", "gevent-websocket not installed"),
])
def test_a_websocket_only_cell_skips_where_the_mode_has_no_websocket(monkeypatch, mode, missing,
                                                                      says):
    monkeypatch.setattr(transports, "_installed", lambda module: module != missing)
    monkeypatch.setattr(transports, "_engineio_release", lambda: (4, 3))
    websocket = parse(f"{mode}-unpatched-thread-time_sleep-websocket").value_of("transport")
    assert says in websocket.unavailable(parse(f"{mode}-unpatched-thread-time_sleep-websocket"))
    default = parse(f"{mode}-unpatched-thread-time_sleep").value_of("transport")
    assert default.unavailable(parse(f"{mode}-unpatched-thread-time_sleep")) is None


def test_gevent_mode_has_websocket_through_simple_websocket_from_engineio_4_8(monkeypatch):
    monkeypatch.setattr(transports, "_installed", lambda module: module != "geventwebsocket")
    monkeypatch.setattr(transports, "_engineio_release", lambda: (4, 8))
    cell = parse("gevent-patched-task-time_sleep-websocket")
    assert cell.value_of("transport").unavailable(cell) is None
