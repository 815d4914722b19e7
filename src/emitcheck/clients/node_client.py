"""A second, independent client: the official JavaScript socket.io-client on Node.js.

``run_node_client()`` runs ``node/probe.js`` (shipped in the package), which
does what the client part of ``probe.observe()`` does (connect, quiet, traffic,
drain) and prints the Observation fields it fills as one JSON object, so the
same verdict code can judge what a JavaScript client sees. Its socket.io-client
is installed on first use into a cache folder (node_install.py; ``emitcheck
node-install`` does it ahead). ``EMITCHECK_NODE_DIR`` names a prepared directory
instead: one with its own probe.js and ``node_modules`` (``npm ci`` run in a copy
of ``node/``); emitcheck then installs nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from emitcheck.clients.node_install import (
    SHIPPED,
    NodeInstallError,
    ensure,
    is_installed,
    node_env,
)
from emitcheck.model.results import (
    Ack,
    Arrival,
    Credentials,
    HttpGet,
    Observation,
    Target,
    Timing,
)
from emitcheck.system import binaries
from emitcheck.system.process import die_with_parent_prefix, run_bounded

NODE_DIR_ENV = "EMITCHECK_NODE_DIR"
#: probe.js reads the credentials (``Credentials.to_json()``) from this variable,
#: not from its command line, which every user of the machine can read (ps).
CREDENTIALS_ENV = "EMITCHECK_CREDENTIALS"
STDERR_TAIL_CHARS = 2000
#: Seconds allowed, on top of probe.js's own bound, for Node to start on a busy machine.
STARTUP_GRACE = 5.0


class NodeClientError(Exception):
    """The Node client cannot run, or probe.js failed, printed no JSON, or did
    not exit in time; says why."""


@dataclass(frozen=True)
class NodeClient:
    """probe.js and the ``node_modules`` folder its ``require()`` reads."""
    script: Path
    modules: Path


def locate() -> NodeClient:
    """The Node client to run: ``EMITCHECK_NODE_DIR``'s, else the shipped probe.js
    with the cache folder's modules (installed now if they are not yet)."""
    if (missing := binaries.unavailable("node")) is not None:
        raise NodeClientError(missing)
    prepared = os.environ.get(NODE_DIR_ENV)
    if prepared:
        directory = Path(prepared)
        if not (directory / "probe.js").is_file():
            raise NodeClientError(
                f"no probe.js in {directory} ({NODE_DIR_ENV} must name a directory with "
                "probe.js and node_modules; unset, emitcheck installs its own)")
        if not is_installed(directory):
            raise NodeClientError(f"socket.io-client is not installed in {directory}: "
                                  f"run 'npm ci --prefix {directory}'")
        return NodeClient(directory / "probe.js", directory / "node_modules")
    try:
        return NodeClient(SHIPPED / "probe.js", ensure() / "node_modules")
    except NodeInstallError as exc:
        raise NodeClientError(str(exc)) from None


def node_unavailable() -> str | None:
    """A one-line reason when the Node client cannot run, else None. The first
    call installs socket.io-client when it is not installed yet."""
    try:
        locate()
    except NodeClientError as exc:
        return str(exc)
    return None


def watch(obs: Observation, target: Target, timing: Timing,
          window_over: Callable[[], None]) -> None:
    """Watch one window with probe.js; fill ``obs`` with what it saw. probe.js
    disconnects before it exits, so ``window_over`` runs after that."""
    fill(obs, run_node_client(target.url, target.transport, timing,
                              credentials=target.credentials))
    if (node := binaries.find("node")) is not None:  # which Node.js ran the client
        obs.facts["node"] = f"{node.version} ({node.origin})"
    window_over()


def fill(obs: Observation, seen: dict) -> None:
    """Put what probe.js printed into ``obs``, as named records."""
    for name in ("connect_ms", "connect_error", "connected_at", "quiet_end", "traffic_end"):
        setattr(obs, name, seen.get(name))
    obs.acks = [Ack(*item) for item in seen.get("acks", [])]
    obs.http = [HttpGet(*item) for item in seen.get("http", [])]
    obs.received = [Arrival(*item) for item in seen.get("received", [])]
    if seen.get("transport"):  # a prepared EMITCHECK_NODE_DIR's older probe.js has none
        obs.facts["transport"] = seen["transport"]
    if seen.get("other_events"):  # {name: count}; said only when there were some
        from emitcheck.clients.python_client import other_events

        obs.facts["other events"] = other_events(seen["other_events"])
    if seen.get("triggers"):  # what each --trigger did (emitcheck probe)
        obs.facts["triggers"] = "; ".join(seen["triggers"])


def run_node_client(base: str, transport: str, timing: Timing, *, window: dict | None = None,
                    target: dict | None = None, bound: float | None = None,
                    credentials: Credentials | None = None) -> dict:
    """Probe the server at ``base`` with probe.js; return the fields it observed.
    ``window`` adds to the timing it is given (an adaptive window's constants),
    ``target`` is its optional 4th argument (event, ack event, paths, triggers),
    ``bound`` replaces the default wait for it (a fixed window's), and
    ``credentials`` go to it in the environment (CREDENTIALS_ENV)."""
    client = locate()
    node = binaries.find("node")
    assert node is not None  # locate() found it
    # probe.js exits within this on its own; the grace covers Node's start-up.
    bound = bound or (timing.quiet + timing.traffic + timing.drain
                      + 3 * timing.response_timeout + 2 + STARTUP_GRACE)
    argv = [*die_with_parent_prefix(), *node.argv, str(client.script), base, transport,
            json.dumps({**asdict(timing), **(window or {})}),
            *([json.dumps(target)] if target else [])]
    try:
        env = node_env(client.modules)
        env.pop(CREDENTIALS_ENV, None)  # only ours: never one inherited from the caller
        if credentials:
            env[CREDENTIALS_ENV] = json.dumps(credentials.to_json())
        done = run_bounded(argv, client.modules.parent, bound, env)
    except subprocess.TimeoutExpired as exc:
        raise NodeClientError(
            f"node probe.js did not exit within {bound:g} s (connect, the window, "
            f"response timeouts and start-up): {_tail(exc.stderr)}") from None
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise NodeClientError(f"node probe.js exited with status {done.returncode} "
                              f"without printing JSON: {_tail(done.stderr)}") from None


def _tail(stderr: bytes | None) -> str:
    text = (stderr or b"").decode(errors="replace").strip()
    return text[-STDERR_TAIL_CHARS:] if text else "(no stderr)"
