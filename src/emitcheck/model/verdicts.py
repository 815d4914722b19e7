"""From an Observation to a verdict: a pure function, no servers, no clock.

The verdicts, checked in this order (the first that applies wins):

- ``crashed``: the server process exited;
- ``error``, for an app's cells, when its logs show the cause (facts that
  causes.py records: an exception of the app's own code, a connect handler of
  the app that refused), before any rule that only sees an effect;
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
  connected (or, where nobody logs the server's emits, nothing or a single
  event arrived and the server answered: then lost and silent cannot be told
  apart; and arrivals in bursts are ``delayed``, never ``delivered``).

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
from dataclasses import dataclass

from emitcheck.model.results import VERDICTS, Metrics, Observation, Verdict
from emitcheck.model.tracebacks import last_exception

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
    if exception := last_exception(log_tail):
        return exception[:160]
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(empty log)"


#: Facts (``Observation.facts``) that are causes: an exception the app's own
#: code raised (``file:line``), and a connect handler of the app that refused
#: the client. Only an app's cells record them (causes.py); either decides the
#: verdict (``error``) before any rule that only sees the effect.
APP_EXCEPTION = "app exception"
REFUSED_BY = "refused by"

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

    cause = obs.facts.get(APP_EXCEPTION)
    if obs.exit_status is not None:
        return verdict("crashed", f"server exited with status {obs.exit_status}: "
                                  f"{cause or _first_error_line(obs.log_tail)}")
    # The cause before the verdict it leads to (an app's cells: causes.py).
    if cause:
        return verdict("error", f"the app raised {cause}; {_outcome(obs, m)}")
    if refusal := obs.facts.get(REFUSED_BY):
        return verdict("error", f"the app refused the client: {refusal}")
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
    if m.emitted == 0 and (greeting := _greeting(obs)):
        return verdict("delivered", f"the app emitted {len(greeting)} event(s) only as the "
                                    f"client connected (a greeting: no cadence to judge), and "
                                    f"they arrived within {max(greeting):.1f} ms; nothing "
                                    f"after ({_window(obs)})")
    if m.emitted == 0:
        return verdict("silent", f"the work emitted nothing while the client was connected "
                                 f"({_window(obs)}); {_responsiveness(obs, m)}")
    if m.received <= LOST_SHARE * m.emitted and not _kept_arriving(obs):
        return verdict("lost", f"{m.received} of {m.emitted} emitted events received; "
                               f"{_responsiveness(obs, m)}")
    if m.received <= LOST_SHARE * m.emitted:
        return verdict("delayed", f"{m.received} of {m.emitted} emitted events arrived, and "
                                  f"they kept arriving through the window: throughput, not "
                                  f"loss (more were emitted than the connection carried); "
                                  f"p50 latency {m.latency_ms['p50']:g} ms")
    if m.quiet_emitted and m.quiet_prompt >= DELIVERED_SHARE * m.quiet_emitted:
        return verdict("delivered", f"{m.received} of {m.emitted} emitted events received, "
                                    f"p50 latency {m.latency_ms['p50']:g} ms; "
                                    f"{_responsiveness(obs, m)}")
    prompt, judged = _prompt_in_window(obs)
    if not m.quiet_emitted and judged and prompt >= DELIVERED_SHARE * judged:
        return verdict("delivered", f"no emit fell in the quiet phase (the work emits in "
                                    f"batches, or seldom): {prompt} of {judged} events arrived "
                                    f"promptly over the whole window, {m.received} of "
                                    f"{m.emitted} in all, p50 latency "
                                    f"{m.latency_ms['p50']:g} ms; {_responsiveness(obs, m)}")
    return verdict("delayed", f"{m.quiet_prompt} of {m.quiet_emitted} events arrived promptly "
                              f"while the client was quiet; {m.received} of {m.emitted} arrived "
                              f"in all, p50 latency {m.latency_ms['p50']:g} ms")


def _greeting(obs: Observation) -> list[float]:
    """Latencies (ms) of the events emitted while the client was connecting
    (a connect handler's greeting) that arrived promptly; [] if there were
    none, or any came late."""
    if obs.connected_at is None or obs.connect_ms is None:
        return []
    since = obs.connected_at - obs.connect_ms / 1000
    latencies = [(a.arrived_at - a.emitted_at) * 1000 for a in obs.received
                 if a.emitted_at is not None and since <= a.emitted_at < obs.connected_at]
    if not latencies or max(latencies) > 1000 * PROMPT_CAP_S:
        return []
    return latencies


def _prompt_in_window(obs: Observation) -> tuple[int, int]:
    """(prompt, judged): of the emits that had time to arrive before the traffic
    phase ended, how many arrived within the prompt bound. For work whose emits
    all fell outside the quiet phase (a batch a second, an event every 10 s)."""
    if obs.connected_at is None or obs.traffic_end is None:
        return 0, 0
    prompt_s = prompt_bound(obs.interval)
    emits = {e.seq: e.at for e in obs.emitted
             if obs.connected_at <= e.at <= obs.traffic_end - prompt_s}
    prompt = sum(1 for a in obs.received
                 if a.seq in emits and a.arrived_at - emits[a.seq] <= prompt_s)
    return prompt, len(emits)


#: Arrivals that "kept arriving": at least this many while the client was
#: quiet, and at least one after. A lost cell lets one event slip through at
#: the most (see LOST_SHARE), before its connection wedges.
KEPT_ARRIVING_QUIET = 2


def _kept_arriving(obs: Observation) -> bool:
    """Did events arrive through the window, in the quiet phase and after it?
    Then few arrived because more were emitted than the connection carries
    (a high rate, large events): throughput, not loss."""
    if obs.quiet_end is None:
        return False
    times = [a.arrived_at for a in obs.received]
    return sum(t <= obs.quiet_end for t in times) >= KEPT_ARRIVING_QUIET and \
        any(t > obs.quiet_end for t in times)


def _outcome(obs: Observation, m: Metrics) -> str:
    """What the client saw, in a few words, after a cause."""
    if obs.connect_ms is None:
        return f"the client did not connect ({obs.connect_error})"
    return f"{m.received} of {m.emitted} emitted events received"


def _emitted(obs: Observation) -> str:
    """"; the work emitted N events", where the server's emits are logged."""
    return f"; the work emitted {len(obs.emitted)} events in all" if obs.emits_logged else ""


def _window(obs: Observation) -> str:
    if obs.connected_at is None or obs.traffic_end is None:
        return "no window"
    return f"watched {obs.traffic_end - obs.connected_at:.1f} s"


#: Arrivals closer than this count as this close: the client reads a flushed
#: batch off one socket read, so gaps below it are noise, not a cadence.
BURST_FLOOR_S = 0.001
#: With a reference cadence (the payload's send times, or ``--every``): a gap
#: between two arrivals a tenth of that cadence or less is a burst gap; with
#: ``--every``, the bursts must also follow (or precede) a silence of at least
#: this many intervals, so that an app that emits a batch every interval by
#: design is not held back.
BURST_RATIO = 10.0
#: Without a reference: the longest silence (the tail up to the end of the
#: traffic phase included, the gap after the first arrival not: that one may
#: follow a greeting sent on connect, before the work started) must be this
#: many times a burst gap. The square of BURST_RATIO: a steady stream whose
#: longest gap is 100 times its usual gap has stopped, not jittered (a 2-core
#: machine under load stretches a gap a few times, not a hundred).
SHAPE_RATIO = BURST_RATIO ** 2
#: Arrivals are in bursts when at least this share of the gaps are burst gaps.
BURST_SHARE = 0.5
#: The fact (``Observation.facts``) in which a probe records ``--every``
#: (seconds, as ``repr(float)``): the classifier reads it as the reference cadence.
EVERY_FACT = "every"


@dataclass(frozen=True)
class Bursts:
    """How the arrivals of a window bunch together (no emit log needed)."""
    by: str                  # "send times", "--every", "shape", or "" (too few arrivals)
    gaps: int                # gaps between arrivals judged
    burst_gaps: int          # of those, burst gaps
    events: int              # arrivals next to a burst gap
    arrivals: int
    within_s: float | None   # the largest burst gap
    silence_s: float | None  # the longest silence (--every and shape)
    held: bool               # the arrivals are in bursts: never delivered

    def says(self) -> str:
        """The evidence: what makes these bursts."""
        share = f"{self.events} of {self.arrivals} events arrived in bursts"
        if self.by == "send times":
            return (f"{share} (arriving at least {BURST_RATIO:g} times closer together than "
                    f"they were sent: held back, then flushed)")
        within = f"within {1000 * (self.within_s or 0.0):.1f} ms of one another"
        if self.by == "--every":
            return (f"{share} ({within}, a tenth of --every or less, around a silence of "
                    f"{self.silence_s:g} s: held back, then flushed)")
        return (f"{share} ({within}, between silences of up to {self.silence_s:g} s); "
                f"without an emit time this cannot be told apart from an app that emits in "
                f"batches by design: to tell, give --time-field NAME (the payload's send "
                f"time) or --every SECONDS (the cadence)")


def _every(obs: Observation) -> float | None:
    try:
        every = float(obs.facts[EVERY_FACT])
    except (KeyError, ValueError):
        return None
    return every if every > 0 else None


def bursts(obs: Observation) -> Bursts:
    """Are the arrivals in bursts? Judged in ratios, against the best reference
    there is: the payload's send times (pairs that arrived BURST_RATIO times
    closer together than they were sent), else ``--every`` (gaps of a tenth of
    it, around a silence of BURST_RATIO intervals), else the shape of the gaps
    alone (most gaps SHAPE_RATIO times shorter than the longest silence)."""
    received = sorted(obs.received, key=lambda a: a.arrived_at)
    times = [a.arrived_at for a in received]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]  # gaps[i]: i to i + 1
    sent = [a.emitted_at for a in received]
    timed = [i for i in range(len(gaps)) if sent[i] is not None and sent[i + 1] is not None]
    tail = [max(0.0, obs.traffic_end - times[-1])] if times and obs.traffic_end is not None \
        else []
    every = _every(obs)
    silence: float | None = None
    if timed:
        by, judged = "send times", timed
        close = [i for i in timed if abs((sent[i + 1] or 0.0) - (sent[i] or 0.0))
                 >= BURST_RATIO * max(gaps[i], BURST_FLOOR_S)]
        enough = True
    elif every is not None and gaps:
        head = [max(0.0, times[0] - obs.connected_at)] if obs.connected_at is not None \
            else []
        by, judged = "--every", list(range(len(gaps)))
        silence = max(head + gaps + tail)
        close = [i for i in judged if gaps[i] <= every / BURST_RATIO]
        enough = silence >= BURST_RATIO * every
    elif len(gaps) >= 2:
        by, judged = "shape", list(range(1, len(gaps)))  # gaps[0] may follow a greeting
        silence = max([gaps[i] for i in judged] + tail)
        close = [i for i in judged if SHAPE_RATIO * max(gaps[i], BURST_FLOOR_S) <= silence]
        enough = True
    else:
        return Bursts("", len(gaps), 0, 0, len(times), None, None, False)
    events = len({i for i in close} | {i + 1 for i in close})
    return Bursts(by, len(judged), len(close), events, len(times),
                  round(max(gaps[i] for i in close), 4) if close else None,
                  None if silence is None else round(silence, 3),
                  bool(close) and enough and len(close) >= BURST_SHARE * len(judged))


def _judged_by_arrivals(obs: Observation, m: Metrics, verdict) -> Verdict:
    """Someone else's server: no emit log, so judge the arrivals alone. A window
    that broke (a GET refused, the connection dropped: nobody reads this
    server's exit status, so that is how a crash shows) is error; none at all is
    silent: lost and silent cannot be told apart without the server's log. So is
    one event in the whole window: a greeting sent on connect, or the first
    event before a connection wedged (under unpatched eventlet the first event
    can slip through: see LOST_SHARE), shows no cadence. Events that arrived
    during the quiet phase are delivered, unless their timestamps say they were
    late or they came in bursts (``bursts``: held back, then flushed); events
    that only came once the client sent traffic are delayed."""
    arrived = [a.arrived_at for a in obs.received]
    quiet_end = obs.quiet_end or 0.0
    in_quiet = [t for t in arrived if t <= quiet_end]
    failed = [h.error for h in obs.http if h.error not in (None, "timeout")]
    if broke := failed[0] if failed else obs.connect_error:  # no exit status to read
        return verdict("error", f"the server went away or dropped the client during the "
                                f"window ({broke}); {len(arrived)} events arrived")
    if not arrived:
        return verdict("silent", f"no event arrived ({_window(obs)}); without the server's "
                                 f"emit log, lost and never emitted look the same; "
                                 f"{_responsiveness(obs, m)}")
    if len(arrived) == 1:
        # One event, then a wedged connection (see LOST_SHARE), or a greeting.
        if any(a.ms is None for a in obs.acks):
            return verdict("silent", f"1 event, then none arrived ({_window(obs)}); without "
                                     f"the server's emit log, lost and never emitted look "
                                     f"the same; {_responsiveness(obs, m)}")
        return verdict("silent", f"1 event in {_watched(obs)}: a greeting or a lone event "
                                 f"cannot show a cadence (watch longer: --duration, more "
                                 f"than 2 intervals); {_responsiveness(obs, m)}")
    latency = f", p50 latency {m.latency_ms['p50']:g} ms" if m.latency_ms["p50"] is not None \
        else ""
    late = m.latency_ms["p50"] is not None and \
        m.latency_ms["p50"] > 1000 * prompt_bound(obs.interval)
    if not late and (len(in_quiet) >= 2 or (in_quiet and len(arrived) == len(in_quiet))):
        bunched = bursts(obs)
        if bunched.held:
            return verdict("delayed", f"{bunched.says()}; {len(in_quiet)} events arrived "
                                      f"while the client was quiet, {len(arrived)} in all"
                                      f"{latency}")
        return verdict("delivered", f"{len(in_quiet)} events arrived while the client was "
                                    f"quiet, {len(arrived)} in all{latency}; "
                                    f"{_responsiveness(obs, m)}")
    return verdict("delayed", f"{len(in_quiet)} events arrived while the client was quiet, "
                              f"{len(arrived) - len(in_quiet)} once it sent traffic{latency}")


def _watched(obs: Observation) -> str:
    if obs.connected_at is None or obs.traffic_end is None:
        return "the window"
    return f"{obs.traffic_end - obs.connected_at:.1f} s"
