"""``emitcheck probe``'s rules on recorded and constructed windows (no servers:
the classifier and the window's bounds), its credential parsing, and one real
server that wants credentials.

A probe has no emit log, so it judges arrivals alone: arrivals in bursts (held
back, then flushed) and a lone event (a greeting) must never pass as
``delivered``, and a server that truly emits steadily must. Times below are
constructed in seconds from 0; assertions are on verdicts and words.
"""

import json
import random
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from emitcheck.cli.probe import probe
from emitcheck.clients import python_client
from emitcheck.clients.node_client import node_unavailable
from emitcheck.model.credentials import (
    Credentials,
    CredentialsError,
    describe,
    parse_auth,
    parse_header,
    parse_query,
    redacted,
)
from emitcheck.model.results import Arrival, HttpGet, Observation, SchemaError, Target, Timing
from emitcheck.model.verdicts import (
    BURST_RATIO,
    EVERY_FACT,
    SHAPE_RATIO,
    bursts,
    classify,
    prompt_bound,
)
from emitcheck.system.process import ManagedProcess, ServerFiles, free_port

from .helpers import processes_mentioning

RECORDED = Path(__file__).parent / "data" / "observations"


def window(arrivals, *, sent=None, quiet_end=None, traffic_end=None, every=None,
           interval=0.5) -> Observation:
    """A probe's window (no emit log) connected at 0 with these arrival times
    (and send times); by default quiet until the last arrival, then 1.3 s of
    traffic and drain, as an adaptive window has."""
    last = max(arrivals, default=0.0)
    obs = Observation(cell="probe", interval=interval, emits_logged=False, connect_ms=5.0,
                      connected_at=0.0,
                      quiet_end=last + 0.15 if quiet_end is None else quiet_end)
    obs.traffic_end = obs.quiet_end + 0.8 if traffic_end is None else traffic_end
    sent = sent or [None] * len(arrivals)
    obs.received = [Arrival(None, s, t) for s, t in zip(sent, arrivals, strict=True)]
    obs.http = [HttpGet(0.0, 2.0, None), HttpGet(obs.quiet_end, 2.0, None)]
    if every is not None:
        obs.facts[EVERY_FACT] = repr(every)
    return obs


def flush(at: float, count: int, spacing: float = 0.0001) -> list[float]:
    return [at + i * spacing for i in range(count)]


def steady(start: float, every: float, count: int, jitter: float = 0.0,
           seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [start + i * every + rng.uniform(-jitter, jitter) * every for i in range(count)]


def recorded(name: str, *, send_times: bool = True) -> Observation:
    """A recorded cell window as a probe sees it: no emit log, perhaps no send times."""
    obs = Observation.from_dict(json.loads((RECORDED / f"{name}.json").read_text()))
    obs.emits_logged, obs.emitted = False, []
    if not send_times:
        obs.received = [Arrival(None, None, a.arrived_at) for a in obs.received]
    return obs


# -- bursts are never delivered ----------------------------------------------------------

def test_a_greeting_then_a_held_back_flush_is_delayed_not_delivered():
    """The measured case: a greeting on connect, 20 s of nothing, then what was
    held back arrives in one burst (an OS thread's asyncio.run(sio.emit(...)) on
    aiohttp). The median arrival gap is about 0, so promptness alone passed it."""
    obs = window([0.01, *flush(20.0, 50)])
    judged = classify(obs)
    assert judged.verdict == "delayed", judged.evidence
    assert "50 of 51 events arrived in bursts" in judged.evidence
    for words in ("cannot be told apart from an app that emits in batches by design",
                  "--time-field NAME", "--every SECONDS"):
        assert words in judged.evidence
    assert bursts(obs).by == "shape" and bursts(obs).held


@pytest.mark.parametrize("flushes", [2, 4])
def test_repeated_flushes_are_delayed(flushes):
    obs = window([t for k in range(flushes) for t in flush(5.0 * (k + 1), 25)])
    assert classify(obs).verdict == "delayed"


def test_a_short_hold_passes_promptness_but_the_send_times_show_the_flush():
    """Sent every 0.1 s, held for 0.3 s and flushed: the median latency is
    within the prompt bound (3 intervals), yet 4 events that were sent 0.1 s apart
    arrive within a millisecond, again and again."""
    sent = [0.1 * i for i in range(1, 25)]
    arrived = [0.4 * ((i + 3) // 4) + 0.0002 * (i % 4) for i in range(1, 25)]
    obs = window(arrived, sent=sent, interval=0.1)
    assert classify(obs).metrics.latency_ms["p50"] <= 1000 * prompt_bound(0.1)
    judged = classify(obs)
    assert judged.verdict == "delayed", judged.evidence
    assert bursts(obs).by == "send times"
    assert f"at least {BURST_RATIO:g} times closer together than they were sent" \
        in judged.evidence


def test_with_every_a_flush_after_a_silence_of_ten_intervals_is_delayed():
    obs = window(flush(3.0, 15), every=0.2)
    judged = classify(obs)
    assert judged.verdict == "delayed" and bursts(obs).by == "--every"
    assert "a tenth of --every or less, around a silence of 3 s" in judged.evidence


def test_an_app_that_emits_batches_by_design_reads_as_bursts_without_a_reference():
    """10 events every 2 s: without send times or --every this looks like a
    flush, which is accepted as long as the evidence says how to tell."""
    arrived = [t for k in range(1, 5) for t in flush(2.0 * k, 10)]
    judged = classify(window(arrived))
    assert judged.verdict == "delayed"
    assert "--time-field NAME" in judged.evidence and "--every SECONDS" in judged.evidence


@pytest.mark.parametrize("reference", ["send times", "--every"])
def test_an_app_that_emits_batches_by_design_is_delivered_with_a_reference(reference):
    """Its send times are as close together as its arrivals; or --every gives
    the batch period, and no silence lasts 10 periods."""
    arrived = [t for k in range(1, 5) for t in flush(2.0 * k + 0.002, 10)]
    sent = [t - 0.002 for t in arrived] if reference == "send times" else None
    obs = window(arrived, sent=sent, every=2.0 if reference == "--every" else None,
                 interval=2.0)
    assert classify(obs).verdict == "delivered", classify(obs).evidence
    assert not bursts(obs).held and bursts(obs).by == reference


# -- a lone event is never delivered -------------------------------------------------------

@pytest.mark.parametrize("at", [0.01, 12.0])
def test_a_lone_event_in_the_whole_window_is_silent(at):
    """The connect handler's greeting, and then nothing for 30 s (the work had
    not started): one event shows no cadence."""
    obs = window([at], quiet_end=30.0, traffic_end=31.0)
    judged = classify(obs)
    assert judged.verdict == "silent", judged.evidence
    assert judged.evidence.startswith("1 event in 31.0 s: a greeting or a lone event cannot "
                                      "show a cadence")


def test_two_events_in_the_quiet_phase_can_still_be_delivered():
    assert classify(window([0.5, 1.0], interval=0.5)).verdict == "delivered"


# -- steady arrivals stay delivered --------------------------------------------------------

@pytest.mark.parametrize("send_times", [True, False])
def test_a_recorded_healthy_window_is_delivered_as_a_probe_sees_it(send_times):
    obs = recorded("delivered", send_times=send_times)
    assert classify(obs).verdict == "delivered"
    assert not bursts(obs).held


def test_a_recorded_delayed_window_stays_delayed_as_a_probe_sees_it():
    assert classify(recorded("delayed", send_times=False)).verdict == "delayed"


@pytest.mark.parametrize("jitter", [0.0, 0.3])
@pytest.mark.parametrize("every", [None, 0.2])
def test_steady_arrivals_every_200_ms_are_delivered(jitter, every):
    """Also with jitter of 30 % of the interval, a pair that arrives together
    (one event late, the next on time), a 1 s hiccup, and a greeting on connect
    followed by 10 s before the work starts."""
    arrived = [0.01, *steady(10.0, 0.2, 40, jitter)]
    arrived[20] = arrived[21] - 0.0001  # one late, delivered with the next
    arrived = sorted(arrived[:30] + [t + 1.0 for t in arrived[30:]])  # a 1 s hiccup
    obs = window(arrived, every=every, interval=0.2)
    judged = classify(obs)
    assert judged.verdict == "delivered", judged.evidence
    assert not bursts(obs).held


def test_a_fast_steady_stream_is_delivered_and_the_ratios_do_not_depend_on_the_unit():
    arrived = steady(0.0, 0.01, 200, jitter=0.3)
    assert classify(window(arrived, interval=0.01)).verdict == "delivered"
    assert SHAPE_RATIO == BURST_RATIO ** 2


# -- the interval's floor and the traffic phase's bound -----------------------------------

def adaptive(**changes) -> Timing:
    return Timing(**{"interval": 0.5, "quiet": 0.0, "traffic": 0.8, "drain": 0.0,
                     "timeout": 5.0, **changes})


def test_an_interval_measured_in_a_burst_is_raised_to_the_floor():
    """Three arrivals within a millisecond: the median gap is about 0."""
    obs = Observation(cell="x", interval=0.5, emits_logged=False)
    now = time.time()
    rest = python_client._quiet(obs, adaptive(), lambda: [now, now + 0.0004, now + 0.0008])
    assert obs.interval == rest.interval == python_client.MIN_INTERVAL_S
    assert rest.traffic == 0.8  # 2 intervals is less than the fixed traffic time


def test_a_given_cadence_below_the_floor_is_raised_too():
    obs = Observation(cell="x", interval=0.5, emits_logged=False)
    rest = python_client._quiet(obs, adaptive(every=0.001, quiet=0.0), lambda: [])
    assert obs.interval == rest.interval == python_client.MIN_INTERVAL_S


class _Client:
    """Answers every ack at once (a socketio.Client for _traffic)."""

    def __init__(self):
        self.calls = 0

    def call(self, *args, **kwargs):
        self.calls += 1


@pytest.mark.parametrize("ack", [None, "probe"])
def test_the_traffic_phase_sends_a_bounded_number_of_requests(monkeypatch, ack):
    """An interval of 0 and GETs answered at once: without the bound the phase
    sends a request per loop for its whole length (448 GETs in 0.8 s were seen)."""
    monkeypatch.setattr(python_client, "_target_get",
                        lambda target, timeout: HttpGet(time.time(), 0.1, None))
    obs, client = Observation(cell="x", interval=0.0), _Client()
    python_client._traffic(client, Target("http://127.0.0.1:9", ack_event=ack), obs,
                           Timing(interval=0.0, traffic=2.0))
    assert len(obs.http) == python_client.TRAFFIC_MAX_ROUNDS
    assert client.calls == len(obs.acks) == (python_client.TRAFFIC_MAX_ROUNDS if ack else 0)


def test_the_bound_leaves_our_cells_and_the_floor_alone():
    """Our cells: 0.8 s of traffic at 0.1 s, 8 rounds; an adaptive window at the
    floor: 16. Both stay under the bound, with one round to spare for timing."""
    ours = Timing()
    assert ours.traffic / ours.interval + 1 < python_client.TRAFFIC_MAX_ROUNDS
    assert ours.traffic / python_client.MIN_INTERVAL_S + 1 < python_client.TRAFFIC_MAX_ROUNDS


# -- credentials: parsing -----------------------------------------------------------------

SECRET = "s3cr3t-value"


@pytest.mark.parametrize("parse, text, says", [
    (parse_auth, "{\"token\": \"" + SECRET, "not valid JSON"),
    (parse_auth, f"[\"{SECRET}\"]", "a JSON list, not an object"),
    (parse_auth, f"\"{SECRET}\"", "a JSON string, not an object"),
    (parse_header, f"Bearer {SECRET}", "no ':' between a header name and its value"),
    (parse_header, f": {SECRET}", "no header name before the ':'"),
    (parse_header, f"Bad Name: {SECRET}", "is not a header name"),
    (parse_header, f"Host: {SECRET}", "is set by the client itself"),
    (parse_header, f"X-Token: a\r\nX-Other: {SECRET}", "has a line break"),
    (parse_query, SECRET, "no '=' between a parameter name and its value"),
    (parse_query, f"={SECRET}", "no parameter name before the '='"),
    (parse_query, f"EIO={SECRET}", "is Engine.IO's own parameter"),
])
def test_a_bad_credential_is_one_line_saying_what_is_valid_without_the_secret(parse, text,
                                                                               says):
    with pytest.raises(CredentialsError) as raised:
        parse(text)
    message = str(raised.value)
    assert "\n" not in message and says in message and "expected" in message
    assert SECRET not in message


@pytest.mark.parametrize("args, says", [
    (["--auth", "[1]"], "Invalid value for '--auth': a JSON list, not an object"),
    (["--header", "Cookie"], "Invalid value for '--header': no ':'"),
    (["--query", "token"], "Invalid value for '--query': no '='"),
    (["--trigger", "start"], "Invalid value for '--trigger': trigger 'start' is not one of"),
])
def test_bad_credential_and_trigger_options_are_one_line_errors(args, says):
    result = CliRunner().invoke(probe, [f"http://127.0.0.1:{free_port()}", "--event", "tick",
                                        *args])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert says in result.output


def test_credentials_parse_round_trip_and_say_only_names():
    creds = Credentials(parse_auth('{"token": "t"}'), (parse_header("Cookie:  session=s "),),
                        (parse_query("key=q"), parse_query("empty=")))
    assert creds.headers == (("Cookie", "session=s"),) and bool(creds)
    assert not Credentials() and Credentials(auth={})  # an empty payload is still sent
    assert Credentials.from_json(json.loads(json.dumps(creds.to_json()))) == creds
    assert creds.connect_url("http://h:1") == "http://h:1?key=q&empty="
    assert creds.connect_url("http://h:1/socket.io/?EIO=4") == \
        "http://h:1/socket.io/?EIO=4&key=q&empty="
    assert Credentials().connect_url("http://h:1") == "http://h:1"
    assert describe(creds) == "auth {token}; header Cookie; query key, empty"
    shown = json.dumps(redacted(creds))
    assert "session=s" not in shown and '"t"' not in shown and "q\"" not in shown
    with pytest.raises(SchemaError):
        Credentials.from_json({"auth": None, "headers": [["Cookie"]], "query": []})


def test_other_events_are_named_most_frequent_first():
    assert python_client.other_events({"status": 1, "pty-output": 12}) == \
        "'pty-output' x12, 'status' x1"
    many = {f"e{i}": i for i in range(1, 8)}
    assert python_client.other_events(many).endswith("'e3' x3 and 2 more")


# -- one real server that wants credentials -----------------------------------------------

#: A Flask-SocketIO app (threading mode) that wants a session cookie on every
#: HTTP request (a WSGI guard in front of Socket.IO), an auth payload and a query
#: parameter on connect; it ticks to a client only after that client emitted
#: "start", and sends "status" to everyone.
GUARDED_APP = textwrap.dedent('''
    import sys, time
    from flask import Flask, request
    from flask_socketio import SocketIO

    app = Flask(__name__)
    sio = SocketIO(app, async_mode="threading")
    started = set()

    @sio.on("connect")
    def connect(auth=None):
        if auth != {"token": "a-token"} or request.args.get("key") != "q-key":
            raise ConnectionRefusedError("bad credentials")

    @sio.on("start")
    def start():
        started.add(request.sid)

    @sio.on("disconnect")
    def gone(*args):
        started.discard(request.sid)

    def work():
        seq = 0
        while True:
            sio.sleep(0.1)
            seq += 1
            for sid in list(started):
                sio.emit("tick", {"seq": seq, "t": time.time()}, to=sid)
            if seq % 3 == 0:
                sio.emit("status", {"seq": seq})

    def guard(wsgi):
        def guarded(environ, start_response):
            if "session=c-cookie" not in environ.get("HTTP_COOKIE", ""):
                start_response("401 UNAUTHORIZED", [("Content-Type", "text/plain")])
                return [b"no session"]
            return wsgi(environ, start_response)
        return guarded

    app.wsgi_app = guard(app.wsgi_app)
    sio.start_background_task(work)
    sio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True)
''')
AUTH = ["--auth", '{"token": "a-token"}']
COOKIE = ["--header", "Cookie: session=c-cookie"]
QUERY = ["--query", "key=q-key"]


@pytest.fixture(scope="module")
def guarded_url(tmp_path_factory):
    directory = tmp_path_factory.mktemp("guarded")
    script = directory / "guarded_app.py"
    script.write_text(GUARDED_APP)
    port = free_port()
    server = ManagedProcess([sys.executable, str(script), str(port)], ServerFiles(directory),
                            port)
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_listening(20)
        yield url
    finally:
        server.stop()
    assert processes_mentioning(str(script)) == []


def invoke(*args: str):
    return CliRunner().invoke(probe, list(args))


@pytest.mark.parametrize("client", ["python", "node"])
def test_credentials_and_a_trigger_reach_a_server_that_wants_them(guarded_url, client):
    """Delivered only if the cookie went with the connect and with every GET of
    the window (the guard answers 401 otherwise: an error), the auth payload and
    the query parameter with the connect (else refused), and the trigger's emit
    after it (else nothing ticks: silent). None of their values is printed."""
    if client == "node" and (reason := node_unavailable()):
        pytest.skip(reason)
    result = invoke(guarded_url, "--event", "tick", "--time-field", "t", "--client", client,
                    "--trigger", "emit:start", *AUTH, *COOKIE, *QUERY)
    assert result.exit_code == 0, result.output
    assert "verdict: delivered" in result.output
    assert "credentials: auth {token}; header Cookie; query key" in result.output
    assert "triggers: emit:start sent" in result.output
    for secret in ("a-token", "c-cookie", "q-key"):
        assert secret not in result.output


@pytest.mark.parametrize("missing", ["auth", "query"])
def test_a_connect_without_its_credentials_is_refused(guarded_url, missing):
    given = {"auth": AUTH, "query": QUERY}
    result = invoke(guarded_url, "--event", "tick", *COOKIE,
                    *[arg for name, args in given.items() if name != missing for arg in args])
    assert result.exit_code == 1, result.output
    assert "verdict: error" in result.output and "refused the client" in result.output


def test_a_server_that_answers_401_says_how_to_give_credentials(guarded_url):
    result = invoke(guarded_url, "--event", "tick")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert "HTTP 401" in result.output and "it asks for credentials: give them with --header" \
        in result.output


def test_silent_names_what_the_server_did_send_and_json_hides_the_credentials(guarded_url):
    """No trigger: the server ticks to nobody, but sends "status" to everyone."""
    result = invoke(guarded_url, "--event", "tick", "--duration", "1", "--json",
                    *AUTH, *COOKIE, *QUERY)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert doc["verdict"] == "silent"
    assert doc["clients"][0]["observation"]["facts"]["other events"].startswith("'status' x")
    assert doc["probe"]["credentials"] == {"auth": {"token": "***"},
                                           "headers": [["Cookie", "***"]],
                                           "query": [["key", "***"]]}
    for secret in ("a-token", "c-cookie", "q-key"):
        assert secret not in result.output
    text = invoke(guarded_url, "--event", "tick", "--duration", "1", *AUTH, *COOKIE, *QUERY)
    assert "the event 'tick' never arrived; the server sent: 'status' x" in text.output
    assert " in /: silent is the verdict" in text.output
