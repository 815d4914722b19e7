"""The server of one cell, run as a script in its own process.

Usage: ``python server_child.py CELL_ID EMIT_LOG INTERVAL PORT``

It is written the way users write their servers: monkey patching (when the
cell asks for it) is the very first thing the process does, the background
work is started before ``socketio.run(app, host="127.0.0.1", ...)``, and the
work loops forever, emitting a numbered ``tick`` event carrying the server time,
then waiting. After each emit it appends ``seq time`` to EMIT_LOG, so the probe
can tell "the work never ran" from "the work emitted but nothing arrived".

The port is picked by the parent (a port the kernel gave it a moment before).
``emitcheck repro`` embeds this file whole in the scripts it writes. This file
is run by path, not with ``-m``, so that nothing (not even the emitcheck
package) is imported before patching.
"""

import sys

_MODE, _PATCH = sys.argv[1].split("-")[:2]
if _PATCH == "patched" and _MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _PATCH == "patched" and _MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import logging  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

EVENT = "tick"
ACK_EVENT = "probe"


def make_waiter(socketio, wait):
    """How the work waits between two emits, one function per ``wait`` value."""
    def busy(interval):
        # CPU-bound and never yields: nothing else in this thread (or hub) runs meanwhile.
        end = time.perf_counter() + interval
        while time.perf_counter() < end:
            pass

    def busy_yield(interval, slice_s=0.005):
        # The same loop, giving the hub a turn with socketio.sleep(0) every 5 ms:
        # the documented remedy for CPU-bound work under eventlet and gevent.
        end = last = time.perf_counter()
        end += interval
        while (now := time.perf_counter()) < end:
            if now - last >= slice_s:
                socketio.sleep(0)
                last = time.perf_counter()

    waiters = {
        "time_sleep": time.sleep,
        "socketio_sleep": socketio.sleep,
        "busy": busy,
        "busy_yield": busy_yield,
    }
    return waiters[wait]


def make_starter(socketio, spawn):
    """How the work is started, one function per ``spawn`` value."""
    def start_thread(work):
        threading.Thread(target=work, daemon=True).start()

    starters = {
        "thread": start_thread,
        "task": socketio.start_background_task,
    }
    return starters[spawn]


def main(cell_id, emit_log_path, interval, port):
    mode, _patch, spawn, wait = cell_id.split("-")[:4]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = Flask(__name__)
    if mode == "auto":  # as most apps do: the mode is whatever is installed
        socketio = SocketIO(app)
    else:
        socketio = SocketIO(app, async_mode=mode)

    @app.route("/health")
    def health():
        return "ok"

    @socketio.on(ACK_EVENT)
    def probe(data):
        return {"echo": data, "t": time.time()}

    wait_between = make_waiter(socketio, wait)
    emit_log = open(emit_log_path, "a", buffering=1)

    def work():
        seq = 0
        while True:
            seq += 1
            now = time.time()
            socketio.emit(EVENT, {"seq": seq, "t": now})
            emit_log.write(f"{seq} {now:.6f}\n")
            wait_between(interval)

    make_starter(socketio, spawn)(work)
    print(f"emitcheck server {cell_id}: async_mode={socketio.async_mode}", flush=True)
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
