"""From an Observation to a verdict: a pure function, no servers, no clock.

The six verdicts, checked in this order (the first that applies wins):

- ``crashed``: the server process exited;
- ``starved``: the server stopped answering: it never listened, or a connect
  or a plain HTTP GET timed out (a refused connect is an answer: ``error``);
- ``error``: the server refused the client (answered its connection attempt
  with a rejection), or wrote a traceback;
- ``lost``: the server answers, the work emitted, but no event arrived (also
  when the connect itself got no answer while plain HTTP GETs were answered:
  the connection is wedged, as an unanswered ack shows);
- ``delayed``: events arrived, but not promptly while the client was quiet
  (they came late, in bursts, or only once the client sent traffic);
- ``delivered``: events arrived promptly, at the emit cadence;
- ``silent``: nothing to judge: the work emitted nothing while the client was
  connected (or, where nobody logs the server's emits, nothing arrived and the
  server answered: then lost and silent cannot be told apart).

Promptness is judged in ratios and multiples of the emit interval, so that a
noisy 2-core machine does not flip a verdict: a healthy cell delivers nearly
every quiet-phase event within a few milliseconds, a failing one delivers none
of them in time. The only absolute times are the probe's generous timeouts
(``Timing.response_timeout`` and ``ready_timeout``), which decide ``starved``.

An ack that goes unanswered while HTTP GETs are answered is not ``starved``:
the server answers, but that connection is wedged; with no event received it
is ``lost`` (``eventlet-unpatched-thread-time_sleep`` shows this).
"""

from __future__ import annotations

import statistics

from .model import VERDICTS, Metrics, Observation, Verdict

__all__ = ["VERDICTS", "Metrics", "Verdict", "classify", "measure"]

#: An event is prompt when it arrives within this many emit intervals...
PROMPT_INTERVALS = 3.0
#: ...and at most this many seconds: for work that emits every 10 s, three
#: intervals would let a 25 s hold-up (until Engine.IO's next ping) pass as
#: prompt. Our own cells emit every 0.1 s, far below this cap.
PROMPT_CAP_S = 1.0
#: A cell is delivered when at least this share of the events emitted during
#: the quiet phase arrived promptly during it.
DELIVERED_SHARE = 0.5
#: A cell is lost when at most this share of the events emitted while the client
#: was connected arrived. Not zero: under unpatched eventlet, an OS thread's emit
#: made while no long-poll is pending stays in the queue and leaves with the
#: next poll, so the first event after connecting sometimes slips through
#: before the connection wedges (seen once: 1 of 35). Delayed cells deliver
#: most of their events once traffic starts.
LOST_SHARE = 0.1


def prompt_bound(interval: float) -> float:
    """Seconds within which an event emitted every ``interval`` s is prompt."""
    return min(PROMPT_INTERVALS * interval, PROMPT_CAP_S)


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def _percentile(sorted_values, share):
    index = min(len(sorted_values) - 1, int(round(share * (len(sorted_values) - 1))))
    return sorted_values[index]


def measure(obs: Observation) -> Metrics:
    start = obs.connected_at
    end = obs.traffic_end
    in_window = [] if start is None or end is None else \
        [e.seq for e in obs.emitted if start <= e.at <= end]
    window_seqs = set(in_window)
    arrivals = [a for a in obs.received if a.emitted_at is not None
                and (a.seq in window_seqs or not obs.emits_logged)]
    latencies = sorted((a.arrived_at - a.emitted_at) * 1000 for a in arrivals
                       if a.emitted_at is not None)  # all of them: says so to mypy
    latency: dict[str, float | None] = {"p50": None, "p95": None, "max": None}
    if latencies:
        latency = {"p50": round(_percentile(latencies, 0.5), 1),
                   "p95": round(_percentile(latencies, 0.95), 1),
                   "max": round(latencies[-1], 1)}

    quiet_emitted, quiet_prompt = 0, 0
    if start is not None and obs.quiet_end is not None:
        prompt_s = prompt_bound(obs.interval)
        quiet = {e.seq: e.at for e in obs.emitted if start <= e.at <= obs.quiet_end - prompt_s}
        quiet_emitted = len(quiet)
        quiet_prompt = sum(1 for a in obs.received
                           if a.seq in quiet and a.arrived_at <= obs.quiet_end
                           and a.arrived_at - quiet[a.seq] <= prompt_s)
    return Metrics(
        emitted=len(in_window), received=len(arrivals),
        quiet_emitted=quiet_emitted, quiet_prompt=quiet_prompt, latency_ms=latency,
        connect_ms=None if obs.connect_ms is None else round(obs.connect_ms, 1),
        ack_ms=_median(a.ms for a in obs.acks),
        http_ms=_median(h.ms for h in obs.http))


def _first_error_line(log_tail: str) -> str:
    """The exception line of the last traceback, else the last line of the log."""
    lines = log_tail.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if headers:
        for line in lines[headers[-1] + 1:]:
            if line.strip() and not line[0].isspace():
                return line.strip()[:160]
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1][:160] if lines else "(empty log)"


#: How clients report a connection the server answered with a rejection (an
#: HTTP error status, or a refused CONNECT packet), as opposed to no answer.
REFUSAL_MARKERS = ("status code", "refused by the server")


def refused_by_server(connect_error: str | None) -> bool:
    """Did the server answer the connection attempt, with a rejection?

    A rejection is an answer: such a cell is ``error`` even when a plain GET
    sent alongside timed out (unpatched eventlet with Redis refuses the client
    with a RuntimeError, and the Redis listener it started then blocks the hub
    now and then, so the GET's fate is a race).
    """
    return any(marker in (connect_error or "") for marker in REFUSAL_MARKERS)


def _unanswered(connect_error: str | None) -> bool:
    """Did the connect get no answer (rather than a wrong one)? python-socketio
    says "Unexpected connection error" when the Engine.IO handshake worked but
    the namespace CONNECT was not answered in time."""
    return any(marker in (connect_error or "") for marker in
               ("timed out", "Unexpected connection error"))


def _responsiveness(obs: Observation, m: Metrics) -> str:
    acks_unanswered = any(a.ms is None for a in obs.acks)
    if acks_unanswered:
        return f"acks unanswered while HTTP answered in {m.http_ms:g} ms" \
            if m.http_ms is not None else "acks unanswered"
    if m.ack_ms is not None:
        return f"acks answered in {m.ack_ms:g} ms"
    if m.http_ms is not None:  # no ack event (an app, someone's server): HTTP tells
        return f"no ack sent; HTTP answered in {m.http_ms:g} ms"
    return "no ack sent"


def classify(obs: Observation) -> Verdict:
    m = measure(obs)

    def verdict(name, evidence):
        return Verdict(name, evidence, m)

    if obs.exit_status is not None:
        return verdict("crashed", f"server exited with status {obs.exit_status}: "
                                  f"{_first_error_line(obs.log_tail)}")
    if obs.ready_error is not None:
        return verdict("starved", f"{obs.ready_error}; last log line: "
                                  f"{_first_error_line(obs.log_tail)}")
    http_timeouts = sum(1 for h in obs.http if h.ms is None and h.error == "timeout")
    if obs.connect_ms is None:
        refused = refused_by_server(obs.connect_error)
        if not refused and (http_timeouts or not obs.http):
            connect = "connect timed out" if "timed out" in (obs.connect_error or "") \
                else f"connect failed ({obs.connect_error})"
            return verdict("starved", f"{connect} and HTTP GET timed out{_emitted(obs)}")
        if not refused and m.http_ms is not None and _unanswered(obs.connect_error):
            return verdict("lost", f"the connection was wedged: its connect got no answer "
                                   f"({obs.connect_error}) while HTTP answered in "
                                   f"{m.http_ms:g} ms{_emitted(obs)}")
        http = f"HTTP answered in {m.http_ms:g} ms" if m.http_ms is not None else \
            f"HTTP failed too ({obs.http[-1].error})" if obs.http else "no HTTP GET"
        logged = f"; {_first_error_line(obs.log_tail)}" if obs.tracebacks else ""
        return verdict("error", f"server refused the client ({obs.connect_error}); {http}"
                                f"{logged}")
    if http_timeouts:
        return verdict("starved", f"HTTP GET timed out while connected; "
                                  f"{m.received} of {m.emitted} emitted events received")
    if obs.tracebacks:
        return verdict("error", f"{obs.tracebacks} traceback(s) in the server log: "
                                f"{_first_error_line(obs.log_tail)}")
    if not obs.emits_logged:
        return _judged_by_arrivals(obs, m, verdict)
    if m.emitted == 0:
        return verdict("silent", f"the work emitted nothing while the client was connected "
                                 f"({_window(obs)}); {_responsiveness(obs, m)}")
    if m.received <= LOST_SHARE * m.emitted:
        return verdict("lost", f"{m.received} of {m.emitted} emitted events received; "
                               f"{_responsiveness(obs, m)}")
    if m.quiet_emitted and m.quiet_prompt >= DELIVERED_SHARE * m.quiet_emitted:
        return verdict("delivered", f"{m.received} of {m.emitted} emitted events received, "
                                    f"p50 latency {m.latency_ms['p50']:g} ms; "
                                    f"{_responsiveness(obs, m)}")
    return verdict("delayed", f"{m.quiet_prompt} of {m.quiet_emitted} events arrived promptly "
                              f"while the client was quiet; {m.received} of {m.emitted} arrived "
                              f"in all, p50 latency {m.latency_ms['p50']:g} ms")


def _emitted(obs: Observation) -> str:
    """"; the work emitted N events", where the server's emits are logged."""
    return f"; the work emitted {len(obs.emitted)} events" if obs.emits_logged else ""


def _window(obs: Observation) -> str:
    if obs.connected_at is None or obs.traffic_end is None:
        return "no window"
    return f"watched {obs.traffic_end - obs.connected_at:.1f} s"


def _judged_by_arrivals(obs: Observation, m: Metrics, verdict) -> Verdict:
    """Someone else's server: no emit log, so judge the arrivals alone. A window
    that broke (a GET refused, the connection dropped: nobody reads this
    server's exit status, so that is how a crash shows) is error; none at all,
    or one and then a wedged connection (under unpatched eventlet the first
    event can slip through: see LOST_SHARE) is silent: lost and silent cannot be
    told apart without the server's log. Events that arrived during the quiet
    phase are delivered, unless their timestamps say they were late; events that
    only came once the client sent traffic are delayed."""
    arrived = [a.arrived_at for a in obs.received]
    quiet_end = obs.quiet_end or 0.0
    in_quiet = [t for t in arrived if t <= quiet_end]
    failed = [h.error for h in obs.http if h.error not in (None, "timeout")]
    if broke := failed[0] if failed else obs.connect_error:  # no exit status to read
        return verdict("error", f"the server went away or dropped the client during the "
                                f"window ({broke}); {len(arrived)} events arrived")
    # One event, then a wedged connection: see LOST_SHARE.
    wedged = len(arrived) == 1 and any(a.ms is None for a in obs.acks)
    if not arrived or wedged:
        return verdict("silent", f"{'1 event, then none' if wedged else 'no event'} arrived "
                                 f"({_window(obs)}); without the server's emit log, lost and "
                                 f"never emitted look the same; {_responsiveness(obs, m)}")
    latency = f", p50 latency {m.latency_ms['p50']:g} ms" if m.latency_ms["p50"] is not None \
        else ""
    late = m.latency_ms["p50"] is not None and \
        m.latency_ms["p50"] > 1000 * prompt_bound(obs.interval)
    if not late and (len(in_quiet) >= 2 or (in_quiet and len(arrived) == len(in_quiet))):
        return verdict("delivered", f"{len(in_quiet)} events arrived while the client was "
                                    f"quiet, {len(arrived)} in all{latency}; "
                                    f"{_responsiveness(obs, m)}")
    return verdict("delayed", f"{len(in_quiet)} events arrived while the client was quiet, "
                              f"{len(arrived) - len(in_quiet)} once it sent traffic{latency}")
