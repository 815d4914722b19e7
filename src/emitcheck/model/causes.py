"""The causes an app's logs show, as facts for the verdict and the remedies.

app_child.py logs, besides every emit (with whether an OS thread made it), the
outcome of the app's connect handlers (refused, raised) and what it served
(its mode, the namespaces it handles, whether it monkey patched itself). Its
stderr holds the tracebacks. From those, ``app_facts`` says, in a few named
``Observation.facts``:

- ``app exception``: the last exception whose innermost frame of the app's own
  code (a file under the app's folder, not an installed package) it names:
  ``KeyError: 'ROOM' at app.py:23 (in on_connect)``;
- ``refused by``: the connect handler that refused the client, and how;
- ``namespace``: the client's namespace when the app handles no such namespace;
- ``the app emitted``: when the watched event never was, what the app emitted
  instead (``'pty-output' x12 in /pty``);
- ``emitted from``: an OS thread, or the server's own tasks (under eventlet and
  gevent only the second is safe);
- ``patched by``: the app's own monkey patch, and where;
- ``never awaited``: an ``AsyncServer`` emit the app called without ``await``
  (Python's ``RuntimeWarning: coroutine 'AsyncServer.emit' was never
  awaited``, and where): a coroutine that never runs, so nothing is sent;
- ``loop blocked``: where the app's own code held the event loop of an asyncio
  app (a ``time.sleep`` in a coroutine), as app_child_loops.py's watch of the
  loop logged it;
- ``handed off``: where the app's own code handed a coroutine (an
  ``AsyncServer`` emit) with ``asyncio.run_coroutine_threadsafe`` to a loop
  that is not the server's running loop, and where it took that loop
  (app_child_loops.py's ``other_loop`` entries): a loop made at import, which
  the server never runs, holds every emit for ever, with no error.

The classifier (verdict.py) puts a cause before the verdict it leads to, and
``user_app.what_to_change`` gives the fix for that cause.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from emitcheck.model import tracebacks
from emitcheck.model.verdicts import APP_EXCEPTION, REFUSED_BY

#: At most this many other events are named.
OTHER_EVENTS_SHOWN = 4

# The names of the facts this module records (besides verdict.py's two causes),
# read by the remedies (user_app.what_to_change) and the grid (report.py).
PATCHED_BY = "patched by"
QUEUE = "message queue"
NAMESPACE = "namespace"
EMITTED_INSTEAD = "the app emitted"
EMITTED_FROM = "emitted from"
#: The value of EMITTED_FROM when no emit came from an OS thread.
FROM_TASKS = "the server's own tasks"
NEVER_AWAITED = "never awaited"
LOOP_BLOCKED = "loop blocked"
HANDED_OFF = "handed off"

#: Python's warning for a coroutine that was never awaited, where it was dropped.
_UNAWAITED = re.compile(r"^(?P<where>.+?:\d+): RuntimeWarning: coroutine "
                        r"'(?P<name>[\w.]+)' was never awaited", re.MULTILINE)
#: python-socketio's coroutines that send: never awaited, they send nothing.
_SENDING = ("emit", "send", "call", "enter_room", "leave_room", "disconnect")


def _own_file(app_root: Path):
    """Whether a traceback's file is the app's own code."""
    root = str(app_root.resolve())

    def own(file: str) -> bool:
        return file.startswith(root + os.sep) and "site-packages" not in file \
            and "dist-packages" not in file
    return own


def _short(file: str, app_root: Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(app_root.resolve()))
    except ValueError:
        return file


def short_path(where: str, app_root: Path) -> str:
    """``file:line...`` with the file relative to the app's folder when inside it."""
    file, colon, rest = where.partition(":")
    return f"{_short(file, app_root)}:{rest}" if colon else where


def app_exception(stderr: str, app_root: Path) -> str | None:
    """``Exception: message at file:line (in function)`` of the last traceback
    that passed through the app's own code, else None."""
    own = _own_file(app_root)
    for found in reversed(tracebacks.parse(stderr)):
        frame = found.innermost(own)
        if frame is not None:
            return (f"{found.exception} at {_short(frame.file, app_root)}:{frame.line} "
                    f"(in {frame.function})")
    return None


def never_awaited(stderr: str, app_root: Path) -> str | None:
    """``AsyncServer.emit at app.py:23`` for the last of python-socketio's
    coroutines that the app dropped without awaiting it, else None."""
    found = [m for m in _UNAWAITED.finditer(stderr)
             if m["name"].startswith("Async") and m["name"].rsplit(".", 1)[-1] in _SENDING]
    if not found:
        return None
    last = found[-1]
    return (f"{last['name']} at {short_path(last['where'], app_root)} (RuntimeWarning: "
            f"coroutine '{last['name']}' was never awaited): nothing of it is sent")


def loop_blocked(entries: list[dict], app_root: Path) -> str | None:
    """Where the app's own code held the event loop (app_child.py's ``blocked``
    entries): the place seen most often, with its line of code."""
    blocked = Counter((e.get("where", "?"), e.get("code", "")) for e in entries
                      if e.get("kind") == "blocked")
    if not blocked:
        return None
    (where, code), _ = blocked.most_common(1)[0]
    return f"{short_path(where, app_root)}: {code}" if code else short_path(where, app_root)


def handed_off(entries: list[dict], app_root: Path) -> str | None:
    """Where the app handed a coroutine to a loop other than the serving one
    (app_child_loops.py's ``other_loop`` entries), the place seen most often:
    only a loop that is not running (it holds any coroutine for ever), or one
    of python-socketio's sending coroutines (a running loop of the app's own
    queues their packets without waking the server's loop)."""
    def matters(entry: dict) -> bool:
        name = str(entry.get("coroutine", ""))
        return not entry.get("running") or (
            name.startswith("Async") and name.rsplit(".", 1)[-1] in _SENDING)

    found = Counter((e.get("where", "?"), e.get("coroutine", "?"), e.get("made_at"),
                     e.get("made_code"), bool(e.get("running"))) for e in entries
                    if e.get("kind") == "other_loop" and matters(e))
    if not found:
        return None
    (where, coroutine, made_at, made_code, running), _ = found.most_common(1)[0]
    taken = ""
    if made_at:
        taken = f"taken at {short_path(made_at, app_root).split(' (')[0]}" + \
            (f": {made_code}" if made_code else "") + "; "
    state = "running in another thread" if running else "it is not running"
    return (f"run_coroutine_threadsafe({coroutine}) at {short_path(where, app_root)} onto a "
            f"loop that is not the server's running loop ({taken}{state})")


def handed_off_fix(handed: str) -> str:
    """What to change where the app hands its emits to another loop."""
    return (f"{handed}: give run_coroutine_threadsafe the loop the server runs: take it "
            "inside the server, loop = asyncio.get_running_loop() in a startup hook "
            "(FastAPI's lifespan, aiohttp's on_startup) or a handler, and hand that loop to "
            "the thread; a loop taken at import (asyncio.get_event_loop() or "
            "new_event_loop() at module level) is never the one uvicorn or aiohttp runs")


def app_facts(spec, entries: list[dict], stderr: str, whole: str | None = None
              ) -> dict[str, str]:
    """The facts of one cell of the app ``spec`` (a user_app.AppSpec), from its
    log ``entries`` and its ``stderr`` (the window's part; ``whole``: all of it,
    for warnings Python prints once per place)."""
    root = Path(spec.path)
    facts: dict[str, str] = {}
    if exception := app_exception(stderr, root):
        facts[APP_EXCEPTION] = exception
    if unawaited := never_awaited(stderr if whole is None else whole, root):
        facts[NEVER_AWAITED] = unawaited
    if blocked := loop_blocked(entries, root):
        facts[LOOP_BLOCKED] = f"the event loop was held at {blocked}"
    if handed := handed_off(entries, root):
        facts[HANDED_OFF] = handed
    served = next((e for e in entries if e.get("kind") == "served"), None)
    if served and served.get("patches"):
        site = served.get("patched_at")
        facts[PATCHED_BY] = f"the app itself, with {served['patches']}" + \
            (f" ({short_path(site, root)})" if site else "")
    for entry in entries:
        if entry.get("kind") != "connect" or entry.get("namespace") != spec.namespace:
            continue
        if entry.get("refused"):
            facts[REFUSED_BY] = (f"the connect handler {short_path(entry['handler'], root)} "
                                 f"{entry.get('outcome', 'refused')}")
    if served and served.get("queue"):
        facts[QUEUE] = served["queue"]
    handled = (served or {}).get("namespaces") or []
    if served and handled and spec.namespace not in handled:
        facts[NAMESPACE] = (f"the app handles no namespace {spec.namespace} (it handles "
                              f"{', '.join(handled)})")
    emits = [e for e in entries if "event" in e]
    watched = [e for e in emits if e["event"] == spec.event
               and e.get("namespace") == spec.namespace]
    if not watched and emits:
        counts = Counter((e["event"], e.get("namespace", "/")) for e in emits)
        shown = [f"{event!r} x{n} in {ns}" for (event, ns), n in
                 counts.most_common(OTHER_EVENTS_SHOWN)]
        more = len(counts) - len(shown)
        facts[EMITTED_INSTEAD] = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    if watched:
        threads = sum(bool(e.get("os_thread")) for e in watched)
        facts[EMITTED_FROM] = "an OS thread" if threads == len(watched) else \
            FROM_TASKS if threads == 0 else \
            f"an OS thread ({threads} of {len(watched)} emits)"
    return facts
