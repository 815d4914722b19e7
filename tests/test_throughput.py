"""Throughput is not loss: many or large events are judged on what arrived and
when. The rules run on constructed observations, in-process; a real app at a
high rate, at two --jobs values: tests/test_shapes.py (the ``shapes`` tox
environment)."""

import json
from pathlib import Path

from emitcheck.apps.user_app import LARGE_EVENT_BYTES, AppSpec, UserApp
from emitcheck.model.results import Arrival, Emit, Observation
from emitcheck.model.verdicts import classify


def _window(arrival_times: list[float], emits: int) -> Observation:
    """A window from 100 s to 103 s (quiet until 101.5 s) in which the work
    emitted ``emits`` events evenly and the first len(arrival_times) arrived."""
    emitted = [Emit(i + 1, 100.0 + 3.0 * i / emits) for i in range(emits)]
    received = [Arrival(i + 1, emitted[i].at, t) for i, t in enumerate(arrival_times)]
    return Observation("auto-unpatched-app-own", 0.05, connect_ms=3.0, connected_at=100.0,
                       quiet_end=101.5, traffic_end=103.0, emitted=emitted, received=received)


def test_a_high_rate_whose_events_keep_arriving_is_delayed_not_lost():
    """10,000 emitted, 500 arrived, spread over the whole window (5%)."""
    arrivals = [100.01 + 2.9 * i / 500 for i in range(500)]
    judged = classify(_window(arrivals, 10_000))
    assert judged.verdict == "delayed"
    assert "throughput, not loss" in judged.evidence


def test_one_event_that_slipped_through_before_the_connection_wedged_is_still_lost():
    """Unpatched eventlet: the first emit can leave with the next poll (1 of 35)."""
    judged = classify(_window([100.05], 35))
    assert judged.verdict == "lost"


def test_events_that_stopped_arriving_in_the_quiet_phase_are_lost():
    judged = classify(_window([100.05, 100.1], 100))
    assert judged.verdict == "lost"


def _log(tmp_path: Path, sizes: list[int], at: float = 101.0) -> Path:
    log = tmp_path / "emits.log"
    log.write_text("".join(json.dumps({"event": "frame", "namespace": "/", "at": at + i,
                                       "os_thread": False, "bytes": size}) + "\n"
                           for i, size in enumerate(sizes)))
    return log


class _Files:
    def __init__(self, emits: Path):
        self.emits = emits


def test_a_window_waits_for_large_events_in_flight_and_not_for_small_ones(tmp_path):
    work = UserApp(AppSpec("app:socketio", "frame", str(tmp_path)))
    obs = Observation("x", 0.5, connected_at=100.0, quiet_end=102.0, traffic_end=110.0)
    large = work.in_flight(_Files(_log(tmp_path, [5_000_000] * 3)))
    assert large(obs)  # three large events emitted, none arrived yet
    obs.received = [Arrival(None, None, 111.0 + i) for i in range(3)]
    assert not large(obs)  # all three arrived
    obs.received = []
    small = work.in_flight(_Files(_log(tmp_path, [LARGE_EVENT_BYTES // 100] * 3)))
    assert not small(obs)


def test_a_greeting_emitted_as_the_client_connected_that_arrived_is_delivered():
    obs = Observation("auto-unpatched-app-own", 0.2, connect_ms=20.0, connected_at=100.0,
                      quiet_end=101.0, traffic_end=102.0, emitted=[Emit(1, 99.99)],
                      received=[Arrival(1, 99.99, 100.001)])
    judged = classify(obs)
    assert judged.verdict == "delivered" and "a greeting" in judged.evidence
    obs.received = []
    assert classify(obs).verdict == "silent"  # emitted as it connected, never arrived


def test_batches_that_all_fell_outside_the_quiet_phase_are_judged_over_the_window():
    """Ten events back to back at 101.2 s and 102.2 s, the quiet phase over at 101.1 s."""
    emitted = [Emit(i + 1, 101.2 + (i // 10) + 0.0001 * (i % 10)) for i in range(20)]
    received = [Arrival(e.seq, e.at, e.at + 0.004) for e in emitted]
    obs = Observation("auto-unpatched-app-own", 0.05, connect_ms=3.0, connected_at=100.0,
                      quiet_end=101.1, traffic_end=103.0, emitted=emitted, received=received)
    judged = classify(obs)
    assert judged.verdict == "delivered" and "no emit fell in the quiet phase" in judged.evidence
    obs.received = [Arrival(e.seq, e.at, e.at + 0.9) for e in emitted]  # each held 0.9 s
    assert classify(obs).verdict == "delayed"
