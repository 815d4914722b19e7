"""The client side of a cell: a real python-socketio client over loopback.

``observe()`` connects to a running server and records, in an ``Observation``,
what happened during the window:

1. connect (timed, bounded); if it fails, one plain HTTP GET tells a server
   that stopped answering from one that answered and refused the client;
2. a quiet phase: the client only listens, so events that arrive here were
   sent by the server on its own;
3. a traffic phase: acknowledged calls and HTTP GETs at the emit cadence, which
   wake a server whose writer task only runs when other I/O happens;
4. a short drain, so an event emitted at the end of the window can arrive.

With the Node client (``-node`` cells), steps 1 to 4 are done by
``node/probe.js`` instead (see node_client.py), the rest is the same.

The Observation is plain data (it round-trips through JSON) so that the verdict
can be computed, and unit-tested, without servers.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields

import socketio

from .cells import parse
from .node_client import run_node_client
from .server import SERVER_BANNER, NotReady, ServerProcess

EVENT = "tick"  # the names server_child.py uses
ACK_EVENT = "probe"
LOG_TAIL_LINES = 30  # of the server's stderr, kept for the verdict and failure reports
#: The Observation fields node/probe.js fills (what the client part here fills).
NODE_FIELDS = ("connect_ms", "connect_error", "connected_at", "quiet_end", "traffic_end",
               "acks", "http", "received")
#: python-socketio's ``transports`` argument for each value of the transport factor.
TRANSPORTS = {"default": None, "polling": ["polling"], "websocket": ["websocket"]}


@dataclass(frozen=True)
class Timing:
    """How long each step may take. All waits in a cell are bounded by these."""
    interval: float = 0.1        # seconds between two emits of the work
    quiet: float = 1.0           # seconds of listening only
    traffic: float = 0.8         # seconds of acks and HTTP GETs
    drain: float = 0.2           # seconds to let the last events arrive
    ready_timeout: float = 20.0  # for the server to listen (imports on a busy machine)
    response_timeout: float = 2.5  # for a connect, an ack or an HTTP GET


@dataclass
class Observation:
    cell: str
    interval: float
    ready_error: str | None = None      # the server never listened (NotReady text)
    exit_status: int | None = None      # the server process ended before the window did
    connect_ms: float | None = None
    connect_error: str | None = None
    connected_at: float | None = None   # wall-clock times (time.time()), same clock as
    quiet_end: float | None = None      # the server's, both processes on one machine
    traffic_end: float | None = None
    acks: list = field(default_factory=list)      # [sent_at, ms or None if timed out]
    http: list = field(default_factory=list)      # [sent_at, ms or None, error or None]
    received: list = field(default_factory=list)  # [seq, emitted_at, arrived_at]
    emitted: list = field(default_factory=list)   # [seq, emitted_at] from the server log
    tracebacks: int = 0                 # "Traceback" headers in the server's stderr
    log_tail: str = ""
    async_mode: str | None = None       # what the server reported it resolved to
    phases: dict = field(default_factory=dict)  # seconds: ready, connect, window, teardown

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Observation:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def http_get(url: str, timeout: float) -> tuple[float | None, str | None]:
    """(milliseconds, None) when answered; (None, reason) when not."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
    except (TimeoutError, OSError) as exc:
        timed_out = isinstance(exc, TimeoutError) or "timed out" in str(exc)
        return None, "timeout" if timed_out else f"{type(exc).__name__}: {exc}"
    return (time.perf_counter() - start) * 1000, None


class _Recorder:
    def __init__(self, obs: Observation):
        self.obs = obs
        self.lock = threading.Lock()

    def on_tick(self, data):
        arrived = time.time()
        with self.lock:
            self.obs.received.append([data.get("seq"), data.get("t"), arrived])


def _traffic(client: socketio.Client, base: str, obs: Observation, timing: Timing) -> None:
    """An ack and an HTTP GET per emit interval until the phase ends.

    Stops early at the first unanswered ack or GET (after trying the GET, so
    that a wedged connection can be told from a server that stopped answering).
    """
    end = time.time() + timing.traffic
    n = 0
    while time.time() < end:
        n += 1
        sent = time.time()
        start = time.perf_counter()
        try:
            client.call(ACK_EVENT, n, timeout=timing.response_timeout)
            ack_ms = (time.perf_counter() - start) * 1000
        except socketio.exceptions.TimeoutError:
            ack_ms = None
        except socketio.exceptions.SocketIOError as exc:  # disconnected meanwhile
            ack_ms = None
            obs.connect_error = obs.connect_error or f"during traffic: {exc}"
        obs.acks.append([sent, ack_ms])
        sent = time.time()
        ms, error = http_get(base + "/health", timing.response_timeout)
        obs.http.append([sent, ms, error])
        if ms is None or ack_ms is None:
            return
        time.sleep(max(0.0, timing.interval - (time.time() - sent)))


def observe(server: ServerProcess, cell_id: str, timing: Timing,
            companions: Sequence[ServerProcess] = ()) -> Observation:
    """Probe a started server through the whole window. Never raises for the
    server's misbehaviour: everything goes into the Observation. The logs of
    ``companions`` (an emitter in another process) count as the server's."""
    obs = Observation(cell=cell_id, interval=timing.interval)
    mark = time.perf_counter()

    def phase(name):
        nonlocal mark
        now = time.perf_counter()
        obs.phases[name] = round(now - mark, 3)
        mark = now

    try:
        port = server.wait_listening(timing.ready_timeout)
    except NotReady as exc:
        obs.ready_error = str(exc)
        phase("ready")
        return _finish(server, companions, obs, phase)
    phase("ready")
    base = f"http://127.0.0.1:{port}"
    cell = parse(cell_id)
    if cell.client == "node":  # the same window, watched by socket.io-client on Node.js
        seen = run_node_client(base, cell.transport, timing)
        for name in NODE_FIELDS:
            setattr(obs, name, seen.get(name, getattr(obs, name)))
        phase("window")
        return _finish(server, companions, obs, phase)

    client = socketio.Client(reconnection=False, handle_sigint=False,
                             request_timeout=timing.response_timeout)
    client.on(EVENT, _Recorder(obs).on_tick)
    # A plain GET alongside the connect: if the connect fails, it tells a server
    # that stopped answering from one that refused the client, at no extra wait.
    with ThreadPoolExecutor(1, thread_name_prefix="emitcheck-http") as side:
        sent = time.time()
        http = side.submit(http_get, base + "/health", timing.response_timeout)
        start = time.perf_counter()
        try:
            client.connect(base, wait_timeout=timing.response_timeout,
                           transports=TRANSPORTS[cell.transport])
            obs.connect_ms = (time.perf_counter() - start) * 1000
        except socketio.exceptions.ConnectionError as exc:
            obs.connect_error = str(exc) or type(exc).__name__
        obs.http.append([sent, *http.result()])
    phase("connect")
    if obs.connect_ms is None:
        return _finish(server, companions, obs, phase, client)
    obs.connected_at = time.time()

    time.sleep(timing.quiet)
    obs.quiet_end = time.time()
    _traffic(client, base, obs, timing)
    obs.traffic_end = time.time()
    time.sleep(timing.drain)
    phase("window")
    return _finish(server, companions, obs, phase, client)


def _finish(server: ServerProcess, companions: Sequence[ServerProcess], obs: Observation,
            phase, client: socketio.Client | None = None) -> Observation:
    """Read what the server left (status, emits, stderr), stop it, close the client."""
    obs.exit_status = server.exited()
    obs.emitted = [list(pair) for pair in server.emitted()]
    stderr = server.files.stderr.read_text(errors="replace")
    for other in companions:
        if other_stderr := other.files.stderr.read_text(errors="replace"):
            stderr += f"--- {other.files.directory.name} process ---\n{other_stderr}"
    obs.tracebacks = stderr.count("Traceback (most recent call last)")
    obs.log_tail = "\n".join(stderr.splitlines()[-LOG_TAIL_LINES:])
    stdout = server.files.stdout.read_text(errors="replace")
    if SERVER_BANNER in stdout:
        obs.async_mode = stdout.split(SERVER_BANNER, 1)[1].split()[0]
    server.stop()
    if client is not None:
        _disconnect(client)
    obs.received.sort(key=lambda r: r[2])
    phase("teardown")
    return obs


def _disconnect(client: socketio.Client, timeout: float = 2.0) -> None:
    """Disconnect without waiting forever on a server that is gone or stuck."""
    worker = threading.Thread(target=client.disconnect, daemon=True)
    worker.start()
    worker.join(timeout)
