"""The user's app under test: what to load, what to watch for, and how its
cells' servers run it (app_child.py) and log its emits. The family that
declares its cells is families/app.py."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .families.app import DOC
from .model import Arrival, Emit, Observation, Target
from .work import OurWork

APP_CHILD = Path(__file__).with_name("app_child.py")
#: Seconds for ``check`` to import the app: an app that starts a server at
#: import (outside ``if __name__ == "__main__"``) never returns.
IMPORT_TIMEOUT = 30.0
#: Every Socket.IO server answers this (an Engine.IO handshake); an app may
#: have no other route.
SOCKETIO_GET = "/socket.io/?EIO=4&transport=polling"
#: Seconds a GET trigger may take (as any GET of the window).
TRIGGER_TIMEOUT = 2.5

__all__ = ["DOC", "AppError", "AppSpec", "UserApp", "check", "parse_trigger"]


class AppError(ValueError):
    """The app, an option or a trigger cannot be used as given; one line."""


def parse_trigger(text: str) -> tuple[str, str, object]:
    """``connect``, ``get:/path`` or ``emit:EVENT[:JSON]`` as (kind, what, data)."""
    kind, _, rest = text.partition(":")
    if kind == "connect" and not rest:
        return kind, "", None
    if kind == "get" and rest.startswith("/"):
        return kind, rest, None
    if kind == "emit" and rest:
        event, _, payload = rest.partition(":")
        try:
            data = json.loads(payload) if payload else None
        except ValueError as exc:
            raise AppError(f"trigger {text!r}: the payload is not JSON ({exc})") from None
        return kind, event, data
    raise AppError(f"trigger {text!r} is not one of: connect, get:/PATH, emit:EVENT[:JSON]")


@dataclass(frozen=True)
class AppSpec:
    """The app under test and what to watch for."""
    app: str                      # MODULE:ATTR (a SocketIO, a Flask app, or MODULE:factory())
    event: str
    path: str = "."
    namespace: str = "/"
    triggers: tuple[str, ...] = ("connect", "get:/")
    ack: str | None = None        # an event the app acknowledges (for the traffic phase)

    def __post_init__(self) -> None:
        module, colon, attr = self.app.partition(":")
        if not colon or not module or not attr or not all(
                p.isidentifier() for p in module.split(".")):
            raise AppError(f"{self.app!r} is not MODULE:ATTR (e.g. app:socketio, app:app or "
                           "app:create_app())")
        for trigger in self.triggers:
            parse_trigger(trigger)
        if not self.namespace.startswith("/"):
            raise AppError(f"namespace {self.namespace!r} must start with '/'")


def check(spec: AppSpec) -> str:
    """Load the app once, unpatched and in its own mode, in a process of its own;
    return its async_mode, or raise AppError saying why it cannot be loaded."""
    with tempfile.TemporaryDirectory(prefix="emitcheck-app-check-") as tmp:
        config = _config(spec, "auto", "unpatched", Path(tmp) / "emits.log")
        try:
            proc = subprocess.run([sys.executable, str(APP_CHILD), config, "check"],
                                  capture_output=True, text=True, timeout=IMPORT_TIMEOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise AppError(f"importing {spec.app} did not finish within {IMPORT_TIMEOUT:g} s: "
                           "does the module start a server at import, outside "
                           "'if __name__ == \"__main__\"'?") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise AppError(f"loading {spec.app} failed: {tail}")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise AppError(answer["error"])
    return answer["async_mode"]


def _config(spec: AppSpec, mode: str, patch: str, emits: Path) -> str:
    return json.dumps({"app": spec.app, "path": str(Path(spec.path).resolve()),
                       "mode": mode, "patch": patch, "emits": str(emits)})


class UserApp(OurWork):
    """The user's app as a cell's work: app_child.py, watched for ``spec.event``."""

    def __init__(self, spec: AppSpec):
        self.spec = spec

    def server_argv(self, cell_id, interval, files, port, queue_url):
        mode, patch = cell_id.split("-")[:2]
        return [str(APP_CHILD), _config(self.spec, mode, patch, files.emits), str(port)]

    def gunicorn_app(self, cell_id, interval, files, queue_url):
        mode, patch = cell_id.split("-")[:2]
        return f"emitcheck.app_child:gunicorn_app({_config(self.spec, mode, patch, files.emits)!r})"

    def target(self, url: str, transport: str) -> Target:
        return Target(url, transport=transport, event=self.spec.event, ack_event=self.spec.ack,
                      health_path=SOCKETIO_GET, namespace=self.spec.namespace)

    def triggers(self) -> list[Callable]:
        return [_trigger(parse_trigger(t), self.spec.namespace) for t in self.spec.triggers]

    def cadence(self, files):
        return lambda: [e.at for e in self.emits(files)]

    def emits(self, files) -> list[Emit]:
        """The app's emits of the watched event in the watched namespace, numbered."""
        times = []
        for line in Path(files.emits).read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the server's end
            if entry["event"] == self.spec.event and entry["namespace"] == self.spec.namespace:
                times.append(entry["at"])
        return [Emit(seq, at) for seq, at in enumerate(sorted(times), 1)]

    def settle(self, obs: Observation) -> None:
        """The app's payloads carry no sequence number: pair each arrival, in
        order, with the next emit made before it (Socket.IO keeps the order on
        one connection), from the moment the client started connecting."""
        if obs.connected_at is None:
            return
        since = obs.connected_at - (obs.connect_ms or 0.0) / 1000
        pending = [e for e in obs.emitted if e.at >= since]
        settled, index = [], 0
        for arrival in obs.received:
            if index < len(pending) and pending[index].at <= arrival.arrived_at:
                emit = pending[index]
                index += 1
                settled.append(Arrival(emit.seq, emit.at, arrival.arrived_at))
            else:
                settled.append(Arrival(None, None, arrival.arrived_at))
        obs.received = settled


def _trigger(parsed: tuple[str, str, object], namespace: str) -> Callable:
    kind, what, data = parsed

    def run(client, obs) -> None:
        if kind == "get":
            from .probe import _get

            parts = urllib.parse.urlsplit(client.connection_url)
            obs.http.append(_get(f"{parts.scheme}://{parts.netloc}{what}",
                                 TRIGGER_TIMEOUT))
        elif kind == "emit":
            client.emit(what, data, namespace=namespace)

    return run


def what_to_change(spec: AppSpec, cell_id: str, async_mode: str | None,
                   verdict: str | None) -> list[str]:
    """For an app's cell that is not delivered: the remedies from our measured
    matrix (remedy.py), or, when the app never emitted, what would start it."""
    from .remedy import remedies

    if verdict == "silent":
        return [f"silent is the verdict, not an error: the app emitted no {spec.event!r} "
                f"event in namespace {spec.namespace} after these triggers: "
                f"{', '.join(spec.triggers) or 'none'}; give the one that starts its work: "
                "--trigger connect | get:/PATH | emit:EVENT[:JSON]"]
    mode, patch = cell_id.split("-")[:2]
    return remedies(async_mode or mode, patch, verdict or "delivered")


def cadence_of(obs: Observation) -> float | None:
    """The median gap between the app's emits in the window, in seconds."""
    times = [e.at for e in obs.emitted]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return round(statistics.median(gaps), 3) if gaps else None


def waited(obs: Observation) -> float | None:
    """How long the window watched, in seconds."""
    if obs.connected_at is None or obs.traffic_end is None:
        return None
    return round(obs.traffic_end - obs.connected_at, 1)

