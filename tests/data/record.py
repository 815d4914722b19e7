"""Record real observations, one per verdict, for the classifier's unit tests.

Run from an environment with every stack installed (``tox -e matrix`` has one):
``python tests/data/record.py``. Each file is what the probe saw on a real
server; ``crashed`` comes from a real server killed during the quiet phase.
``refused`` is an ``error`` of another kind: a server with a Redis message
queue on unpatched eventlet refuses the client (it needs redis-server).
It also records ``emitcheck app`` on the buggy sample app (tests/apps/ticker_thread.py)
into results/app-ticker_thread.json, whose grid tests/test_app.py renders.
"""

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from emitcheck.clients.python_client import observe
from emitcheck.matrix import cells
from emitcheck.model.results import Timing
from emitcheck.model.verdicts import classify
from emitcheck.running import runner
from emitcheck.running.work import OurWork, serve_ours

HERE = Path(__file__).parent / "observations"
APP_RUN = Path(__file__).parent / "results" / "app-ticker_thread.json"
EXAMPLES = {
    "delivered": "gevent-patched-task-time_sleep",
    "delayed": "gevent-unpatched-thread-time_sleep",
    "lost": "eventlet-unpatched-thread-time_sleep",
    "starved": "eventlet-unpatched-task-time_sleep",
    "error": "eventlet-unpatched-thread-socketio_sleep",
    "crashed": "threading-unpatched-thread-time_sleep",
}
#: name: (verdict, cell), run with all the cell's processes (runner.run_cell).
WHOLE_CELL_EXAMPLES = {
    "refused": ("error", "eventlet-unpatched-process-time_sleep-redis"),
}


def record(verdict: str, cell_id: str, timing: Timing) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = serve_ours(cell_id, timing.interval, Path(tmp))
        if verdict == "crashed":
            def kill_when_listening():
                server.wait_listening(timing.ready_timeout)
                threading.Timer(1.0, server.popen.kill).start()
            threading.Thread(target=kill_when_listening, daemon=True).start()
        try:
            obs = observe(server, cells.parse(cell_id), timing, work=OurWork())
        finally:
            server.stop()
    save(verdict, verdict, cell_id, obs)


def save(name: str, verdict: str, cell_id: str, obs) -> None:
    got = classify(obs).verdict
    if got != verdict:
        sys.exit(f"{cell_id}: wanted an example of {verdict}, observed {got}")
    (HERE / f"{name}.json").write_text(json.dumps(obs.to_dict(), indent=1) + "\n")
    print(f"{name}: {cell_id}")


def record_app_run() -> None:
    apps = Path(__file__).parent.parent / "apps"
    done = subprocess.run([sys.executable, "-m", "emitcheck", "app", "ticker_thread:socketio",
                           "--event", "tick", "--path", str(apps), "--json"],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 1:  # the buggy sample fails in some cells, and nothing else failed
        sys.exit(f"emitcheck app exited {done.returncode}: {done.stderr.strip()[-1000:]}")
    APP_RUN.write_text(done.stdout)
    print(f"app: {APP_RUN.name}")


if __name__ == "__main__":
    for verdict, cell_id in EXAMPLES.items():
        record(verdict, cell_id, Timing())
    for name, (verdict, cell_id) in WHOLE_CELL_EXAMPLES.items():
        obs = runner.run_cell(cells.parse(cell_id)).observation
        save(name, verdict, cell_id, obs)
    record_app_run()
