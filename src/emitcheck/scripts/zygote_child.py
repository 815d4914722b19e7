"""A parent that has imported the stack once and forks the servers of cells.

Usage: ``python zygote_child.py MODE OWNER_PID MODULES SCRIPT`` (MODE:
threading, eventlet, gevent, asgi or aiohttp, or a patched one:
``eventlet-patched``, ``gevent-patched``; OWNER_PID only names, on the command
line, the process it serves; MODULES, comma-separated, are what the mode's
server imports on top of the script's own imports: the mode's ``preload``;
SCRIPT, the server script of the mode: server_child, or async_server_child for
python-socketio's AsyncServer).

Importing Flask, Flask-SocketIO and the async library is most of the CPU a
server costs; a fork of a process that has done it already costs almost none.
Their server script imports exactly these modules, in this order, with no
thread or hub started, so a forked server is the process the script would
have been. A patched zygote (MODE ``eventlet-patched``, ``gevent-patched``)
imports the script first of all, with EMITCHECK_CELL naming the mode and the
patching: the script monkey patches as its first statement, as it does for a
patched server, before this file imports anything else. The zygote's own
forking, reaping and signal handling then use the originals, never the
patched functions (gevent's fork and waitpid would watch children through a
hub that never runs here), and each forked server starts its hub afresh
(``_fresh_hub``).

Protocol, one line each way: the runner writes a JSON request per server
(``cell``, ``emits``, ``interval``, ``port``, ``queue_url``, ``directory``,
``stdout``, ``stderr``); this process forks and answers ``started PID``, and
``exited PID STATUS`` when that server ends (STATUS as ``Popen.returncode``:
negative for a signal). It stays single-threaded, as fork requires.
"""

import os
import sys

# The mode's server script (Flask and Flask-SocketIO, or python-socketio and
# asyncio), a sibling found through the sys.path line below, first: it patches
# as it is imported where EMITCHECK_CELL says so (a patched zygote only).
PATCHED = sys.argv[1].endswith("-patched")
if PATCHED:
    os.environ["EMITCHECK_CELL"] = sys.argv[1]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SERVER = __import__(sys.argv[4])
os.environ.pop("EMITCHECK_CELL", None)

import ctypes  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import traceback  # noqa: E402


def _original(module: str, name: str):
    """The function as it was before monkey patching (itself where nothing patched it)."""
    if PATCHED and "gevent" in sys.modules:
        from gevent import monkey

        return monkey.get_original(module, name)
    if PATCHED and "eventlet" in sys.modules:
        from eventlet import patcher

        return getattr(patcher.original(module), name)
    return getattr(sys.modules[module], name)


_fork, _waitpid = _original("os", "fork"), _original("os", "waitpid")
_signal = _original("signal", "signal")

PRELOAD = [name for name in sys.argv[3].split(",") if name]
PR_SET_PDEATHSIG = 1
ZYGOTE = os.getpid()


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # unbuffered: also safe inside the signal handler


def _reap(_signum=None, _frame=None) -> None:
    while True:
        try:
            pid, status = _waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _say(f"exited {pid} {code}")


def _become_server(request: dict) -> None:
    """In the forked child: a session of its own, death with the zygote, the
    cell's files as stdin/stdout/stderr and cwd, then the server."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != ZYGOTE:  # the zygote died before prctl took effect
        os._exit(1)
    _signal(signal.SIGCHLD, signal.SIG_DFL)
    _fresh_hub()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
    os.chdir(request["directory"])
    SERVER.main(request["cell"], request["emits"], request["interval"], request["port"],
                request["queue_url"])


def _fresh_hub() -> None:
    """In a forked server of a patched zygote: a hub of its own, never the one
    the zygote may have made (gevent's reinit; eventlet makes one on first use
    once the old one is dropped)."""
    if not PATCHED:
        return
    if "gevent" in sys.modules:
        import gevent

        gevent.reinit()
    elif "eventlet" in sys.modules:
        from eventlet import hubs

        hubs.use_hub()


def main() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the server imports it (or fails) as it would have anyway
    _signal(signal.SIGCHLD, _reap)
    _say("ready")
    for line in sys.stdin:
        request = json.loads(line)
        pid = _fork()
        if pid == 0:
            try:
                _become_server(request)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        _say(f"started {pid}")


if __name__ == "__main__":
    main()
