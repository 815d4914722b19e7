"""A web terminal: every client that connects gets ``bash`` on a pseudo-terminal.

The pattern of the browser terminals built on Flask-SocketIO: a pty per
connection made with ``pty.fork()``, whose child (a copy of the server
process, in a session of its own with the pty as its controlling terminal)
runs the shell with ``subprocess.run`` and waits for it; the shell's output
is forwarded as a ``pty-output`` event in a ``/pty`` namespace by a background
task that polls the pty with ``select``, so that it never blocks an eventlet or
gevent hub. Neither the copy nor the shell is in the server's process group.
The app also emits ``tick`` in ``/`` every 0.2 s, so that emitcheck has an
event to judge.

Run it by itself with ``PORT=5001 python spawns_pty.py``.
"""

import os
import pty
import select
import subprocess

from flask import Flask
from flask_socketio import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)
#: The ticker, started by the first connect.
started = []
#: The pty of each connection's shell: (pid, master fd).
shells = []


def ticker():
    count = 0
    while True:
        count += 1
        socketio.emit("tick", {"count": count})
        socketio.sleep(0.2)


def forward(fd):
    """Send what the shell writes to its terminal to the /pty namespace."""
    while True:
        socketio.sleep(0.05)
        try:
            ready, _, _ = select.select([fd], [], [], 0)
            if ready:
                output = os.read(fd, 4096)
                if not output:
                    return
                socketio.emit("pty-output", {"output": output.decode(errors="replace")},
                              namespace="/pty")
        except OSError:  # the shell exited: the pty is closed
            return


@socketio.on("pty-input", namespace="/pty")
def pty_input(data):
    """Keys typed in a browser's terminal, written to the shells."""
    for _, fd in shells:
        os.write(fd, data["input"].encode())


@socketio.on("connect")
def spawn_shell():
    if not started:
        started.append(socketio.start_background_task(ticker))
    pid, fd = pty.fork()
    if pid == 0:  # the child: runs the shell on the pty, and waits for it
        subprocess.run(["bash", "--norc", "--noprofile"])
        os._exit(0)
    shells.append((pid, fd))
    os.write(fd, b"echo shell ready\n")
    socketio.start_background_task(forward, fd)


if __name__ == "__main__":
    socketio.run(app, port=int(os.environ.get("PORT", "5000")), allow_unsafe_werkzeug=True)
