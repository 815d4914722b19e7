"""The oracle for the app shapes of tests/apps/shapes: what a plain client sees
when a shape runs the way its own code runs it.

No emitcheck code is used here. For one shape, ``observe()``:

1. starts ``python FILE.py`` (the shape's own ``__main__``, its own patching
   and async mode) with ``PORT`` and whatever environment the shape needs, in
   its own session, its output in a log file; for a shape's ``imported``
   variant, a two-line bootstrap imports the module and calls
   ``socketio.run`` instead, so its ``main()`` never runs (as under gunicorn);
2. waits, bounded, until the port listens (or the process exits);
3. connects a plain ``socketio.Client`` with the shape's credentials (auth
   dict, headers, query string) to the shape's namespace, and records how the
   connect went: ``ok``, ``refused`` (the server answered with a rejection,
   with its message) or ``no_answer``;
4. runs the shape's triggers (an HTTP GET, or an emit), then watches a fixed
   window and records the time of every arrival of the watched event;
5. always kills the whole process tree: the process group, every descendant
   psutil found while it ran, and any process that still carries the run's
   marker in its environment (a child that left the group and its parent).

``outcome()`` reduces what was seen to one word, against the shape's
*design* (``Design``: how often it emits, how many at a time):

- ``steady``: events kept arriving through the window at about the designed
  cadence (no silence longer than the design allows, at least half of the
  designed count; one event for a greeting);
- ``bursty``: events arrived, but with longer silences, or far fewer, than
  the design has: clumped after long gaps;
- ``none``: connected, and no event arrived;
- ``stopped``: no event arrived, and the server no longer answers a plain
  HTTP GET of its Socket.IO handshake (asked once the window is over, or the
  connect failed, only then, bounded by the connect's own timeout): a blocked
  server, however far its client's connect got;
- ``refused``: the server answered the connect with a rejection;
- ``no_answer``: the connect got no answer.

Every limit is a multiple of the design's own cadence or a share of the
window: nothing in the reduction is an absolute time.

As a script, it measures the corpus (``--runs N``) and can run today's
``emitcheck app`` on each shape (``--emitcheck``):

    .tox/suite/bin/python -m tests.oracle --runs 3 [SHAPE ...]
    .tox/suite/bin/python -m tests.oracle --runs 0 --emitcheck [SHAPE ...]
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

SHAPES_DIR = Path(__file__).parent / "apps" / "shapes"

#: Bounds of the oracle's own waits (seconds). Generous: a shape imports a
#: whole stack on a busy 2-core machine. They bound waiting, they judge nothing.
LISTEN_TIMEOUT = 40.0
TRIGGER_TIMEOUT = 10.0
REDIS_TIMEOUT = 10.0
#: How long a shape that already listens has to answer: the client's handshake,
#: then its namespace's connect, each; and the plain GET asked when no event
#: came. These judge: past them the connect had no answer, or the server has
#: stopped. A shape that answers does so within a tenth of a second, on a
#: loaded machine too (``Seen.connect_s``); one whose loop is blocked never
#: does, and its test waits out every one of these seconds.
CONNECT_TIMEOUT = 5.0
#: The backstop of one connect: its two timeouts, and 2 s (``_connect``).
CONNECT_BOUND = 2 * CONNECT_TIMEOUT + 2
#: The environment variable that marks every process of one oracle run.
MARKER = "EMITCHECK_ORACLE_RUN"

for _name in ("engineio.client", "socketio.client"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


class OracleError(RuntimeError):
    """The oracle could not observe the shape (it never listened, it exited, a
    service did not start); says what it waited for."""


# --------------------------------------------------------------------------- the corpus

@dataclass(frozen=True)
class Design:
    """How a shape emits, by design: every ``every`` seconds, ``batch`` events
    back to back; ``once``: a single event when a client connects."""
    every: float
    batch: int = 1
    once: bool = False

    def describe(self) -> str:
        if self.once:
            return "one event per connect"
        if self.batch > 1:
            return f"{self.batch} events every {self.every:g} s"
        return f"every {self.every:g} s"


STREAM = Design(0.2)


@dataclass(frozen=True)
class Shape:
    """One app shape, as its authors run it, and what emitcheck needs for it."""
    id: str
    run: str                     # the file its authors run, relative to SHAPES_DIR
    target: str                  # what to pass emitcheck: MODULE:ATTR (MODULE in run's folder)
    event: str
    design: Design = STREAM
    namespace: str = "/"
    triggers: tuple[str, ...] = ()     # emitcheck's syntax: get:/PATH, emit:EVENT[:JSON]
    auth: dict | None = None
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    setup: str | None = None     # MODULE:FUNCTION: what main() does before socketio.run
    redis: bool = False          # needs a Redis server; its URL in REDIS_URL
    imported: bool = False       # served as imported: main() never runs
    window: float = 5.0          # the oracle's window, in seconds
    #: For a shape whose events never arrive: a regex the evidence of emitcheck's
    #: silent/lost verdict must match (the cause).
    cause: str | None = None

    @property
    def path(self) -> Path:
        return SHAPES_DIR / self.run

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def pattern(self) -> str:
        """The first sentence of the run file's docstring (read, never imported)."""
        doc = ast.get_docstring(ast.parse(self.path.read_text())) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        return first.split(". ")[0].rstrip(".")


def _without(shape: Shape, suffix: str, **changes) -> Shape:
    return replace(shape, id=f"{shape.id}-{suffix}", **changes)


_AUTH_TOKEN = Shape("auth_token", "auth_token.py", "auth_token:socketio", "balance",
                    auth={"token": "s3cret"})
_AUTH_HEADER = Shape("auth_header", "auth_header.py", "auth_header:socketio", "metric",
                     headers=(("X-API-KEY", "k-123"),))
_AUTH_COOKIE = Shape("auth_cookie", "auth_cookie.py", "auth_cookie:socketio", "notification",
                     headers=(("Cookie", "session_id=abc"),))
_AUTH_QUERY = Shape("auth_query", "auth_query.py", "auth_query:socketio", "quote",
                    query=(("token", "t0k"),))
_CONNECT_RAISES = Shape("connect_raises", "connect_raises.py", "connect_raises:socketio",
                        "room_event", setup="connect_raises:configure")
_NEEDS_SETUP = Shape("needs_setup", "needs_setup.py", "needs_setup:socketio", "gauge",
                     setup="needs_setup:start_feed")

SHAPES: tuple[Shape, ...] = (
    # patching
    Shape("eventlet_first", "eventlet_first.py", "eventlet_first:socketio", "tick"),
    Shape("gevent_first", "gevent_first.py", "gevent_first:socketio", "reading"),
    Shape("patched_in_wsgi", "patched_in_wsgi/wsgi.py", "wsgi:app", "score"),
    # layouts
    Shape("factory_chat", "factory_chat/chat.py", "app:create_app()", "status",
          namespace="/chat", triggers=("emit:joined:{}",)),
    Shape("namespace_only", "namespace_only.py", "namespace_only:socketio", "number",
          namespace="/live"),
    Shape("class_namespace", "class_namespace.py", "class_namespace:socketio", "update",
          namespace="/feed"),
    Shape("wrong_namespace", "wrong_namespace.py", "wrong_namespace:socketio", "my_response",
          cause=r"/test"),
    # where the work starts
    Shape("start_at_import", "start_at_import.py", "start_at_import:socketio", "heartbeat"),
    Shape("start_on_connect", "start_on_connect.py", "start_on_connect:socketio",
          "my_response"),
    Shape("start_on_route", "start_on_route.py", "start_on_route:socketio", "progress",
          triggers=("get:/start",)),
    Shape("start_on_event", "start_on_event.py", "start_on_event:socketio", "log_line",
          triggers=("emit:start",)),
    # the classic bugs
    Shape("thread_unpatched", "thread_unpatched.py", "thread_unpatched:socketio",
          "sim_status", triggers=("get:/start",),
          cause=r"\d+ of \d+ emitted events received|emitted \d+"),
    Shape("gevent_unpatched", "gevent_unpatched.py", "gevent_unpatched:socketio", "message",
          cause=r"\d+ of \d+ emitted events received|emitted \d+"),
    # connect handlers and credentials
    _CONNECT_RAISES,
    _without(_CONNECT_RAISES, "imported", setup=None, imported=True),
    _AUTH_TOKEN, _without(_AUTH_TOKEN, "no_auth", auth=None),
    _AUTH_HEADER, _without(_AUTH_HEADER, "no_header", headers=()),
    _AUTH_COOKIE, _without(_AUTH_COOKIE, "no_cookie", headers=()),
    _AUTH_QUERY, _without(_AUTH_QUERY, "no_query", query=()),
    # set-up done by main()
    Shape("needs_env", "needs_env.py", "needs_env:socketio", "ticker",
          env=(("FEED_SYMBOL", "ACME"),)),
    _NEEDS_SETUP,
    _without(_NEEDS_SETUP, "imported", setup=None, imported=True,
             cause=r"emitted nothing|no 'gauge' event"),
    # external services
    Shape("redis_relay", "redis_relay.py", "redis_relay:socketio", "price", redis=True),
    Shape("redis_queue", "redis_queue.py", "redis_queue:socketio", "job_update", redis=True),
    # cadences by design
    Shape("batches", "batches.py", "batches:socketio", "log_batch_item",
          design=Design(1.0, batch=10)),
    Shape("greeting", "greeting.py", "greeting:socketio", "welcome",
          design=Design(0.0, once=True)),
    Shape("hold_flush", "hold_flush.py", "hold_flush:socketio", "reading",
          design=Design(3.0, batch=15), window=7.0),
    Shape("large_payload", "large_payload.py", "large_payload:socketio", "frame",
          design=Design(0.5)),
    Shape("high_rate", "high_rate.py", "high_rate:socketio", "sample",
          design=Design(0.001)),
    # written by another engineer: apps that spawn children, and the reloader
    Shape("spawns_pty", "spawns_pty.py", "spawns_pty:socketio", "tick"),
    Shape("spawns_popen", "spawns_popen.py", "spawns_popen:socketio", "tick"),
    Shape("debug_reloader", "debug_reloader.py", "debug_reloader:socketio", "tick"),
    # python-socketio without Flask-SocketIO: its Server, ASGI (FastAPI) and aiohttp
    Shape("server_eventlet_first", "server_eventlet_first.py", "server_eventlet_first:sio",
          "progress"),
    Shape("server_thread_unpatched", "server_thread_unpatched.py",
          "server_thread_unpatched:sio", "progress", triggers=("get:/start",),
          cause="OS thread"),
    Shape("fastapi_lifespan", "fastapi_lifespan.py", "fastapi_lifespan:app", "price"),
    Shape("fastapi_unawaited", "fastapi_unawaited.py", "fastapi_unawaited:app", "reading",
          cause="never awaited"),
    Shape("fastapi_import_loop", "fastapi_import_loop.py", "fastapi_import_loop:app",
          "telemetry", cause=r"onto a loop that is not the server's running loop"),
    Shape("aiohttp_factory", "aiohttp_factory.py", "aiohttp_factory:create_app()", "tick"),
    Shape("aiohttp_time_sleep", "aiohttp_time_sleep.py", "aiohttp_time_sleep:app", "status",
          triggers=("emit:watch",), cause=r"time\.sleep"),
)


def shapes(names: list[str] | None = None) -> list[Shape]:
    """The shapes whose file exists (all, or those named)."""
    found = [s for s in SHAPES if s.path.exists()]
    if names:
        unknown = set(names) - {s.id for s in SHAPES}
        if unknown:
            raise SystemExit(f"no such shape: {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(s.id for s in SHAPES)}")
        found = [s for s in found if s.id in names]
    return found


# --------------------------------------------------------------------------- what was seen

@dataclass
class Seen:
    """One run of one shape: the connect, the arrivals, the server's log."""
    shape: str
    window: float
    connect: str = "ok"            # ok | refused | no_answer
    connect_message: str = ""      # the rejection's message, or the client's error
    rejection: str | None = None   # the message the server refused the connect with
    connect_s: float | None = None
    arrivals: list[float] = field(default_factory=list)  # seconds after the triggers ran
    triggers: list[str] = field(default_factory=list)    # what each trigger got
    exception: str | None = None   # the last traceback's exception line in the log
    exited: int | None = None      # the server's exit status, if it ended in the window
    #: Asked only when no event arrived: did a plain GET of the Socket.IO
    #: handshake get an answer once the window was over?
    answers: bool | None = None
    log_tail: str = ""

    def to_json(self) -> dict:
        return {**self.__dict__, "arrivals": [round(a, 4) for a in self.arrivals]}


def outcome(seen: Seen, design: Design) -> tuple[str, str]:
    """(outcome, why) for what was seen, judged against the shape's design."""
    if seen.connect == "refused":
        return "refused", f"refused: {seen.connect_message}"
    count = len(seen.arrivals)
    if count == 0 and seen.answers is False:
        return "stopped", (f"no event (connect: {seen.connect}), and then a plain GET got no "
                           f"answer within {CONNECT_TIMEOUT:g} s")
    if seen.connect == "no_answer":
        return "no_answer", f"no answer: {seen.connect_message}"
    if count == 0:
        return "none", f"connected, no event in {seen.window:g} s"
    if design.once:
        return "steady", f"{count} event(s), as designed (one per connect)"
    window = seen.window
    # The longest silence the design allows: two and a half of its periods,
    # and never less than a tenth of the window (a design faster than the
    # client can take one event at a time streams, it does not tick).
    allowed = max(2.5 * design.every, window / 10)
    inside = sorted(a for a in seen.arrivals if a <= window)
    edges = [0.0, *inside, window]
    longest = max(b - a for a, b in zip(edges, edges[1:], strict=False))
    designed = design.batch * window / design.every
    clumps = 1 + sum(1 for a, b in zip(inside, inside[1:], strict=False) if b - a > allowed)
    summary = (f"{count} events, longest silence {longest:.2f} s (the design allows "
               f"{allowed:.2f} s), {count / designed:.0%} of the {designed:.0f} designed")
    if longest <= allowed and count >= 0.5 * designed:
        return "steady", summary
    return "bursty", f"{summary}; {clumps} clump(s)"


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_us() -> list[str]:
    """argv prefix that makes the kernel kill the child if this thread dies."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if sys.platform.startswith("linux") \
        and setpriv else []


def marked(run_id: str) -> list[psutil.Process]:
    """Live processes that carry this run's marker in their environment."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.environ().get(MARKER) == run_id:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Tree:
    """A process started in its own session, and everything it starts."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.run_id = uuid.uuid4().hex
        self.log = log
        self.seen_children: dict[int, psutil.Process] = {}
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(
                _die_with_us() + argv, cwd=cwd, env={**env, MARKER: self.run_id},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def note_children(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.popen.pid).children(recursive=True):
                self.seen_children.setdefault(child.pid, child)

    def kill(self) -> None:
        """SIGKILL to the group, to every descendant seen, to every marked process."""
        self.note_children()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        others = list(self.seen_children.values()) + marked(self.run_id)
        for proc in others:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired as exc:
            raise OracleError(f"the shape's process {self.popen.pid} did not end within "
                              "10 s of SIGKILL") from exc
        psutil.wait_procs(others, timeout=5)

    def leftovers(self) -> list[psutil.Process]:
        return marked(self.run_id)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def wait_listening(tree: Tree, port: int, timeout: float = LISTEN_TIMEOUT) -> float:
    """Seconds until 127.0.0.1:port accepts; OracleError if the process exits or
    the bound passes first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        tree.note_children()
        status = tree.popen.poll()
        if status is not None:
            raise OracleError(f"the shape exited with status {status} before listening on "
                              f"port {port}: {_last_line(tree.log_text())}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return time.monotonic() - start
        time.sleep(0.05)
    raise OracleError(f"timed out after {timeout:g} s waiting for the shape to listen on "
                      f"port {port}; its log ends: {_last_line(tree.log_text())}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(empty log)"


def exception_line(log: str) -> str | None:
    """The exception line of the last traceback in a log, if any."""
    lines = log.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if not heads:
        return None
    for line in lines[heads[-1] + 1:]:
        if line.strip() and not line[0].isspace():
            return line.strip()[:200]
    return None


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A redis-server of our own on a free loopback port, no persistence; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise OracleError("redis-server is not installed (Debian: apt-get install redis-server)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    tree = Tree([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(workdir)], workdir, dict(os.environ),
                workdir / "redis.log")
    try:
        deadline = time.monotonic() + REDIS_TIMEOUT
        while True:
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", port), 0.5) as sock:
                sock.settimeout(1.0)
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
            if tree.popen.poll() is not None or time.monotonic() > deadline:
                raise OracleError(f"timed out after {REDIS_TIMEOUT:g} s waiting for "
                                  f"redis-server to answer PING on port {port}: "
                                  f"{_last_line(tree.log_text())}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        tree.kill()


# --------------------------------------------------------------------------- one run

_IMPORTED = """\
import os, sys
sys.path.insert(0, os.getcwd())
import flask, importlib
module = importlib.import_module(sys.argv[1])
app = next(v for v in vars(module).values() if isinstance(v, flask.Flask))
module.socketio.run(app, port=int(os.environ["PORT"]), allow_unsafe_werkzeug=True)
"""


def argv_of(shape: Shape) -> list[str]:
    """How the shape runs: its own file, or imported (main() never runs)."""
    if shape.imported:
        return [sys.executable, "-c", _IMPORTED, shape.module]
    return [sys.executable, shape.path.name]


def environment(shape: Shape, port: int, redis_url: str | None) -> dict[str, str]:
    env = {**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1", **dict(shape.env)}
    if shape.redis:
        if redis_url is None:
            raise OracleError(f"shape {shape.id} needs Redis: pass redis_url")
        env["REDIS_URL"] = redis_url
    return env


def _connect_url(shape: Shape, port: int) -> str:
    url = f"http://127.0.0.1:{port}"
    return f"{url}?{urllib.parse.urlencode(shape.query)}" if shape.query else url


def _run_trigger(client, shape: Shape, port: int, trigger: str) -> str:
    kind, _, rest = trigger.partition(":")
    if kind == "get":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{rest}",
                                        timeout=TRIGGER_TIMEOUT) as response:
                return f"{trigger}: HTTP {response.status}"
        except (OSError, urllib.error.URLError) as exc:
            return f"{trigger}: {type(exc).__name__}: {exc}"
    if kind == "emit":
        event, _, payload = rest.partition(":")
        client.emit(event, json.loads(payload) if payload else None, namespace=shape.namespace)
        return f"{trigger}: sent"
    return f"{trigger}: nothing to do"


def _connect(client, shape: Shape, port: int, rejections: list) -> tuple[str, str]:
    """("ok" | "refused" | "no_answer", message). Bounded: the client's own
    timeouts (the handshake's, then the namespace's: CONNECT_TIMEOUT each), and
    a thread joined 2 s past both as a backstop (a client that gave up on the
    namespace then waits for its disconnect, which a blocked server never
    answers)."""
    import socketio

    answer: list[tuple[str, str]] = []

    def attempt():
        try:
            client.connect(_connect_url(shape, port), headers=dict(shape.headers),
                           auth=shape.auth, namespaces=[shape.namespace],
                           wait_timeout=CONNECT_TIMEOUT)
            answer.append(("ok", ""))
        except socketio.exceptions.ConnectionError as exc:
            answer.append(("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 -- recorded, judged below
            answer.append(("error", f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(CONNECT_BOUND)
    if not answer:
        return "no_answer", f"the connect did not return within {CONNECT_BOUND:g} s"
    kind, message = answer[0]
    if kind == "ok":
        return "ok", ""
    if rejections:  # a CONNECT_ERROR packet: the server answered, with a rejection
        reason = rejections[0]
        text = reason.get("message", reason) if isinstance(reason, dict) else reason
        return "refused", f"{text} ({message})"
    if "status code" in message:  # an HTTP error status: an answer too
        return "refused", message
    return "no_answer", message


def observe(shape: Shape, workdir: Path, *, window: float | None = None,
            redis_url: str | None = None) -> Seen:
    """Run the shape as its authors do, watch one window, kill everything."""
    import socketio

    window = shape.window if window is None else window
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    seen = Seen(shape.id, window)
    tree = Tree(argv_of(shape), shape.folder, environment(shape, port, redis_url),
                workdir / f"{shape.id}.log")
    client = socketio.Client(reconnection=False, handle_sigint=False,
                             request_timeout=CONNECT_TIMEOUT)
    try:
        wait_listening(tree, port)
        clock = {"t0": time.monotonic()}
        lock = threading.Lock()
        arrivals: list[float] = []
        rejections: list = []

        def arrived(*_args):
            with lock:
                arrivals.append(time.monotonic())

        def rejected(data=None, *_more):
            rejections.append(data if data is not None else "")

        client.on(shape.event, arrived, namespace=shape.namespace)
        client.on("connect_error", rejected, namespace=shape.namespace)
        began = time.monotonic()
        seen.connect, seen.connect_message = _connect(client, shape, port, rejections)
        if seen.connect == "refused" and rejections:
            reason = rejections[0]
            seen.rejection = str(reason.get("message", reason) if isinstance(reason, dict)
                                 else reason)
        seen.connect_s = round(time.monotonic() - began, 3)
        if seen.connect == "ok":
            clock["t0"] = time.monotonic()
            for trigger in shape.triggers:
                seen.triggers.append(_run_trigger(client, shape, port, trigger))
            deadline = clock["t0"] + window
            while time.monotonic() < deadline:
                tree.note_children()
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            with lock:
                # Events that came with the connect (a greeting) count from t0.
                seen.arrivals = [max(0.0, a - clock["t0"]) for a in arrivals]
        if seen.connect != "refused" and not seen.arrivals:
            seen.answers = _answers(port)
        seen.exited = tree.popen.poll()
    finally:
        _disconnect(client)
        tree.kill()
        log = tree.log_text()
        seen.exception = exception_line(log)
        seen.log_tail = "\n".join(log.splitlines()[-15:])
        left = tree.leftovers()
        if left:
            raise OracleError(f"processes of {shape.id} survived the kill: "
                              f"{[p.pid for p in left]}")
    return seen


def _answers(port: int) -> bool:
    """Does the server answer a plain GET of its Socket.IO handshake (any
    status), within the connect's own bound?"""
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT):
            return True
    except urllib.error.HTTPError:
        return True  # an error status is an answer
    except OSError:
        return False


def _disconnect(client) -> None:
    thread = threading.Thread(target=client.disconnect, daemon=True)
    thread.start()
    thread.join(5)


@contextlib.contextmanager
def services(shape: Shape, workdir: Path) -> Iterator[str | None]:
    """What the shape needs besides itself: a private Redis, or nothing."""
    if shape.redis:
        with private_redis(workdir / "redis") as url:
            yield url
    else:
        yield None


# --------------------------------------------------------------------------- emitcheck's side

#: The app's own row under socketio.run: its own mode, nothing patched by us.
OWN_ROW = "auto-unpatched-app-own"


def emitcheck_args(shape: Shape, redis_url: str | None, *, timeout: float = 8.0,
                   today: bool = False) -> list[str]:
    """``emitcheck app`` arguments for the shape, restricted to its own row.
    ``today``: only the options emitcheck had before the lead's change (the
    environment then goes through the process's own environment: see
    ``emitcheck_env``), and every row."""
    args = [shape.target, "--event", shape.event, "--path", str(shape.folder),
            "--json", "--timeout", f"{timeout:g}"]
    if shape.namespace != "/":
        args += ["--namespace", shape.namespace]
    for trigger in shape.triggers:
        args += ["--trigger", trigger]
    if today:
        return args
    args += ["-k", OWN_ROW]
    if shape.auth is not None:
        args += ["--auth", json.dumps(shape.auth)]
    for name, value in shape.headers:
        args += ["--header", f"{name}:{value}"]
    for name, value in shape.query:
        args += ["--query", f"{name}={value}"]
    if shape.setup:
        args += ["--setup", shape.setup]
    for name, value in shape.env:
        args += ["--env", f"{name}={value}"]
    if shape.redis and redis_url:
        args += ["--env", f"REDIS_URL={redis_url}"]
    return args


def emitcheck_env(shape: Shape, redis_url: str | None, tmp: Path, *,
                  today: bool = False) -> dict[str, str]:
    """The CLI's environment: TMPDIR for its files; for today's runs, also the
    variables the shape needs (the only way to give them before --env). The
    oracle's marker is never passed on."""
    env = {k: v for k, v in os.environ.items() if k != MARKER}
    env["TMPDIR"] = str(tmp)
    if today:
        env.update(shape.env)
        if shape.redis and redis_url:
            env["REDIS_URL"] = redis_url
    return env


def expected_verdicts(shape: Shape, seen: Seen, result: str) -> set[str]:
    """The verdicts of emitcheck's own row that agree with the oracle's outcome."""
    return {
        "steady": {"delivered"},
        "bursty": {"delayed"} | ({"delivered"} if shape.design.batch > 1 else set()),
        "none": {"silent", "lost"},
        "stopped": {"starved"},
        "refused": {"error"},
        "no_answer": {"error"} if seen.exception else {"starved", "lost"},
    }[result]


def run_emitcheck(args: list[str], env: dict[str, str], timeout: float = 600
                  ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emitcheck", "app", *args], env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- the script

def _measure(selected: list[Shape], runs: int, workdir: Path) -> dict:
    table: dict = {}
    for shape in selected:
        rows = table.setdefault(shape.id, [])
        for number in range(runs):
            with services(shape, workdir / shape.id) as url:
                try:
                    seen = observe(shape, workdir / shape.id / f"run{number}", redis_url=url)
                    result, why = outcome(seen, shape.design)
                except OracleError as exc:
                    seen, result, why = None, "oracle-error", str(exc)
            rows.append({"outcome": result, "why": why,
                         "seen": seen.to_json() if seen else None})
            print(f"{shape.id:28} run {number + 1}: {result:9} {why}"
                  + (f"  [{seen.exception}]" if seen and seen.exception else ""), flush=True)
    return table


def _today(selected: list[Shape], workdir: Path) -> dict:
    found: dict = {}
    for shape in selected:
        tmp = workdir / f"emitcheck-{shape.id}"
        tmp.mkdir(parents=True, exist_ok=True)
        with services(shape, tmp) as url:
            began = time.monotonic()
            proc = run_emitcheck(emitcheck_args(shape, url, timeout=10, today=True),
                                 emitcheck_env(shape, url, tmp, today=True))
            took = time.monotonic() - began
        entry: dict = {"exit": proc.returncode, "seconds": round(took, 1)}
        try:
            data = json.loads(proc.stdout)
            rows = sorted(data["results"], key=lambda r: r["cell"] != OWN_ROW)
            entry["own_mode"] = data.get("app", {}).get("own_async_mode")
            entry["cells"] = [{k: r.get(k) for k in ("cell", "verdict", "evidence",
                                                       "remedies", "skipped", "async_mode")}
                              for r in rows]
        except (ValueError, KeyError):
            entry["stderr"] = proc.stderr.strip().splitlines()[-3:]
        found[shape.id] = entry
        own = entry.get("cells", [{}])[0]
        print(f"{shape.id:28} exit {proc.returncode} {took:5.0f} s  own row: "
              f"{own.get('verdict')}: {own.get('evidence') or entry.get('stderr')}", flush=True)
    return found


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="shape ids (default: all)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--emitcheck", action="store_true",
                        help="also run today's 'emitcheck app' on each shape (every row)")
    parser.add_argument("--json", type=Path, help="write what was measured to this file")
    options = parser.parse_args(argv)
    selected = shapes(options.names)
    with tempfile.TemporaryDirectory(prefix="emitcheck-oracle-") as tmp:
        found = {"oracle": _measure(selected, options.runs, Path(tmp))}
        if options.emitcheck:
            found["emitcheck"] = _today(selected, Path(tmp))
    if options.json:
        options.json.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
