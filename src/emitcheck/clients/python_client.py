"""The client side of a window: a real python-socketio client over loopback.

``watch()`` connects to a target and records, in an ``Observation``, what
happened during the window:

1. connect (timed, bounded), with one plain HTTP GET alongside: if the connect
   fails, it tells a server that stopped answering from one that refused;
2. a quiet phase: the client only listens, so events that arrive here were
   sent by the server on its own;
3. a traffic phase: acknowledged calls and HTTP GETs at the emit cadence, which
   wake a server whose writer task only runs when other I/O happens;
4. a short drain, so an event emitted at the end of the window can arrive.

``observe()`` does this for a cell's started server with the cell's client
(the ``client`` factor's value: this module, or node/probe.js), then reads
what the server left: its exit status, emit log and stderr. Stopping the
server is its owner's business (``runs.CellRun``), not this module's.
"""

from __future__ import annotations

import inspect
import logging
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version

import socketio

from emitcheck.matrix.cell import Cell, Work, variant
from emitcheck.model.results import Ack, Arrival, HttpGet, Observation, Target, Timing
from emitcheck.model.tracebacks import HEADER as TRACEBACK_HEADER
from emitcheck.model.verdicts import prompt_bound, refused_by_server
from emitcheck.system.process import SERVER_BANNER, ManagedProcess, NotReady

#: The clients' own loggers report a server that went away ("packet queue is
#: empty, aborting"); that is the window's business, not a line on the terminal.
#: (Given a level, python-engineio adds no handler of its own to its logger.)
for _name in ("engineio.client", "socketio.client"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

LOG_TAIL_LINES = 30  # of the server's stderr, kept for the verdict and failure reports


def http_get(url: str, timeout: float, headers: Sequence[tuple[str, str]] = ()
             ) -> tuple[float | None, str | None]:
    """(milliseconds, None) when answered; (None, reason) when not. ``headers``:
    extra request headers (a session cookie)."""
    start = time.perf_counter()
    try:
        request = urllib.request.Request(url, headers=dict(headers))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (TimeoutError, OSError) as exc:
        # urllib wraps a socket's timeout in a URLError whose reason it is
        timed_out = isinstance(exc, TimeoutError) or \
            isinstance(getattr(exc, "reason", None), TimeoutError)
        return None, "timeout" if timed_out else f"{type(exc).__name__}: {exc}"
    return (time.perf_counter() - start) * 1000, None


def request_get(url: str, timeout: float, headers: Sequence[tuple[str, str]] = ()) -> HttpGet:
    """One GET of ``url``, as an HttpGet of the window."""
    sent = time.time()
    return HttpGet(sent, *http_get(url, timeout, headers))


class _Recorder:
    def __init__(self, obs: Observation):
        self.obs = obs
        self.lock = threading.Lock()

    def on_event(self, data=None, *_more):
        arrived = time.time()
        seq = data.get("seq") if isinstance(data, dict) else None
        emitted = data.get("t") if isinstance(data, dict) else None
        with self.lock:
            self.obs.received.append(Arrival(seq, emitted, arrived))


#: The most rounds (an ack, when there is an ack event, and an HTTP GET) one
#: traffic phase sends, whatever its interval: a cadence measured in a burst is
#: near 0, and a phase paced by it would hammer the server (448 GETs in 0.8 s
#: were seen). Our cells send 8 (0.8 s at 0.1 s); an adaptive phase at the
#: interval's floor, 16 (0.8 s at MIN_INTERVAL_S).
TRAFFIC_MAX_ROUNDS = 20


def _target_get(target: Target, timeout: float) -> HttpGet:
    """A plain GET of the target's health path, with its credentials' headers
    and query parameters (a cookie-authenticated app answers no GET without)."""
    url = target.credentials.connect_url(target.url + target.health_path)
    return request_get(url, timeout, target.credentials.headers)


def _traffic(client: socketio.Client, target: Target, obs: Observation,
             timing: Timing) -> None:
    """An ack (when the target has an ack event) and an HTTP GET per emit interval
    until the phase ends, TRAFFIC_MAX_ROUNDS at most. Stops early at the first
    unanswered ack or GET (after trying the GET, so that a wedged connection can
    be told from a server that stopped answering)."""
    end = time.time() + timing.traffic
    n = 0
    while time.time() < end and n < TRAFFIC_MAX_ROUNDS:
        n += 1
        ack_ms: float | None = 0.0
        if target.ack_event:
            sent = time.time()
            start = time.perf_counter()
            try:
                client.call(target.ack_event, n, namespace=target.namespace,
                            timeout=timing.response_timeout)
                ack_ms = (time.perf_counter() - start) * 1000
            except socketio.exceptions.TimeoutError:
                ack_ms = None
            except socketio.exceptions.SocketIOError as exc:  # disconnected meanwhile
                ack_ms = None
                obs.connect_error = obs.connect_error or f"during traffic: {exc}"
            obs.acks.append(Ack(sent, ack_ms))
        got = _target_get(target, timing.response_timeout)
        obs.http.append(got)
        if got.ms is None or ack_ms is None:
            return
        time.sleep(max(0.0, timing.interval - (time.time() - got.sent_at)))


def _release(name: str) -> tuple[int, ...]:
    """The installed release of ``name`` as numbers, (0,) when unknown."""
    try:
        numbers = version(name).split(".")[:2]
        return tuple(int(n) for n in numbers)
    except (PackageNotFoundError, ValueError):
        return (0,)


#: python-socketio calls a namespace's ``'*'`` handler for events without a
#: handler of their own from 5.5 on; before, such a handler is never called.
CATCH_ALL = _release("python-socketio") >= (5, 5)


def supports_auth() -> bool:
    """Does this python-socketio's ``Client.connect`` take ``auth`` (5.2 and later)?"""
    return "auth" in inspect.signature(socketio.Client.connect).parameters


#: At most this many other events are named in ``obs.facts["other events"]``.
OTHER_EVENTS_NAMED = 5


def other_events(counts: dict[str, int]) -> str:
    """"'pty-output' x12, 'status' x1": the events seen that were not watched,
    most frequent first."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    named = ", ".join(f"{name!r} x{count}" for name, count in ranked[:OTHER_EVENTS_NAMED])
    more = len(ranked) - OTHER_EVENTS_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def _catch_all(client: socketio.Client, namespace: str) -> Counter | None:
    """Count the events of ``namespace`` that have no handler (what the server
    sent besides the watched event); None where python-socketio cannot."""
    if not CATCH_ALL:
        return None
    seen: Counter = Counter()
    lock = threading.Lock()

    def on_other(event, *_args):
        with lock:
            seen[str(event)] += 1

    client.on("*", on_other, namespace=namespace)
    return seen


def watch(obs: Observation, target: Target, timing: Timing,
          window_over: Callable[[], None] = lambda: None,
          cadence: Callable[[], list[float]] | None = None,
          triggers: Sequence[Callable[[socketio.Client, Observation], None]] = (),
          on_event: Callable | None = None,
          in_flight: Callable[[Observation], bool] | None = None) -> None:
    """Connect python-socketio's client to ``target`` and watch one window.

    ``window_over`` runs when the window ends, before the client disconnects
    (a cell reads its server's logs and stops it then: a disconnect must not
    count, and a stopped server lets the client go at once). ``triggers`` run
    once connected, before the quiet phase (what starts a user's work). With an
    adaptive ``timing`` (a ``timeout``), ``cadence`` gives the times of the
    emits so far (default: of the arrivals), which decide when the quiet phase
    has seen enough. ``on_event`` handles the watched event from the connect on
    (default: ``_Recorder``'s, which reads our cells' payload). While
    ``in_flight(obs)`` holds after the drain (large events the work emitted
    that have not arrived yet), the window waits for them (``_catch_up``).
    """
    client = socketio.Client(reconnection=False, handle_sigint=False,
                             request_timeout=timing.response_timeout)
    client.on(target.event, on_event or _Recorder(obs).on_event, namespace=target.namespace)
    others = _catch_all(client, target.namespace)
    with ThreadPoolExecutor(1, thread_name_prefix="emitcheck-http") as side:
        health = side.submit(_target_get, target, timing.response_timeout)
        start = time.perf_counter()
        obs.connect_error = _connect(client, target, timing)
        if obs.connect_error is None:
            obs.connect_ms = (time.perf_counter() - start) * 1000
        obs.http.append(health.result())
    if obs.connect_ms is None and not refused_by_server(obs.connect_error):
        # The GET sent alongside may have been served before the connect wedged the
        # server: one more, after the connect gave up, tells a wedged connection
        # (answered) from a server that stopped answering (unanswered).
        obs.http.append(_target_get(target, timing.response_timeout))
    try:
        if obs.connect_ms is not None:
            obs.connected_at = time.time()
            for trigger in triggers:
                trigger(client, obs)
            # The arrivals when nothing logged an emit (yet): someone else's server,
            # or an app whose events another process emits through its queue.
            timing = _quiet(obs, timing, lambda: (cadence() if cadence else [])
                            or [a.arrived_at for a in obs.received])
            obs.quiet_end = time.time()
            _traffic(client, target, obs, timing)
            obs.traffic_end = time.time()
            time.sleep(timing.drain)
            if in_flight is not None:
                _catch_up(obs, timing, in_flight)
            _record_transport(client, obs)
        window_over()
    finally:
        _disconnect(client)
        obs.received.sort(key=lambda a: a.arrived_at)
        if others:  # said only when there were some: our cells send nothing else
            obs.facts["other events"] = other_events(others)


#: At most this many seconds of waiting for large events in flight once the
#: window is over.
CATCH_UP_CAP_S = 15.0


def _catch_up(obs: Observation, timing: Timing, in_flight: Callable[[Observation], bool]
              ) -> None:
    """Wait, bounded, while ``in_flight(obs)``: events of megabytes take the
    connection a second or more each, and a window sized by the emit cadence
    ends before the first arrives. Throughput is not loss: what arrives late is
    judged late (delayed), not missing (lost)."""
    if obs.connected_at is None:
        return
    start = time.time()
    deadline = min(start + CATCH_UP_CAP_S,
                   obs.connected_at + (timing.timeout or 0.0) + CATCH_UP_CAP_S)
    waited = False
    while time.time() < deadline and in_flight(obs):
        waited = True
        time.sleep(0.05)
    if waited:
        obs.facts["large events"] = (f"the window waited {time.time() - start:.1f} s more "
                                     f"for the large events in flight")


#: A connect is an HTTP request, perhaps a WebSocket handshake, and the wait for
#: the namespaces, each bounded by the response timeout in current releases.
CONNECT_BOUND_RESPONSES = 3


def _connect(client: socketio.Client, target: Target, timing: Timing) -> str | None:
    """Connect the client with the target's credentials (headers, the auth
    payload, query parameters on the URL); None, or why it did not connect.
    Bounded here, not only by the client: python-engineio before 4.3.4 opens a
    WebSocket with no timeout, so a server that accepts the TCP connection and
    never answers the handshake would hold the window for ever. A connect given
    up on ends when the server is stopped (its socket closes)."""
    outcome: dict[str, str | None] = {}
    raised: list[BaseException] = []

    credentials = target.credentials
    extra: dict = {}
    if credentials.headers:
        extra["headers"] = dict(credentials.headers)
    if credentials.auth is not None:  # python-socketio 5.1 has no auth: only when given
        extra["auth"] = credentials.auth

    def connect() -> None:
        try:
            client.connect(credentials.connect_url(target.url), namespaces=[target.namespace],
                           wait_timeout=timing.response_timeout,
                           transports=variant("transport", target.transport).transports,
                           **extra)
            outcome["error"] = None
        except socketio.exceptions.ConnectionError as exc:
            outcome["error"] = str(exc) or type(exc).__name__
        except BaseException as exc:  # ours to report, in the caller's thread
            raised.append(exc)

    bound = CONNECT_BOUND_RESPONSES * timing.response_timeout
    connecting = threading.Thread(target=connect, name="emitcheck-connect", daemon=True)
    connecting.start()
    connecting.join(bound)
    if raised:
        raise raised[0]
    if "error" not in outcome:
        return f"connect timed out: no answer within {bound:g} s"
    return outcome["error"]


def _record_transport(client: socketio.Client, obs: Observation) -> None:
    """The transport the client ended the window on: one that stayed on
    long-polling where it could have upgraded (a proxy without the Upgrade
    header) is a finding the evidence shows, not something to hide."""
    try:
        transport = client.transport() if client.connected else None
    except (AttributeError, KeyError):  # a release without it, or a session just ended
        transport = None
    if transport:
        obs.facts["transport"] = transport


#: An adaptive quiet phase ends once this many events were emitted (or arrived),
#: the one that made the count had time to arrive, and the minimum quiet time
#: has passed.
EVENTS_NEEDED = 3
#: An adaptive traffic phase lasts this many emit intervals (at least the
#: fixed traffic time, at most this many seconds).
TRAFFIC_INTERVALS = 2
TRAFFIC_CAP_S = 10.0
#: The shortest interval an adaptive window uses (seconds). An interval measured
#: from arrivals that came in one burst is about 0 (a flush of held-back events
#: arrives within microseconds): promptness judged against it would be absurd,
#: and the traffic phase would send a request per microsecond. 0.05 s is half
#: our cells' 0.1 s, so their windows are unchanged (theirs are fixed anyway).
MIN_INTERVAL_S = 0.05


def _quiet(obs: Observation, timing: Timing, cadence: Callable[[], list[float]]) -> Timing:
    """Listen only; return the timing of the rest of the window. A fixed window
    (our cells) sleeps ``timing.quiet``. An adaptive one (``timing.timeout``)
    waits for the cadence, known (``every``) or observed, and records it as the
    observation's interval (MIN_INTERVAL_S at least), so promptness is judged
    against it."""
    if timing.timeout is None:
        time.sleep(timing.quiet)
        return timing
    start = time.time()
    deadline = start + timing.timeout
    interval = None if timing.every is None else max(timing.every, MIN_INTERVAL_S)
    if interval is not None:
        time.sleep(max(0.0, min(deadline, start + max(
            timing.quiet, EVENTS_NEEDED * interval + prompt_bound(interval))) - time.time()))
    else:
        while time.time() < deadline:
            seen = sorted(t for t in cadence() if t >= start - timing.response_timeout)
            if len(seen) >= EVENTS_NEEDED:
                interval = max(MIN_INTERVAL_S, statistics.median(
                    b - a for a, b in zip(seen, seen[1:], strict=False)))
                if time.time() >= max(start + timing.quiet,  # the Nth had time to arrive
                                      seen[EVENTS_NEEDED - 1] + prompt_bound(interval)):
                    break
            time.sleep(0.05)
    if interval:
        obs.interval = round(interval, 3)
    traffic = max(timing.traffic, min(TRAFFIC_INTERVALS * obs.interval, TRAFFIC_CAP_S))
    return replace(timing, interval=obs.interval, traffic=traffic)


def observe(server: ManagedProcess, cell: Cell, timing: Timing,
            companions: Sequence[ManagedProcess] = (),
            window_over: Callable[[], None] = lambda: None,
            *, work: Work,
            front: ManagedProcess | None = None) -> Observation:
    """Watch a started server through the whole window with the cell's client.
    Never raises for the server's misbehaviour: everything goes into the
    Observation. The logs of ``companions`` (an emitter in another process)
    count as the server's. They are read as the window ends, and then
    ``window_over`` runs (the runner stops the cell's processes there). What to
    watch for, and how the work logs its emits, is the ``work``'s to say. With
    ``front`` (a proxy), the client connects to it instead of the server."""
    obs = Observation(cell=cell.id, interval=timing.interval)
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        obs.phases[name] = round(now - mark, 3)
        mark = now

    try:
        port = server.wait_listening(timing.ready_timeout)
    except NotReady as exc:
        obs.ready_error = str(exc)
    phase("ready")

    def over() -> None:
        phase("window")
        read_server_logs(obs, server, companions, work)
        window_over()
        phase("teardown")

    if obs.ready_error is None and front is not None:
        try:
            port = front.wait_listening(timing.ready_timeout)
        except NotReady as exc:
            obs.ready_error = f"the proxy in front: {exc}"
    if obs.ready_error is None:
        work.window_opens(server.files)
        target = work.target(f"http://127.0.0.1:{port}", cell.transport)
        cell.value_of("client").watch(obs, target, timing, over,
                                      cadence=work.cadence(server.files),
                                      triggers=work.triggers(),
                                      in_flight=work.in_flight(server.files))
        work.settle(obs)
    else:
        over()
    return obs


def read_server_logs(obs: Observation, server: ManagedProcess,
                     companions: Sequence[ManagedProcess], work: Work) -> None:
    """What the server left: exit status, emits, stderr, the mode it reported."""
    obs.exit_status = server.exited()
    obs.emitted = work.emits(server.files)
    stderr = server.files.stderr.read_text(errors="replace")
    for other in companions:
        if other_stderr := other.files.stderr.read_text(errors="replace"):
            stderr += f"--- {other.files.directory.name} process ---\n{other_stderr}"
    # A traceback's header starts a line: a log line quoting one is not one.
    obs.tracebacks = sum(line.startswith(TRACEBACK_HEADER) for line in stderr.splitlines())
    obs.log_tail = "\n".join(stderr.splitlines()[-LOG_TAIL_LINES:])
    obs.facts.update(work.facts(server.files, stderr))
    stdout = server.files.stdout.read_text(errors="replace")
    if SERVER_BANNER in stdout:
        obs.async_mode = stdout.split(SERVER_BANNER, 1)[1].split()[0]


def _disconnect(client: socketio.Client, timeout: float = 2.0) -> None:
    """Disconnect without waiting forever on a server that is gone or stuck."""
    worker = threading.Thread(target=client.disconnect, daemon=True)
    worker.start()
    worker.join(timeout)
