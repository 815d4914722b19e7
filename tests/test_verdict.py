"""The classifier on real recorded observations (tests/data/record.py made them)
and on edited copies that probe its thresholds. No servers here."""

import copy
import json
from pathlib import Path

import pytest

from emitcheck.model.results import Arrival, HttpGet, Observation, SchemaError
from emitcheck.model.verdicts import DELIVERED_SHARE, VERDICTS, classify, measure

RECORDED = Path(__file__).parent / "data" / "observations"


def load(verdict: str) -> Observation:
    return Observation.from_dict(json.loads((RECORDED / f"{verdict}.json").read_text()))


#: Every verdict has a real recording but ``silent`` (our cells always emit):
#: it is made from a recording below.
RECORDED_VERDICTS = [v for v in VERDICTS if v != "silent"]


@pytest.mark.parametrize("verdict", RECORDED_VERDICTS)
def test_recorded_example_gets_its_verdict(verdict):
    judged = classify(load(verdict))
    assert judged.verdict == verdict
    assert judged.evidence and "\n" not in judged.evidence


def test_observation_round_trips_through_json():
    obs = load("delivered")
    assert Observation.from_dict(json.loads(json.dumps(obs.to_dict()))) == obs


def test_an_observation_recorded_before_facts_existed_reads_with_none():
    raw = json.loads((RECORDED / "delivered.json").read_text())
    assert "facts" not in raw
    assert Observation.from_dict(raw).facts == {}


@pytest.mark.parametrize(("transport", "ended_on", "said"), [
    ("default", "polling", True),     # it may upgrade and never did: a proxy without Upgrade
    ("polling", "polling", False),    # it was told to stay there
    ("default", "websocket", False),
])
def test_the_evidence_says_a_client_stayed_on_long_polling_only_where_it_could_upgrade(
        transport, ended_on, said):
    from emitcheck.matrix.cell import Cell
    from emitcheck.running.runner import _facts

    obs = load("delivered")
    obs.facts = {"transport": ended_on, "landed on": "server 2 of 2"}
    note = _facts(Cell("threading", "unpatched", "task", "socketio_sleep",
                       transport=transport), obs)
    assert ("stayed on long-polling" in note) == said
    assert note.endswith("; landed on: server 2 of 2")  # a family's facts are always said


def test_delivered_metrics():
    m = measure(load("delivered"))
    assert m.emitted > 10 and m.received == m.emitted
    assert m.latency_ms["p50"] <= m.latency_ms["p95"] <= m.latency_ms["max"]
    assert m.quiet_prompt == m.quiet_emitted > 0
    assert m.connect_ms is not None and m.ack_ms is not None and m.http_ms is not None


def test_evidence_lines_name_the_facts():
    assert "0 of" in classify(load("lost")).evidence
    assert "acks unanswered while HTTP answered" in classify(load("lost")).evidence
    assert "Cannot switch to a different thread" in classify(load("error")).evidence
    assert "timed out" in classify(load("starved")).evidence
    assert "status -9" in classify(load("crashed")).evidence
    assert "while the client was quiet" in classify(load("delayed")).evidence


def test_delayed_events_did_arrive_but_not_while_quiet():
    m = measure(load("delayed"))
    assert m.received > 0 and m.quiet_prompt == 0 < m.quiet_emitted


def _shift_arrivals(obs: Observation, by_intervals: float) -> Observation:
    late = copy.deepcopy(obs)
    late.received = [Arrival(a.seq, a.emitted_at, a.arrived_at + by_intervals * obs.interval)
                     for a in obs.received]
    return late


def test_uniform_noise_within_the_prompt_bound_stays_delivered():
    # Every event two intervals late (200 ms on a busy machine) is still prompt.
    assert classify(_shift_arrivals(load("delivered"), 2.0)).verdict == "delivered"


def test_events_many_intervals_late_are_delayed():
    assert classify(_shift_arrivals(load("delivered"), 8.0)).verdict == "delayed"


def test_losing_most_quiet_events_is_delayed_not_delivered():
    obs = load("delivered")
    quiet_end = obs.quiet_end
    quiet = [a for a in obs.received if a.arrived_at <= quiet_end]
    keep = int(len(quiet) * DELIVERED_SHARE) - 2
    obs.received = quiet[:keep] + [a for a in obs.received if a.arrived_at > quiet_end]
    assert classify(obs).verdict == "delayed"


def test_nothing_received_is_lost_when_the_server_answers():
    obs = load("delivered")
    obs.received = []
    assert classify(obs).verdict == "lost"


def test_the_work_never_ran_is_silent_not_lost_and_says_so():
    obs = load("delivered")
    obs.received, obs.emitted = [], []
    judged = classify(obs)
    assert judged.verdict == "silent" and "emitted nothing" in judged.evidence


def _unlogged(obs: Observation) -> Observation:
    """The same window as a probe of someone else's server sees it: no emit log."""
    obs = copy.deepcopy(obs)
    obs.emits_logged, obs.emitted = False, []
    return obs


def test_without_an_emit_log_quiet_arrivals_are_delivered_and_traffic_ones_delayed():
    assert classify(_unlogged(load("delivered"))).verdict == "delivered"
    judged = classify(_unlogged(load("delayed")))
    assert judged.verdict == "delayed" and "once it sent traffic" in judged.evidence


def test_without_an_emit_log_nothing_arriving_is_silent_saying_lost_cannot_be_told():
    judged = classify(_unlogged(load("lost")))
    assert judged.verdict == "silent" and "lost and never emitted look the same" \
        in judged.evidence


def test_without_an_emit_log_late_timestamps_make_quiet_arrivals_delayed():
    late = _unlogged(_shift_arrivals(load("delivered"), 20.0))
    late.quiet_end = max(a.arrived_at for a in late.received)  # all arrived while quiet
    assert classify(late).verdict == "delayed"


def test_for_slow_work_prompt_is_capped_at_a_second():
    """Three intervals of 10 s would call a 25 s hold-up prompt."""
    from emitcheck.model.verdicts import PROMPT_CAP_S, prompt_bound
    assert prompt_bound(0.1) == pytest.approx(0.3)
    assert prompt_bound(10.0) == PROMPT_CAP_S == 1.0


def test_http_timeout_while_connected_is_starved():
    obs = load("delivered")
    obs.http.append(HttpGet(obs.traffic_end, None, "timeout"))
    assert classify(obs).verdict == "starved"


def test_a_connect_unanswered_while_http_answers_is_a_wedged_connection_lost():
    """An OS thread's first emit under unpatched eventlet can wedge the connection
    before the namespace CONNECT is answered (seen with an app that starts its
    thread in the connect handler): no answer is not a refusal."""
    obs = load("starved")
    obs.http = [HttpGet(obs.http[0].sent_at, 3.0, None)]
    judged = classify(obs)
    assert judged.verdict == "lost" and "connection was wedged" in judged.evidence
    obs.connect_error = "Unexpected connection error"
    assert classify(obs).verdict == "lost"


def test_a_connect_answered_with_an_error_on_an_answering_server_is_error():
    obs = load("starved")
    obs.http = [HttpGet(obs.http[0].sent_at, 3.0, None)]
    obs.connect_error = "One or more namespaces failed to connect: /"
    assert classify(obs).verdict == "error"


def test_exit_beats_everything_else():
    obs = load("error")
    obs.exit_status = 1
    assert classify(obs).verdict == "crashed"


def test_traceback_beats_lost():
    obs = load("lost")
    obs.tracebacks = 1
    obs.log_tail = "Traceback (most recent call last):\n  File \"x.py\"\nValueError: boom"
    judged = classify(obs)
    assert judged.verdict == "error" and "ValueError: boom" in judged.evidence


def test_never_listening_is_starved_with_the_log():
    obs = Observation(cell="gevent-patched-task-time_sleep", interval=0.1,
                      ready_error="server did not listen on a TCP port within 20 s",
                      log_tail="importing things\nstill importing")
    judged = classify(obs)
    assert judged.verdict == "starved" and "still importing" in judged.evidence


def test_refused_client_on_a_server_that_resets_http_too_is_error():
    obs = load("starved")
    obs.http = [HttpGet(obs.http[0].sent_at, None, "ConnectionResetError: reset by peer")]
    judged = classify(obs)
    assert judged.verdict == "error" and "reset by peer" in judged.evidence


def test_unanswered_acks_with_http_answering_is_lost_not_starved():
    obs = load("lost")
    assert any(a.ms is None for a in obs.acks)
    assert all(h.ms is not None for h in obs.http)
    assert classify(obs).verdict == "lost"


def test_a_refused_client_is_error_with_the_servers_reason():
    refused = Observation.from_dict(json.loads((RECORDED / "refused.json").read_text()))
    judged = classify(refused)
    assert judged.verdict == "error"
    assert "refused the client" in judged.evidence
    assert "RuntimeError: Redis requires a monkey patched socket library" in judged.evidence


def test_a_refusal_beats_a_get_that_timed_out_alongside():
    # Unpatched eventlet with Redis: the listener the server started blocks the
    # hub now and then, so the GET sent with the connect may time out.
    refused = Observation.from_dict(json.loads((RECORDED / "refused.json").read_text()))
    raced = copy.deepcopy(refused)
    raced.http = [HttpGet(h.sent_at, None, "timeout") for h in refused.http]
    assert classify(raced).verdict == "error"
    no_answer = copy.deepcopy(raced)
    no_answer.connect_error = "Connection error"  # no answer at all: the server is stuck
    assert classify(no_answer).verdict == "starved"


def test_one_event_slipping_through_before_the_wedge_is_still_lost():
    lost = load("lost")
    m = measure(lost)
    first = next(e for e in lost.emitted if e.at >= lost.connected_at)
    slipped = copy.deepcopy(lost)
    slipped.received = [Arrival(first.seq, first.at, first.at + 0.001)]
    judged = classify(slipped)
    assert judged.verdict == "lost" and judged.evidence.startswith(f"1 of {m.emitted} ")
    # a delayed cell delivers most of its events in the end: not lost
    assert classify(load("delayed")).verdict == "delayed"


def test_an_observation_with_a_missing_field_is_a_one_line_error():
    data = load("delivered").to_dict()
    del data["received"]
    with pytest.raises(SchemaError, match="^observation has no 'received' field$"):
        Observation.from_dict(data)
    data = load("delivered").to_dict()
    del data["acks"][0]["ms"]
    with pytest.raises(SchemaError, match="an item of 'acks' has no 'ms' field"):
        Observation.from_dict(data)


def test_the_classifier_imports_no_client_server_or_async_library():
    import subprocess
    import sys
    code = ("import emitcheck.model.verdicts, sys; "
            "bad = [m for m in ('socketio', 'engineio', 'psutil', 'rich', 'eventlet', "
            "'gevent', 'flask') if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
