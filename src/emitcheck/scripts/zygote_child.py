"""A parent that has imported the stack once and forks the servers of unpatched cells.

Usage: ``python zygote_child.py MODE OWNER_PID MODULES SCRIPT`` (MODE: an
unpatched mode, threading, eventlet, gevent, asgi or aiohttp; OWNER_PID only
names, on the command line, the process it serves; MODULES, comma-separated,
are what the mode's server imports on top of the script's own imports: the
mode's ``preload``; SCRIPT, the server script of the mode: server_child, or
async_server_child for python-socketio's AsyncServer).

Importing Flask, Flask-SocketIO and the async library is most of the CPU a
server costs; a fork of a process that has done it already costs almost none.
This is done for unpatched cells only. Their server script imports exactly
these modules, in this order, with no patching and no thread or hub started,
so a forked server is the process the script would have been; a patched
server must patch before anything is imported, so it always starts fresh.

Protocol, one line each way: the runner writes a JSON request per server
(``cell``, ``emits``, ``interval``, ``port``, ``queue_url``, ``directory``,
``stdout``, ``stderr``); this process forks and answers ``started PID``, and
``exited PID STATUS`` when that server ends (STATUS as ``Popen.returncode``:
negative for a signal). It stays single-threaded, as fork requires.
"""

import ctypes
import importlib
import json
import os
import signal
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The mode's server script (Flask and Flask-SocketIO, or python-socketio and
# asyncio), a sibling found through the sys.path line above; no patching: no
# EMITCHECK_CELL.
SERVER = importlib.import_module(sys.argv[4] if len(sys.argv) > 4 else "server_child")

PRELOAD = [name for name in sys.argv[3].split(",") if name]
PR_SET_PDEATHSIG = 1
ZYGOTE = os.getpid()


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # unbuffered: also safe inside the signal handler


def _reap(_signum=None, _frame=None) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
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
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
    os.chdir(request["directory"])
    SERVER.main(request["cell"], request["emits"], request["interval"], request["port"],
                request["queue_url"])


def main() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the server imports it (or fails) as it would have anyway
    signal.signal(signal.SIGCHLD, _reap)
    _say("ready")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
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
