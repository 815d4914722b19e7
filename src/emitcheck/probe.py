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

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import socketio

from .cells import Cell
from .families import variant
from .model import Ack, Arrival, Emit, HttpGet, Observation, Target, Timing
from .process import SERVER_BANNER, ManagedProcess, NotReady

LOG_TAIL_LINES = 30  # of the server's stderr, kept for the verdict and failure reports


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


def _get(url: str, timeout: float) -> HttpGet:
    sent = time.time()
    return HttpGet(sent, *http_get(url, timeout))


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


def _traffic(client: socketio.Client, target: Target, obs: Observation,
             timing: Timing) -> None:
    """An ack (when the target has an ack event) and an HTTP GET per emit interval
    until the phase ends. Stops early at the first unanswered ack or GET (after
    trying the GET, so that a wedged connection can be told from a server that
    stopped answering)."""
    end = time.time() + timing.traffic
    n = 0
    while time.time() < end:
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
        got = _get(target.url + target.health_path, timing.response_timeout)
        obs.http.append(got)
        if got.ms is None or ack_ms is None:
            return
        time.sleep(max(0.0, timing.interval - (time.time() - got.sent_at)))


def watch(obs: Observation, target: Target, timing: Timing,
          window_over: Callable[[], None] = lambda: None) -> None:
    """Connect python-socketio's client to ``target`` and watch one window.
    ``window_over`` runs when the window ends, before the client disconnects
    (a cell reads its server's logs and stops it then: a disconnect must not
    count, and a stopped server lets the client go at once)."""
    client = socketio.Client(reconnection=False, handle_sigint=False,
                             request_timeout=timing.response_timeout)
    client.on(target.event, _Recorder(obs).on_event, namespace=target.namespace)
    with ThreadPoolExecutor(1, thread_name_prefix="emitcheck-http") as side:
        health = side.submit(_get, target.url + target.health_path, timing.response_timeout)
        start = time.perf_counter()
        try:
            client.connect(target.url, namespaces=[target.namespace],
                           wait_timeout=timing.response_timeout,
                           transports=variant("transport", target.transport).transports)
            obs.connect_ms = (time.perf_counter() - start) * 1000
        except socketio.exceptions.ConnectionError as exc:
            obs.connect_error = str(exc) or type(exc).__name__
        obs.http.append(health.result())
    try:
        if obs.connect_ms is not None:
            obs.connected_at = time.time()
            time.sleep(timing.quiet)
            obs.quiet_end = time.time()
            _traffic(client, target, obs, timing)
            obs.traffic_end = time.time()
            time.sleep(timing.drain)
        window_over()
    finally:
        _disconnect(client)
        obs.received.sort(key=lambda a: a.arrived_at)


def observe(server: ManagedProcess, cell: Cell, timing: Timing,
            companions: Sequence[ManagedProcess] = (),
            window_over: Callable[[], None] = lambda: None) -> Observation:
    """Watch a started server through the whole window with the cell's client.
    Never raises for the server's misbehaviour: everything goes into the
    Observation. The logs of ``companions`` (an emitter in another process)
    count as the server's. They are read as the window ends, and then
    ``window_over`` runs (the runner stops the cell's processes there)."""
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
        read_server_logs(obs, server, companions)
        window_over()
        phase("teardown")

    if obs.ready_error is None:
        target = Target(f"http://127.0.0.1:{port}", transport=cell.transport)
        cell.value_of("client").watch(obs, target, timing, over)
    else:
        over()
    return obs


def read_server_logs(obs: Observation, server: ManagedProcess,
                     companions: Sequence[ManagedProcess] = ()) -> None:
    """What the server left: exit status, emits, stderr, the mode it reported."""
    obs.exit_status = server.exited()
    obs.emitted = [Emit(seq, at) for seq, at in server.emitted()]
    stderr = server.files.stderr.read_text(errors="replace")
    for other in companions:
        if other_stderr := other.files.stderr.read_text(errors="replace"):
            stderr += f"--- {other.files.directory.name} process ---\n{other_stderr}"
    obs.tracebacks = stderr.count("Traceback (most recent call last)")
    obs.log_tail = "\n".join(stderr.splitlines()[-LOG_TAIL_LINES:])
    stdout = server.files.stdout.read_text(errors="replace")
    if SERVER_BANNER in stdout:
        obs.async_mode = stdout.split(SERVER_BANNER, 1)[1].split()[0]


def _disconnect(client: socketio.Client, timeout: float = 2.0) -> None:
    """Disconnect without waiting forever on a server that is gone or stuck."""
    worker = threading.Thread(target=client.disconnect, daemon=True)
    worker.start()
    worker.join(timeout)
