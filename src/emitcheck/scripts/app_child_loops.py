"""The event loop that serves a user's asyncio app, for app_child.py: where a
coroutine holds it (``watch``), and which coroutines the app hands to another
loop (``handoffs``).

app_child.py imports this module only once the app has imported asyncio
itself (its import hook on ``asyncio``) or once it serves, so nothing of the
stack comes before the app's own first statement. Both functions log through
app_child's ``_Log``: ``log.write(**entry)``, and ``log.serving_loop``, the
first loop the main thread runs once the app is served (uvicorn's, aiohttp's).
"""

import asyncio
import linecache
import os
import sys
import threading
import time
import weakref

#: Seconds the serving event loop may run no callback before where it is stuck
#: is logged (``kind: blocked``): a coroutine that blocks it (time.sleep).
LOOP_BLOCKED_S = 1.0
#: A place in the app that hands coroutines to another loop is logged at most
#: this often (``kind: other_loop``): a thread may emit a thousand times a second.
HANDOFF_LOGGED_S = 1.0


def own_frame(frame, root):
    """``(file:line (function), source line)`` of the innermost frame of the
    app's own code (under ``root``, not an installed package), else None."""
    while frame is not None:
        file = os.path.realpath(frame.f_code.co_filename)
        if file.startswith(root) and "-packages" + os.sep not in file:
            return (f"{file}:{frame.f_lineno} ({frame.f_code.co_name})",
                    linecache.getline(file, frame.f_lineno).strip())
        frame = frame.f_back
    return None


def _root(path):
    return os.path.realpath(path) + os.sep


def watch(log, root):
    """From the first event loop the main thread runs (uvicorn's, aiohttp's),
    which becomes ``log.serving_loop``, an OS thread of ours asks it to run a
    callback every LOOP_BLOCKED_S; when it does not, it logs the app's own frame
    the loop's thread is in."""
    root = _root(root)
    run_forever = asyncio.BaseEventLoop.run_forever

    def ask(loop, ident):
        answered, pause = threading.Event(), threading.Event()  # pause: never set
        while not loop.is_closed():
            answered.clear()
            try:
                loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop closed meanwhile
                return
            if answered.wait(LOOP_BLOCKED_S):
                pause.wait(LOOP_BLOCKED_S)
                continue
            found = own_frame(sys._current_frames().get(ident), root)
            if found:
                log.write(kind="blocked", at=time.time(), where=found[0], code=found[1])

    def watched_run_forever(self):
        if threading.current_thread() is threading.main_thread() and log.serving_loop is None:
            log.serving_loop = self
            threading.Thread(target=ask, args=(self, threading.get_ident()),
                             name="emitcheck-loop-watch", daemon=True).start()
        return run_forever(self)

    asyncio.BaseEventLoop.run_forever = watched_run_forever  # type: ignore[method-assign]


def handoffs(module, log, root):
    """Wrap ``run_coroutine_threadsafe`` of ``module`` (asyncio, as the app just
    imported it) so that, once the app is served, a place of the app's code
    that hands a coroutine to a loop other than ``log.serving_loop`` is logged
    (``kind: other_loop``), with the loop's state and the app's line that made
    it: a loop made at import (``asyncio.get_event_loop()`` or
    ``new_event_loop()`` at module level) is never the one uvicorn or aiohttp
    runs, and holds every coroutine handed to it for ever, with no error."""
    root = _root(root)
    made_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    init = module.base_events.BaseEventLoop.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        found = own_frame(sys._getframe(1), root)
        if found:
            made_at[self] = found

    threadsafe = module.run_coroutine_threadsafe
    logged_at: dict = {}

    def run_coroutine_threadsafe(coro, loop):
        serving = log.serving_loop
        if serving is not None and loop is not serving:
            caller = sys._getframe(1)
            key, now = (caller.f_code, caller.f_lineno, id(loop)), time.time()
            if now - logged_at.get(key, 0.0) >= HANDOFF_LOGGED_S:
                logged_at[key] = now
                where = own_frame(caller, root) or (f"{caller.f_code.co_filename}:"
                                                    f"{caller.f_lineno}", "")
                made = made_at.get(loop) or (None, None)
                log.write(kind="other_loop", at=now, where=where[0], code=where[1],
                          coroutine=getattr(coro, "__qualname__", type(coro).__name__),
                          running=loop.is_running(), made_at=made[0], made_code=made[1])
        return threadsafe(coro, loop)

    module.base_events.BaseEventLoop.__init__ = recording_init
    module.run_coroutine_threadsafe = module.tasks.run_coroutine_threadsafe = \
        run_coroutine_threadsafe
