"""``-two_ip_hash``, ``-two_round_robin``: two server processes behind nginx.

The cell's server value starts server 1 as usual: it runs the work. This
module starts server 2, the same server_child.py with the same queue (or
none; async_server_child.py with AsyncRedisManager for asyncio cells) on the
run's ``others_python`` (a server not yet upgraded, with
``--others-with``), which runs no work (``server_child.serve_only``) and logs the clients
that connect to it; then nginx in front of both with Flask-SocketIO's
documented load-balancing config (nginx_proxy.py): ``/socket.io`` goes to an
``upstream`` of the two, with ``ip_hash`` or without it (round robin, nginx's
default), and every other path (the probe's ``/health``) to the first server
listed, past the balancer. The client connects to nginx. This is the issue's
setup: the work runs in one server, the client is connected to the other, and
only a message queue carries the events across.

Which server the client lands on must be certain, or the verdicts would flip:

- ``ip_hash`` hashes the first three octets of the client's IPv4 address, so
  every loopback client goes to the same server: with two servers of equal
  weight, the first listed (nginx's hash of 127.0.0 is even). Server 2 is
  listed first, so the client lands on the server without the work.
- Round robin starts at the first listed server and alternates over the
  requests of ``/socket.io`` only: the probe's plain GETs (``/health``, sent
  alongside the connect and during the traffic phase) take ``location /``,
  as every non-Socket.IO route does in the documented config, so they never
  move the pointer. A WebSocket-only client makes one request, so it lands
  on server 2 too, every time.
- A long-polling client (``polling``, and the default transport, which starts
  on long-polling) makes many requests: its handshake lands on server 2, and
  the next ones go to both servers (with the default transport, first its
  WebSocket upgrade, which server 1 answers 400, then long-polling again). Its
  two loops send a POST and a GET at once, so which of them goes where is a
  race; whichever request reaches server 1,
  server 1 does not know the session and answers 400 "Invalid session"
  (python-socketio 1263), and python-socketio's connect fails with
  "Unexpected connection error" in every order: the verdict is ``lost`` (a
  connect that got no answer while HTTP answers). How long that takes is the
  race's: when the GET is the request that stays on server 2, it is held
  until server 2's next ping (25 s), so these cells are out of the default
  matrix (they run by id).

The evidence names the server the client landed on, from nginx's access log
(the upstream of each request; a WebSocket is logged only once it closes, and
the cell stops nginx first) and from server 2's log of connects, and through
what the events came: server 2 runs no work, so every event its client got
came through the Redis queue.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from emitcheck.matrix.cell import Expect, Variant

DOC = "deployments.md#several-server-processes"
#: One grid for the family, its suffixes in the columns.
GRID = "two servers behind nginx"
#: Attempts at starting server 2, when another process takes its port.
ATTEMPTS = 3
#: server 2's files: ``run.directory / f"{SECOND}{attempt}"``.
SECOND = "server2-try"
#: What server 2 writes: one line per client that connected (``time transport``).
CONNECT_LOG = "connects.log"
#: The spawns that run the work in the server process (server 1).
IN_SERVER = ("thread", "task")
#: The default matrix's cluster cells (the rest run by id): both balancings on
#: a row where one server delivers, with the queue and without, over each
#: transport where the answer differs; round robin with a long-polling client
#: is left out (lost every time, but after up to 25 s: see the docstring).
DEFAULT_ROWS = ("threading-unpatched", "gevent-patched", "asgi-unpatched")
DEFAULT_SUFFIXES = frozenset({
    "polling-redis-two_ip_hash",
    "polling-two_ip_hash",
    "websocket-redis-two_ip_hash",
    "websocket-two_ip_hash",
    "redis-two_ip_hash",
    "websocket-redis-two_round_robin",
    "websocket-two_round_robin",
})
#: Rows that take fewer: python-socketio's AsyncServer with AsyncRedisManager across
#: the two servers, and without it (its other cluster cells run by id).
ROW_SUFFIXES = {"asgi-unpatched": frozenset({"redis-two_ip_hash", "two_ip_hash"})}


@dataclass(eq=False)
class Cluster(Variant):
    factor: ClassVar[str] = "cluster"


@dataclass(eq=False)
class TwoServers(Cluster):
    #: nginx's balancing of ``/socket.io`` over the two servers.
    balance: str = "ip_hash"

    def unavailable(self, cell):
        from emitcheck.families.nginx.proxy import nginx_unavailable

        return nginx_unavailable()

    def conflict(self, cell):
        if cell.spawn not in IN_SERVER:
            return (f"{self.value} runs the work in server 1 and the client on server 2: "
                    f"use spawn {' or '.join(IN_SERVER)}")
        if cell.server != "run":
            return (f"{self.value} starts two socketio.run servers behind nginx: leave out "
                    f"-{cell.server}")
        if cell.client != "python":
            return f"{self.value} cells are measured with the Python client: leave out " \
                   f"-{cell.client}"
        return None

    def in_default(self, cell):
        row, suffixes = f"{cell.mode}-{cell.patch}", "-".join(cell.suffixes)
        return row in DEFAULT_ROWS and (cell.spawn, cell.wait) == ("task", "socketio_sleep") \
            and suffixes in ROW_SUFFIXES.get(row, DEFAULT_SUFFIXES)

    def expect(self, cell, expected: Expect, resolved=None):
        from emitcheck.model.expectation import Expectation

        if self.balance == "round_robin" and cell.transport != "websocket":
            return Expectation(
                "lost", "round robin spreads the long-polling client's requests over both "
                "servers: the one that did not open its session answers 400 'Invalid "
                "session', and the connect fails ('Unexpected connection error')", DOC)
        landed = ("ip_hash sends every loopback client to server 2" if self.balance ==
                  "ip_hash" else "the client's one request, its WebSocket, is round "
                  "robin's first pick: server 2")
        if cell.queue == "none":
            return Expectation("lost", f"{landed}, which runs no work; without a message "
                               "queue, server 1's emits reach only its own clients (none)",
                               DOC)
        # Server 2 runs no work: it serves the client as a server whose work never
        # blocks does, the events coming from the queue.
        twin = expected(cell.replace(cluster="single", spawn="task", wait="socketio_sleep"))
        return Expectation(twin.verdict, f"{landed}, which runs no work and gets server "
                           f"1's emits from the message queue: {twin.why}", DOC)

    def front(self, run):
        from emitcheck.families.nginx.proxy import start_nginx
        from emitcheck.running.work import serve_ours
        from emitcheck.scripts.server_child import SECOND_SERVER
        from emitcheck.system.process import ManagedProcess, NotReady, start_listening

        assert run.server is not None  # front runs once the server started

        def start(attempt: int) -> ManagedProcess:
            place = run.directory / f"{SECOND}{attempt}"
            return run.add(serve_ours(
                run.cell.id, run.timing.interval, place, run.queue_url,
                env={SECOND_SERVER: str(place / CONNECT_LOG)}, python=run.others_python),
                companion=True)

        second = start_listening(start, run.timing.ready_timeout, ATTEMPTS)
        try:
            second.wait_listening(run.timing.ready_timeout)
        except NotReady as exc:
            raise RuntimeError(f"server 2 did not start: {exc}") from None
        # Server 2 first: where ip_hash sends loopback clients, where round robin
        # starts, and where the documented config sends every other path.
        return start_nginx(run, run.directory / "nginx", [second.port, run.server.port],
                           balance=self.balance)

    def after_window(self, run, obs):
        if run.front is None or run.server is None:  # nginx never started: the failure says
            return
        landed = _landed(run, obs)
        obs.facts["landed on"] = landed
        if landed.startswith("server 2"):
            obs.facts["events via"] = _events_via(run, obs)


def _landed(run, obs) -> str:
    """On which server the client landed, from nginx's access log and server 2's
    log of connects."""
    from emitcheck.families.nginx.proxy import socketio_requests

    work = f"127.0.0.1:{run.server.port}"

    def server(request) -> str:
        return "server 1" if request.upstreams[-1] == work else "server 2"

    requests = [r for r in socketio_requests(run.front.files.directory) if r.upstreams]
    on = Counter(server(r) for r in requests)
    connects = _connects(run.directory)
    if on["server 1"] and on["server 2"]:
        first = server(next((r for r in requests if not r.sid), requests[0]))  # handshake
        other = "server 2" if first == "server 1" else "server 1"
        refused = sorted({r.status for r in requests if server(r) == other and r.status >= 400})
        answered = f", which answered HTTP {', '.join(map(str, refused))}" if refused else ""
        invalid = " ('Invalid session' in its log)" if _says_invalid_session(run, other) \
            else ""
        return (f"both: the handshake on {first}, then {on[other]} of the session's "
                f"requests on {other}{answered}{invalid}")
    if on["server 1"]:
        return "server 1 of 2, the one with the work (every Socket.IO request)"
    count = len(requests)
    said = [f"nginx logged {count} Socket.IO request{'s' if count > 1 else ''}, "
            f"{'all ' if count > 1 else ''}to it"] if requests else []
    if connects:
        over = "" if connects[-1] == "unknown" else f" over {connects[-1]}"
        said.append(f"its log has the client's connect{over}")
    if said:
        return f"server 2 of 2, the one without the work ({'; '.join(said)})"
    if obs.connect_ms is not None:  # connected, yet server 2 saw no connect
        return "server 1 of 2, the one with the work (server 2 logged no connect)"
    return "neither: no Socket.IO request reached a server"


def _connects(directory: Path) -> list[str]:
    """The transports of the connects server 2 logged."""
    return [line.split()[1] for log in sorted(directory.glob(f"{SECOND}*/{CONNECT_LOG}"))
            for line in log.read_text(errors="replace").splitlines() if len(line.split()) == 2]


def _says_invalid_session(run, server: str) -> bool:
    if server == "server 1":
        logs = [run.server.files.stderr]
    else:
        logs = [p.files.stderr for p in run.companions
                if p.files.directory.name.startswith(SECOND)]
    return any("Invalid session" in log.read_text(errors="replace") for log in logs)


def _events_via(run, obs) -> str:
    if run.cell.queue == "none":
        return ("nothing: no message queue, so server 1's emits went to its own clients "
                "only (it has none)")
    queue = "the Redis queue" if run.cell.queue == "redis" else f"the {run.cell.queue} queue"
    if not obs.received:
        return f"none arrived (server 2 would get them from {queue})"
    return f"{queue}: server 2 runs no work, so every event its client got was published " \
           "by server 1"


VARIANTS = [Cluster("single", "one server process"),
            TwoServers("two_ip_hash", "two server processes behind nginx with ip_hash (sticky "
                       "sessions); the work runs in the one the client is not on", doc=DOC,
                       grid=GRID,
                       reproducible=False, balance="ip_hash",
                       remedy="give the balancer sticky sessions (ip_hash in nginx's "
                              "upstream block)"),
            TwoServers("two_round_robin", "two server processes behind nginx, round robin "
                       "(no sticky sessions); the work runs in one, the client starts on the "
                       "other", doc=DOC, grid=GRID, reproducible=False,
                       balance="round_robin")]
