"""A second, independent client: the official JavaScript socket.io-client on Node.js.

``run_node_client()`` runs ``node/probe.js``, which does what the client part of
``probe.observe()`` does (connect, quiet, traffic, drain) and prints the
Observation fields it fills as one JSON object, so the same verdict code can
judge what a JavaScript client sees. The Node dependencies live in emitcheck's
``node/`` directory (``npm ci --prefix node``); ``EMITCHECK_NODE_DIR`` points
elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .model import Ack, Arrival, HttpGet, Observation, Target, Timing
from .process import die_with_parent_prefix

NODE_DIR_ENV = "EMITCHECK_NODE_DIR"
STDERR_TAIL_CHARS = 2000
#: Seconds allowed, on top of probe.js's own bound, for Node to start on a busy machine.
STARTUP_GRACE = 5.0


class NodeClientError(Exception):
    """probe.js failed, printed no JSON, or did not exit in time; says why."""


def node_dir() -> Path:
    """Where probe.js and its node_modules are: ``EMITCHECK_NODE_DIR``, else
    ``./node``, else the ``node/`` of the checkout emitcheck runs from (an
    editable install)."""
    value = os.environ.get(NODE_DIR_ENV)
    if value:
        return Path(value)
    here, checkout = Path.cwd() / "node", Path(__file__).resolve().parents[2] / "node"
    return checkout if not (here / "probe.js").is_file() and \
        (checkout / "probe.js").is_file() else here


def node_unavailable() -> str | None:
    """A one-line reason when the Node client cannot run, else None."""
    if shutil.which("node") is None:
        return "node not found on PATH"
    directory = node_dir()
    if not (directory / "probe.js").is_file():
        return f"no probe.js in {directory} (set {NODE_DIR_ENV} to emitcheck's node/ directory)"
    if not (directory / "node_modules" / "socket.io-client" / "package.json").is_file():
        return (f"socket.io-client is not installed in {directory}: "
                f"run 'npm ci --prefix {directory}'")
    return None


def watch(obs: Observation, target: Target, timing: Timing,
          window_over: Callable[[], None]) -> None:
    """Watch one window with probe.js; fill ``obs`` with what it saw. probe.js
    disconnects before it exits, so ``window_over`` runs after that."""
    fill(obs, run_node_client(target.url, target.transport, timing))
    window_over()


def fill(obs: Observation, seen: dict) -> None:
    """Put what probe.js printed into ``obs``, as named records."""
    for name in ("connect_ms", "connect_error", "connected_at", "quiet_end", "traffic_end"):
        setattr(obs, name, seen.get(name))
    obs.acks = [Ack(*item) for item in seen.get("acks", [])]
    obs.http = [HttpGet(*item) for item in seen.get("http", [])]
    obs.received = [Arrival(*item) for item in seen.get("received", [])]


def run_node_client(base: str, transport: str, timing: Timing, *, window: dict | None = None,
                    target: dict | None = None, bound: float | None = None) -> dict:
    """Probe the server at ``base`` with probe.js; return the fields it observed.
    ``window`` adds to the timing it is given (an adaptive window's constants),
    ``target`` is its optional 4th argument (event, ack event, paths), and
    ``bound`` replaces the default wait for it (a fixed window's)."""
    reason = node_unavailable()
    if reason:
        raise NodeClientError(reason)
    directory = node_dir()
    node = shutil.which("node")
    assert node is not None  # node_unavailable() found it
    # probe.js exits within this on its own; the grace covers Node's start-up.
    bound = bound or (timing.quiet + timing.traffic + timing.drain
                      + 3 * timing.response_timeout + 2 + STARTUP_GRACE)
    argv = [*die_with_parent_prefix(), node, str(directory / "probe.js"), base, transport,
            json.dumps({**asdict(timing), **(window or {})}),
            *([json.dumps(target)] if target else [])]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=directory, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, stderr = proc.communicate()
        raise NodeClientError(
            f"node probe.js did not exit within {bound:g} s (connect, the window, "
            f"response timeouts and start-up): {_tail(stderr)}") from None
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise NodeClientError(f"node probe.js exited with status {proc.returncode} "
                              f"without printing JSON: {_tail(stderr)}") from None


def _tail(stderr: bytes) -> str:
    text = stderr.decode(errors="replace").strip()
    return text[-STDERR_TAIL_CHARS:] if text else "(no stderr)"
