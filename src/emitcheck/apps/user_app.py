"""The user's app under test: what to load, what to watch for, and how its
cells' servers run it (app_child.py) and log its emits. The family that
declares its cells is families/app.py."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emitcheck.model.credentials import Credentials
from emitcheck.model.docs import OWN_APP as DOC
from emitcheck.model.results import Arrival, Emit, Observation, Target
from emitcheck.running.work import OurWork
from emitcheck.scripts import script
from emitcheck.system import warden
from emitcheck.system.process import run_bounded

APP_CHILD = script("app_child")
#: Seconds for ``check`` to import the app: an app that starts a server at
#: import (outside ``if __name__ == "__main__"``) never returns.
IMPORT_TIMEOUT = 30.0
#: Every Socket.IO server answers this (an Engine.IO handshake); an app may
#: have no other route.
SOCKETIO_GET = "/socket.io/?EIO=4&transport=polling"
#: Events of this many bytes on average are large: a window waits for them.
LARGE_EVENT_BYTES = 256 * 1024
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
    app: str                      # MODULE:ATTR (a SocketIO, a Flask, ASGI or aiohttp app,
                                  # a python-socketio server, or MODULE:factory())
    event: str
    path: str = "."
    namespace: str = "/"
    triggers: tuple[str, ...] = ("connect", "get:/")
    ack: str | None = None        # an event the app acknowledges (for the traffic phase)
    #: What the client connects with (--auth, --header, --query).
    credentials: Credentials = Credentials()
    #: ``MODULE:FUNCTION`` called once the app is loaded, before it serves (--setup).
    setup: str | None = None
    #: Set in the environment of every process of the app's cells (--env).
    env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        module, colon, attr = self.app.partition(":")
        if not colon or not module or not attr or not all(
                p.isidentifier() for p in module.split(".")):
            raise AppError(f"{self.app!r} is not MODULE:ATTR (e.g. app:socketio, app:app or "
                           "app:create_app())")
        if self.setup is not None:
            module, colon, name = self.setup.partition(":")
            if not colon or not name.isidentifier() or not all(
                    p.isidentifier() for p in module.split(".")):
                raise AppError(f"--setup {self.setup!r} is not MODULE:FUNCTION "
                               "(e.g. app:configure)")
        for trigger in self.triggers:
            parse_trigger(trigger)
        if not self.namespace.startswith("/"):
            raise AppError(f"namespace {self.namespace!r} must start with '/'")


@dataclass(frozen=True)
class AppInfo:
    """What loading the app once showed (app_child.describe)."""
    async_mode: str
    #: "eventlet" or "gevent" when the app monkey patches itself, and where.
    patches: str | None = None
    patched_at: str | None = None
    namespaces: tuple[str, ...] = ("/",)
    #: The client manager class when the app has a message queue (RedisManager).
    queue: str | None = None
    #: host:port of the TCP connections the app holds once loaded.
    connections: tuple[str, ...] = ()
    #: Message broker clients the app's own modules import (redis, kombu, ...).
    brokers: tuple[str, ...] = ()
    #: Where the app serves while it is imported (no __main__ guard), and with
    #: what (``socketio.run``, ``uvicorn.run``, ``web.run_app``).
    ran_at: str | None = None
    ran_with: str = "socketio.run"
    #: Is it served by an asyncio loop (python-socketio's AsyncServer)? Its rows
    #: are its own mode's; else the sync modes'.
    asyncio: bool = False
    #: What emitcheck serves instead of the object named, and why (app_child.py).
    note: str | None = None

    @property
    def shared(self) -> str | None:
        """Why the app's cells would see each other's events, if they would: a
        message queue, or a service the app connects to at import."""
        if self.queue:
            return f"the app's message queue ({self.queue}) is one channel for every cell"
        if self.connections:
            return f"the app connects to {', '.join(self.connections)} when it loads"
        if self.brokers:
            return (f"the app uses {', '.join(self.brokers)}, whose channels every cell "
                    "would share")
        return None


def check(spec: AppSpec) -> AppInfo:
    """Load the app once, unpatched and in its own mode, in a process of its own;
    return what it showed, or raise AppError saying why it cannot be loaded."""
    with warden.TemporaryDirectory(prefix="emitcheck-app-check-") as tmp:
        config = _config(spec, "auto", "unpatched", Path(tmp) / "emits.log")
        try:
            # Whatever the app started at import (and left holding the pipes) is
            # killed once the check has exited: run_bounded does not wait for it.
            loaded = run_bounded([sys.executable, str(APP_CHILD), config, "check"],
                                 Path(tmp), IMPORT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AppError(f"importing {spec.app} did not finish within {IMPORT_TIMEOUT:g} s: "
                           "does the module start a server at import, outside "
                           "'if __name__ == \"__main__\"'?") from None
    stdout = loaded.stdout.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        stderr = loaded.stderr.decode(errors="replace")
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise AppError(f"loading {spec.app} failed: {tail}")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise AppError(answer["error"])
    from emitcheck.model.causes import short_path

    def where(name: str) -> str | None:
        return short_path(answer[name], Path(spec.path)) if answer.get(name) else None

    return AppInfo(answer["async_mode"], answer.get("patches"), where("patched_at"),
                   tuple(answer.get("namespaces") or ("/",)), answer.get("queue"),
                   tuple(answer.get("connections") or ()), tuple(answer.get("brokers") or ()),
                   where("ran_at"), answer.get("ran_with") or AppInfo.ran_with,
                   bool(answer.get("asyncio")), answer.get("note"))


#: How many files of the app's folder ``patching_entry_points`` reads at most.
ENTRY_POINT_FILES = 200


def patching_entry_points(spec: AppSpec) -> list[str]:
    """The modules of the app's folder that monkey patch and import the app's
    module (a ``wsgi.py`` or ``run.py``): how the app really runs, when the
    target itself does not patch. Read as text, never imported."""
    import re

    module = spec.app.partition(":")[0]
    imports = re.compile(rf"^\s*(from\s+{re.escape(module)}(\.|\s)|import\s+{re.escape(module)}\b)",
                         re.MULTILINE)
    found = []
    for file in sorted(Path(spec.path).glob("*.py"))[:ENTRY_POINT_FILES]:
        if file.stem == module.split(".")[0]:
            continue
        try:
            text = file.read_text(errors="replace")
        except OSError:
            continue
        if ("monkey_patch(" in text or "patch_all(" in text) and imports.search(text):
            found.append(file.stem)
    return found


#: Calls of a ``__main__`` block that only serve or report, not set up.
_SERVING_CALLS = ("run", "print", "debug", "info", "warning", "basicConfig", "exit")


def main_block_calls(spec: AppSpec) -> list[str]:
    """What the target module's ``if __name__ == "__main__":`` block calls
    besides serving (``name (file:line)``): set-up that emitcheck, which
    imports the module, never runs. Read with ``ast``, never imported."""
    import ast

    module = spec.app.partition(":")[0]
    base = Path(spec.path, *module.split("."))
    source = next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()),
                  None)
    if source is None:
        return []
    try:
        tree = ast.parse(source.read_text(errors="replace"))
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in tree.body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):
            continue
        for call in (n for stmt in node.body for n in ast.walk(stmt)
                     if isinstance(n, ast.Call)):
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else \
                func.id if isinstance(func, ast.Name) else None
            if name and name not in _SERVING_CALLS:
                found.append(f"{name}() ({source.name}:{call.lineno})")
    return found


def _config(spec: AppSpec, mode: str, patch: str, emits: Path) -> str:
    return json.dumps({"app": spec.app, "path": str(Path(spec.path).resolve()),
                       "mode": mode, "patch": patch, "emits": str(emits),
                       "env": dict(spec.env), "setup": spec.setup})


def log_entries(files) -> list[dict]:
    """What app_child.py logged: one JSON object a line (emits, connect outcomes,
    what it served); a line cut short by the server's end is skipped."""
    entries = []
    for line in Path(files.emits).read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


class UserApp(OurWork):
    """The user's app as a cell's work: app_child.py, watched for ``spec.event``."""

    def __init__(self, spec: AppSpec):
        self.spec = spec
        #: Per server (its emit log): when its current window opened, and how much
        #: of its stderr came before: causes are read from that window's part only.
        self._opened: dict[str, tuple[float, int]] = {}

    def window_opens(self, files) -> None:
        try:
            before = files.stderr.stat().st_size
        except OSError:
            before = 0
        self._opened[str(files.emits)] = (time.time(), before)

    def server_argv(self, cell_id, interval, files, port, queue_url):
        mode, patch = cell_id.split("-")[:2]
        return [str(APP_CHILD), _config(self.spec, mode, patch, files.emits), str(port)]

    def gunicorn_app(self, cell_id, interval, files, queue_url):
        mode, patch = cell_id.split("-")[:2]
        config = _config(self.spec, mode, patch, files.emits)
        return f"emitcheck.scripts.app_child:gunicorn_app({config!r})"

    def target(self, url: str, transport: str) -> Target:
        return Target(url, transport=transport, event=self.spec.event, ack_event=self.spec.ack,
                      health_path=SOCKETIO_GET, namespace=self.spec.namespace,
                      credentials=self.spec.credentials)

    def triggers(self) -> list[Callable]:
        return [trigger_action(parse_trigger(t), self.spec.namespace,
                               self.spec.credentials.headers) for t in self.spec.triggers]

    def cadence(self, files):
        return lambda: [e.at for e in self.emits(files)]

    def emits(self, files) -> list[Emit]:
        """The app's emits of the watched event in the watched namespace, numbered."""
        times = [entry["at"] for entry in log_entries(files)
                 if entry.get("event") == self.spec.event
                 and entry.get("namespace") == self.spec.namespace]
        return [Emit(seq, at) for seq, at in enumerate(sorted(times), 1)]

    def in_flight(self, files) -> Callable[[Observation], bool]:
        """Large events (LARGE_EVENT_BYTES on average) that the app emitted in
        the window and that have not all arrived yet: the window waits for them
        (probe._catch_up), so that throughput is not read as loss."""
        def waiting(obs: Observation) -> bool:
            if obs.connected_at is None or obs.traffic_end is None:
                return False
            sizes = [entry.get("bytes") or 0 for entry in log_entries(files)
                     if entry.get("event") == self.spec.event
                     and entry.get("namespace") == self.spec.namespace
                     and obs.connected_at <= entry.get("at", 0) <= obs.traffic_end]
            return bool(sizes) and sum(sizes) / len(sizes) >= LARGE_EVENT_BYTES \
                and len(obs.received) < len(sizes)
        return waiting

    def facts(self, files, stderr: str) -> dict[str, str]:
        """The causes the app's logs show (causes.py): an exception in the app's
        own code, a connect handler that refused, the events it emitted instead."""
        from emitcheck.model.causes import app_facts

        since, before = self._opened.get(str(files.emits), (0.0, 0))
        entries = [e for e in log_entries(files)
                   if e.get("kind") == "served" or e.get("at", since) >= since]
        return app_facts(self.spec, entries, stderr[before:] if before <= len(stderr)
                         else stderr, whole=stderr)

    def settle(self, obs: Observation) -> None:
        """The app's payloads carry no sequence number: pair each arrival, in
        order, with the next emit made before it (Socket.IO keeps the order on
        one connection). Emits made while the client was connecting count only
        for arrivals that came before the first emit after it: a connect
        handler's greeting reaches the client, a broadcast made before its
        namespace was joined does not, and pairing with it would shift every
        later arrival onto the emit before its own (one cadence of false
        latency).

        An app with a message queue whose watched event arrived though none was
        logged here was emitted by another process (a Celery worker, a script):
        it is judged by its arrivals alone, as a probe judges a server."""
        if obs.connected_at is None:
            return
        from emitcheck.model.causes import QUEUE

        if not obs.emitted and obs.received and obs.facts.get(QUEUE):
            obs.emits_logged = False
            obs.facts["emitted by"] = ("another process, through the message queue (none of "
                                       "the watched emits were made here): judged by the "
                                       "arrivals alone")
            return
        since = obs.connected_at - (obs.connect_ms or 0.0) / 1000
        early = [e for e in obs.emitted if since <= e.at < obs.connected_at]
        later = [e for e in obs.emitted if e.at >= obs.connected_at]
        settled = []
        for arrival in obs.received:
            if early and (not later or arrival.arrived_at < later[0].at) \
                    and early[0].at <= arrival.arrived_at:
                emit = early.pop(0)
            elif later and later[0].at <= arrival.arrived_at:
                emit = later.pop(0)
                early = []  # an emit after the connect arrived: the earlier ones never will
            else:
                settled.append(Arrival(None, None, arrival.arrived_at))
                continue
            settled.append(Arrival(emit.seq, emit.at, arrival.arrived_at))
        obs.received = settled


def trigger_action(parsed: tuple[str, str, object], namespace: str,
                   headers: tuple[tuple[str, str], ...] = ()) -> Callable:
    """What a parsed trigger (``parse_trigger``) does once the client is
    connected: nothing (connect), a GET of the server's path, recorded in
    ``obs.http`` (sent with ``headers``: a session cookie), or an emit."""
    kind, what, data = parsed

    def run(client, obs) -> None:
        if kind == "get":
            from emitcheck.clients.python_client import request_get

            parts = urllib.parse.urlsplit(client.connection_url)
            obs.http.append(request_get(f"{parts.scheme}://{parts.netloc}{what}",
                                        TRIGGER_TIMEOUT, headers))
        elif kind == "emit":
            client.emit(what, data, namespace=namespace)

    return run


#: The options that give a client what an app's connect handler asks for.
CREDENTIAL_OPTIONS = ("--auth JSON, --header NAME:VALUE (a cookie: 'Cookie: k=v') or "
                      "--query NAME=VALUE")
SETUP_OPTIONS = "--setup MODULE:FUNCTION or --env NAME=VALUE"


def what_to_change(spec: AppSpec, cell_id: str, obs: Observation | None,
                   verdict: str | None) -> list[str]:
    """For an app's cell that is not delivered, what to change: for the cause
    its logs showed (causes.py), when they showed one; else what would start
    a silent app; else the remedies of our measured matrix (remedy.py) for
    cells that look like it, never asking for what the app already does (a
    monkey patch of its own, work started with start_background_task)."""
    from emitcheck.matrix.cell import mode_value, variant
    from emitcheck.matrix.cells import parse
    from emitcheck.matrix.remedies import remedies
    from emitcheck.model.causes import (
        EMITTED_FROM,
        EMITTED_INSTEAD,
        FROM_TASKS,
        HANDED_OFF,
        LOOP_BLOCKED,
        NAMESPACE,
        NEVER_AWAITED,
        PATCHED_BY,
        QUEUE,
        handed_off_fix,
    )
    from emitcheck.model.verdicts import APP_EXCEPTION, REFUSED_BY

    if verdict in (None, "delivered"):
        return []
    facts = obs.facts if obs else {}
    if exception := facts.get(APP_EXCEPTION):
        return [f"fix what the app raised: {exception}; if the app's own main() sets up "
                f"what it needs first (a config key, an environment variable), give emitcheck "
                f"that set-up: {SETUP_OPTIONS}"]
    if refusal := facts.get(REFUSED_BY):
        given = " (the credentials given were refused too: check them)" \
            if spec.credentials else ""
        return [f"{refusal}: connect with what it expects{given}: {CREDENTIAL_OPTIONS}"]
    if wrong := facts.get(NAMESPACE):
        return [f"{wrong}: watch one of those with --namespace"]
    if unawaited := facts.get(NEVER_AWAITED):
        return [f"await every emit: {unawaited.partition(' (')[0]} is called without await; "
                "write 'await sio.emit(...)' in a coroutine (a sync helper that emits becomes "
                "async), or, from an OS thread, asyncio.run_coroutine_threadsafe(sio.emit(...), "
                "loop) with the loop the server runs"]
    if blocked := facts.get(LOOP_BLOCKED):
        return [_unblock(blocked)]
    if handed := facts.get(HANDED_OFF):
        return [handed_off_fix(handed)]
    if verdict == "silent":
        instead = f"; the app emitted {facts[EMITTED_INSTEAD]} (--event, --namespace)" \
            if facts.get(EMITTED_INSTEAD) else ""
        lines = [f"silent is the verdict, not an error: the app emitted no {spec.event!r} "
                 f"event in namespace {spec.namespace} after these triggers: "
                 f"{', '.join(spec.triggers) or 'none'}{instead}; give the one that starts "
                 "its work: --trigger connect | get:/PATH | emit:EVENT[:JSON]"]
        if not spec.setup and (calls := main_block_calls(spec)):
            lines.append(f"its 'if __name__ == \"__main__\":' block calls "
                         f"{', '.join(calls[:3])} before it serves; emitcheck imports the "
                         f"module and never runs that block: give that set-up with "
                         f"--setup MODULE:FUNCTION")
        if facts.get(QUEUE):
            lines.append(f"the app has a message queue ({facts[QUEUE]}): if another "
                         "process emits through it (a Celery worker, a script), start that "
                         "process too; emitcheck app starts only the web app")
        return lines
    cell = parse(cell_id)
    mode = obs.async_mode if obs and obs.async_mode else cell.mode
    mode = mode_value(mode)
    patch = cell.patch
    # The app's own patch, or a server that patches before it loads the app (as
    # families/gunicorn.py's expectation says: its worker is the patched twin).
    if facts.get(PATCHED_BY) or (cell.value_of("server").patches_first
                                 and variant("mode", mode).patchable):
        patch = "patched"
    already = frozenset({("spawn", "task")}) \
        if facts.get(EMITTED_FROM) == FROM_TASKS else frozenset()
    return remedies(mode, patch, verdict, already)


def _unblock(blocked: str) -> str:
    """What to change where the app's own code holds the event loop."""
    if "time.sleep(" in blocked:
        return (f"{blocked}: time.sleep blocks the event loop, and every client with it; "
                "in a coroutine, wait with 'await sio.sleep(seconds)' (or asyncio.sleep)")
    return (f"{blocked}: this blocks the event loop, and every client with it; run blocking "
            "work off the loop (await asyncio.to_thread(...) or loop.run_in_executor), or "
            "give the loop its turns with 'await sio.sleep(0)' in a CPU-bound loop")


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

