"""Probe someone else's running Socket.IO server (any language) with real clients.

``run()`` checks that the URL answers the Engine.IO handshake, then watches
one adaptive window per client (``probe.watch`` for python-socketio, node/probe.js
for the JavaScript client): connect (with the user's credentials, if any), run
the user's triggers, listen while quiet until the server's own cadence shows,
then send traffic (HTTP GETs of the Socket.IO endpoint, and acks when the user
names an ack event), then drain. ``verdict.classify`` judges each window by its
arrivals alone (``emits_logged=False``): nobody logs this server's emits, so
``lost`` and ``silent`` look the same, and a crash shows only as a refused or
timed-out connection. Arrivals in bursts, or one event in the whole window,
are never ``delivered`` (``verdict.bursts``).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from http.client import HTTPException
from types import SimpleNamespace

import socketio

from emitcheck.apps import MAX_CLIENTS
from emitcheck.apps.user_app import TRIGGER_TIMEOUT, AppError, parse_trigger, trigger_action
from emitcheck.clients import python_client
from emitcheck.clients.node_client import STARTUP_GRACE, fill, node_unavailable, run_node_client
from emitcheck.model.credentials import Credentials, redacted
from emitcheck.model.results import SCHEMA, Arrival, Observation, Target, Timing, Verdict
from emitcheck.model.verdicts import (
    EVERY_FACT,
    PROMPT_CAP_S,
    PROMPT_INTERVALS,
    bursts,
    classify,
)
from emitcheck.system.environment import environment

#: Every Socket.IO server (v4 protocol, any language) answers this GET with an
#: Engine.IO open packet, ``0{"sid": ...}``. Also the path of the traffic
#: phase's plain GETs: a server may have no other route.
HANDSHAKE_PATH = "/socket.io/?EIO=4&transport=polling"
#: The emit interval assumed until the quiet phase has seen the cadence.
FIRST_GUESS_S = 0.5
#: Worst first: the verdict of a fan-out is its worst client's.
SEVERITY = ("crashed", "starved", "error", "lost", "silent", "delayed", "delivered")
NOTE = ("without the server's emit log a probe cannot tell lost (emitted, never arrived) "
        "from silent (never emitted): both are reported as silent (lost only when the "
        "connect itself got no answer while HTTP GETs did); a crash is seen only as a "
        "refused connection (error) or a timed-out one (starved)")


class BadTarget(ValueError):
    """The URL is not a reachable Socket.IO server, or a client cannot run; one line."""


@dataclass(frozen=True)
class Probe:
    """What the user asked for (``emitcheck probe`` options)."""
    url: str
    event: str
    ack_event: str | None = None
    namespace: str = "/"
    transport: str = "default"
    client: str = "python"
    clients: int = 1
    time_field: str | None = None
    duration: float = 30.0
    every: float | None = None
    response_timeout: float = 2.5
    #: What the clients present: the auth payload, headers, query parameters.
    credentials: Credentials = Credentials()
    #: ``connect``, ``get:/PATH``, ``emit:EVENT[:JSON]``: run once connected,
    #: before the quiet phase (what starts the server's work).
    triggers: tuple[str, ...] = ()

    def target(self) -> Target:
        return Target(self.url, transport=self.transport, event=self.event,
                      ack_event=self.ack_event, health_path=HANDSHAKE_PATH,
                      namespace=self.namespace, credentials=self.credentials)

    def timing(self) -> Timing:
        return Timing(interval=self.every or FIRST_GUESS_S, quiet=1.0, traffic=0.8, drain=0.5,
                      response_timeout=self.response_timeout, timeout=self.duration,
                      every=self.every)


@dataclass
class Outcome:
    """Every client's window and verdict, and the verdict of them all."""
    probe: Probe
    observations: list[Observation]
    verdicts: list[Verdict]
    seconds: float
    worst: int = field(init=False)  # the index of the client whose verdict counts

    def __post_init__(self):
        self.worst = min(range(len(self.verdicts)),
                         key=lambda i: SEVERITY.index(self.verdicts[i].verdict))

    @property
    def verdict(self) -> str:
        return self.verdicts[self.worst].verdict

    @property
    def evidence(self) -> str:
        evidence = self.verdicts[self.worst].evidence
        if len(self.verdicts) == 1:
            return evidence
        delivered = sum(v.verdict == "delivered" for v in self.verdicts)
        return (f"{delivered} of {len(self.verdicts)} clients delivered; "
                f"client {self.worst + 1}: {evidence}")


def check_url(url: str) -> str:
    """``url`` as ``scheme://host:port``, or BadTarget saying what is valid."""
    valid = "expected http://HOST:PORT or https://HOST:PORT (no path, query or user)"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadTarget(f"invalid URL {url!r}: {exc}; {valid}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None \
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise BadTarget(f"invalid URL {url!r}: {valid}")
    return f"{parts.scheme}://{parts.netloc}"


#: HTTP statuses that ask for credentials: the error then says how to give them.
ASKS_FOR_CREDENTIALS = (401, 403)


def check_socketio(url: str, timeout: float, credentials: Credentials = Credentials()) -> None:
    """BadTarget unless ``url`` accepts a TCP connection and, when it answers the
    Engine.IO handshake GET (sent with the credentials' headers and query),
    answers it with an open packet. A server that accepts but does not answer
    in time is not bad input: it may be starved, and the window will say so."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or 0  # check_url made sure there is one
    where = f"{parts.hostname}:{port}"
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except ConnectionRefusedError:
        raise BadTarget(f"cannot reach {url}: connection refused (nothing listens on "
                        f"{where})") from None
    except TimeoutError:
        raise BadTarget(f"cannot reach {url}: no TCP connection within {timeout:g} s") from None
    except OSError as exc:
        raise BadTarget(f"cannot reach {url}: {exc}") from None
    request = urllib.request.Request(credentials.connect_url(url + HANDSHAKE_PATH),
                                     headers=dict(credentials.headers))
    status = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(2048).decode(errors="replace")
            body = body if body.startswith("0{") else \
                f"HTTP {response.status} {' '.join(body.split())[:60]!r}"
    except urllib.error.HTTPError as exc:
        answer = " ".join(exc.read(200).decode(errors="replace").split())[:60]
        body = f"HTTP {exc.code}" + (f" {answer!r}" if answer and answer[0] != "<" else "")
        status = exc.code
    except TimeoutError:
        return
    except (OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return
        raise BadTarget(f"{url} is not a Socket.IO server: GET {HANDSHAKE_PATH} failed "
                        f"({type(reason).__name__}: {reason})") from None
    if not body.startswith("0{"):
        hint = ""
        if status in ASKS_FOR_CREDENTIALS:
            hint = ("; it asks for credentials: give them with --header NAME:VALUE (a Cookie, "
                    "an Authorization), --query NAME=VALUE or --auth JSON" if not credentials
                    else "; it refused the credentials given")
        raise BadTarget(f"{url} is not a Socket.IO server: GET {HANDSHAKE_PATH} answered "
                        f"{body[:80]}, not an Engine.IO open packet '0{{...}}'{hint}")


def sent_at(data, time_field: str | None) -> float | None:
    """The server's send time in the payload, epoch seconds (a value above 1e11
    is taken for milliseconds, as JavaScript's Date.now() gives)."""
    value = data.get(time_field) if time_field and isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value / 1000 if value > 1e11 else float(value)


def _recorder(obs: Observation, time_field: str | None):
    """The handler of the watched event, registered before the connect (an event
    sent on connect must not be read with our cells' ``"t"``): the send time is
    read from ``time_field``, which means something on someone else's server."""
    lock = threading.Lock()

    def on_event(data=None, *_more):
        arrived = time.time()
        seq = data.get("seq") if isinstance(data, dict) else None
        with lock:
            obs.received.append(Arrival(seq if isinstance(seq, int) else None,
                                        sent_at(data, time_field), arrived))
    return on_event


def _run_trigger(text: str, namespace: str, headers: tuple[tuple[str, str], ...]):
    """A ``probe.watch`` trigger for ``--trigger TEXT``. What it did goes into
    ``obs.facts["triggers"]``, not into the window's GETs: a path that answers
    404 says nothing about whether the server went away."""
    parsed = parse_trigger(text)
    kind, what, _ = parsed
    action = trigger_action(parsed, namespace, headers)
    name = f"{kind}:{what}" if what else kind  # as node/probe.js says it

    def run(client: socketio.Client, obs: Observation) -> None:
        scratch = SimpleNamespace(http=[])
        try:
            action(client, scratch)
            said = f"{name} sent" if kind == "emit" else name
        except socketio.exceptions.SocketIOError as exc:
            said = f"{name} failed ({exc})"
        for got in scratch.http:
            said = f"{name} answered in {got.ms:.1f} ms" if got.ms is not None \
                else f"{name} failed ({got.error})"
        obs.facts["triggers"] = "; ".join(filter(None, [obs.facts.get("triggers"), said]))
    return run


def _watch_python(obs: Observation, probe: Probe) -> None:
    triggers = [_run_trigger(text, probe.namespace, probe.credentials.headers)
                for text in probe.triggers]
    python_client.watch(obs, probe.target(), probe.timing(), triggers=triggers,
                        on_event=_recorder(obs, probe.time_field))


def _watch_node(obs: Observation, probe: Probe) -> None:
    """node/probe.js with the target as its 4th argument and the adaptive
    window's constants in its timing."""
    timing, target = probe.timing(), probe.target()
    window = {"events_needed": python_client.EVENTS_NEEDED,
              "traffic_intervals": python_client.TRAFFIC_INTERVALS,
              "traffic_cap_s": python_client.TRAFFIC_CAP_S,
              "traffic_max_rounds": python_client.TRAFFIC_MAX_ROUNDS,
              "min_interval_s": python_client.MIN_INTERVAL_S,
              "prompt_intervals": PROMPT_INTERVALS, "prompt_cap_s": PROMPT_CAP_S}
    wanted = {"event": target.event, "ack_event": target.ack_event,
              "health_path": target.health_path, "namespace": target.namespace,
              "time_field": probe.time_field,
              "triggers": [list(parse_trigger(text)) for text in probe.triggers]}
    bound = ((timing.timeout or 0.0) + max(timing.traffic, python_client.TRAFFIC_CAP_S)
             + timing.drain + 4 * timing.response_timeout + 2 + STARTUP_GRACE
             + len(probe.triggers) * max(timing.response_timeout, TRIGGER_TIMEOUT))
    seen = run_node_client(target.url, target.transport, timing, window=window,
                           target=wanted, bound=bound, credentials=probe.credentials)
    fill(obs, seen)
    obs.interval = seen.get("interval") or obs.interval


def run(probe: Probe) -> Outcome:
    """Check the target, then watch ``probe.clients`` windows at once, each in a
    thread of its own. Raises BadTarget for bad input; never for the server's
    misbehaviour, which is a verdict."""
    if not 1 <= probe.clients <= MAX_CLIENTS:
        raise BadTarget(f"--clients must be 1 to {MAX_CLIENTS}, not {probe.clients}")
    probe = replace(probe, url=check_url(probe.url))
    for text in probe.triggers:
        try:
            parse_trigger(text)
        except AppError as exc:
            raise BadTarget(str(exc)) from None
    if probe.client == "python" and probe.credentials.auth is not None \
            and not python_client.supports_auth():
        raise BadTarget("--auth needs python-socketio 5.2 or later (this one's Client.connect "
                        "takes no auth); --client node sends it")
    if probe.client == "node" and (reason := node_unavailable()):
        raise BadTarget(f"--client node cannot run: {reason}")
    check_socketio(probe.url, probe.response_timeout, probe.credentials)
    watch = _watch_node if probe.client == "node" else _watch_python
    observations = [Observation(cell=f"probe {probe.url} client {i + 1}",
                                interval=probe.timing().interval, emits_logged=False)
                    for i in range(probe.clients)]
    if probe.every is not None:  # the classifier's reference cadence (verdict.bursts)
        for obs in observations:
            obs.facts[EVERY_FACT] = repr(float(probe.every))
    start = time.perf_counter()
    with ThreadPoolExecutor(probe.clients, thread_name_prefix="emitcheck-probe") as pool:
        for waited in [pool.submit(watch, obs, probe) for obs in observations]:
            waited.result()
    return Outcome(probe, observations, [classify(obs) for obs in observations],
                   round(time.perf_counter() - start, 2))


def _gaps(times: list[float]) -> list[float]:
    times = sorted(times)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def arrivals(obs: Observation) -> dict:
    """What the arrivals show: count, cadence (the median gap of the send times
    when the payload has them, else of the arrivals), the longest gap between
    arrivals, bursts (``verdict.bursts``: the gaps it counts as burst gaps, judged
    by the send times, ``--every`` or the shape of the gaps; ``held``: in bursts,
    so never delivered)."""
    times = sorted(a.arrived_at for a in obs.received)
    gaps = _gaps(times)
    sent = _gaps([a.emitted_at for a in obs.received if a.emitted_at is not None])
    cadence = statistics.median(sent or gaps) if sent or gaps else None
    quiet_end = obs.quiet_end or 0.0
    bunched = bursts(obs)
    return {
        "events": len(times),
        "while_quiet": sum(t <= quiet_end for t in times),
        "first_after_s": round(max(0.0, times[0] - obs.connected_at), 3)
        if times and obs.connected_at else None,
        "cadence_s": None if cadence is None else round(cadence, 3),
        "cadence_of": "send times" if sent else "arrivals",
        "max_gap_s": round(max(gaps), 3) if gaps else None,
        "bursts": bunched.burst_gaps,
        "in_bursts": bunched.events,
        "bursts_by": bunched.by or None,
        "held": bunched.held,
    }


def phases(obs: Observation) -> dict:
    """Seconds spent listening quietly and sending traffic (None: not reached)."""
    def span(a, b):
        return None if a is None or b is None else round(b - a, 2)
    return {"quiet_s": span(obs.connected_at, obs.quiet_end),
            "traffic_s": span(obs.quiet_end, obs.traffic_end)}


def document(outcome: Outcome) -> dict:
    """The --json output, ``"schema": SCHEMA`` like every emitcheck document."""
    clients = []
    for i, (obs, judged) in enumerate(zip(outcome.observations, outcome.verdicts,
                                          strict=True)):
        clients.append({"client": i + 1, "verdict": judged.verdict,
                        "evidence": judged.evidence, "got_events": bool(obs.received),
                        "arrivals": arrivals(obs), "phases": phases(obs),
                        "metrics": asdict(judged.metrics), "observation": obs.to_dict()})
    asked = {**asdict(outcome.probe), "credentials": redacted(outcome.probe.credentials),
             "triggers": list(outcome.probe.triggers)}
    return {"schema": SCHEMA, "probe": asked, "verdict": outcome.verdict,
            "evidence": outcome.evidence, "seconds": outcome.seconds, "note": NOTE,
            "clients": clients, "environment": environment()}
