# The client half of a script written by ``emitcheck repro``. It is not imported
# by emitcheck: repro.py indents this text into the script, under
# ``if len(sys.argv) == 1:``, so it may only use the stack's packages.
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import socketio

PROMPT = 3 * INTERVAL  # an event is prompt when it arrives within three emit intervals

def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

def wait_listening(port, server, deadline):
    while time.time() < deadline and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False

def http_ms(url):
    start = time.time()
    try:
        urllib.request.urlopen(url, timeout=2.5).read()
    except OSError as exc:
        return f"no answer ({exc})"
    return f"{(time.time() - start) * 1000:.1f} ms"

def observe(port, server, work_dir):
    arrivals = {}
    client = socketio.Client(reconnection=False, request_timeout=2.5, handle_sigint=False)
    client.on("tick", lambda data: arrivals.setdefault(data["seq"], (data["t"], time.time())))
    base = f"http://127.0.0.1:{port}"
    try:
        client.connect(base, wait_timeout=2.5, transports=TRANSPORTS)
    except socketio.exceptions.ConnectionError as exc:
        print(f"connect failed: {exc}; HTTP GET /health: {http_ms(base + '/health')}")
        return False
    connected = time.time()
    time.sleep(1.0)  # quiet: the client sends nothing, events must come on their own
    quiet_end = time.time()
    try:
        client.call("probe", 1, timeout=2.5)
        ack = f"{(time.time() - quiet_end) * 1000:.1f} ms"
    except socketio.exceptions.SocketIOError as exc:
        ack = f"no answer ({type(exc).__name__})"
    print(f"ack: {ack}; HTTP GET /health: {http_ms(base + '/health')}")
    time.sleep(0.3)
    threading.Thread(target=client.disconnect, daemon=True).start()
    emits = [line.split() for line in open(os.path.join(work_dir, "emits.log"))]
    quiet = {int(seq): float(t) for seq, t in emits if connected <= float(t) <= quiet_end - PROMPT}
    prompt = [seq for seq, (_, arrived) in arrivals.items()
              if seq in quiet and arrived <= quiet_end and arrived - quiet[seq] <= PROMPT]
    print(f"the work emitted {len(emits)} events in all; the client received {len(arrivals)}")
    print(f"while the client was quiet: {len(prompt)} of {len(quiet)} events arrived "
          f"within {PROMPT * 1000:.0f} ms")
    return bool(quiet) and len(prompt) >= len(quiet) / 2

def run_client():
    work_dir = tempfile.mkdtemp(prefix="emitcheck-repro-")
    port = free_port()
    stderr = open(os.path.join(work_dir, "stderr.log"), "w+")
    server = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), CELL,
         os.path.join(work_dir, "emits.log"), str(INTERVAL), str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
        start_new_session=True)
    try:
        if not wait_listening(port, server, time.time() + 20):
            print(f"the server did not listen on port {port} within 20 s")
            delivered = False
        else:
            delivered = observe(port, server, work_dir)
        if server.poll() is not None:
            print(f"the server exited with status {server.returncode}")
            delivered = False
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        stderr.seek(0)
        log = stderr.read()
        stderr.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    if "Traceback (most recent call last)" in log:
        print("the server wrote a traceback:\n" + log[-2000:])
        delivered = False
    print(f"{CELL}: events {'DELIVERED' if delivered else 'NOT delivered'}")
    return 0 if delivered else 1
