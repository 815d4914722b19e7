"""The processes of a Celery cell (families/celery/): its broker, a real Celery
worker, and the request that makes the web app send the task.

The broker is the cell's redis-server: the ``-redis`` queue's own when the
cell has one, else a private one started the same way. The worker is
``python -m celery -A emitcheck.scripts.celery_worker -b BROKER worker --pool POOL
--concurrency 1`` without gossip, mingle and heartbeats (they only talk to
other workers), in its own process group, its files in the cell's directory.
It starts while the web server does, and counts as the server (its log is
read as the server's). Once the web server listens, the cell asks its route
to send ``emitcheck.emit_ticks`` and waits, bounded, for the first tick.

The worker runs the run's ``others_python``; in an environment other than
ours (``--others-with``), it imports emitcheck's tasks from a copy of emitcheck
(``PYTHONPATH``, system/cache.py's ``self_copy``), which shadows nothing there.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from emitcheck.families.redis import private_redis
from emitcheck.system.cache import self_copy
from emitcheck.system.process import (
    ManagedProcess,
    ServerFiles,
    child_env,
    die_with_parent_prefix,
    log_end,
)

if TYPE_CHECKING:
    from emitcheck.running.cell_run import CellRun

#: What the worker logs once it consumes tasks ("celery@HOST ready.").
READY_LINE = " ready."
#: Seconds a stopping worker gets before SIGKILL. Its task never ends, and a
#: warm shutdown (SIGTERM) waits for running tasks: the threads, solo, gevent
#: and eventlet pools would never exit by themselves.
STOP_GRACE = 0.3


class CeleryWorker(ManagedProcess):
    """One Celery worker with one task slot (``--concurrency 1``)."""

    def __init__(self, directory: Path, broker: str, pool: str, python: str = sys.executable):
        argv = [*die_with_parent_prefix(), python, "-m", "celery",
                "-A", "emitcheck.scripts.celery_worker", "-b", broker, "--quiet", "worker",
                "--pool", pool, "--concurrency", "1", "--without-gossip",
                "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
        # EMITCHECK_CELL empty: the task imports server_child.py, which would
        # otherwise patch as the web server does; the pool decides patching here.
        # TMPDIR its own: the prefork pool makes a temporary directory that only
        # a clean exit removes, and a worker that emits forever gets SIGKILL.
        env = child_env(EMITCHECK_CELL="", TMPDIR=str(directory),
                        **({} if python == sys.executable else {"PYTHONPATH": str(self_copy())}))
        super().__init__(argv, ServerFiles(directory), 0, env)
        self.broker = broker
        self.pool = pool
        #: What the web app's route answered (the task's id), or why it failed.
        self.send_outcome = "not sent"

    def stop(self, grace: float = 2.0) -> None:
        super().stop(grace=min(grace, STOP_GRACE))

    def log(self) -> str:
        return self.files.stderr.read_text(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        """Block until the worker logged that it is ready; RuntimeError (with its
        log's end) when it exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log():
            status = self.exited()
            if status is not None or time.monotonic() > deadline:
                what = f"exited with status {status}" if status is not None else \
                    f"did not log 'celery@... ready.' within {timeout:g} s"
                raise RuntimeError(f"the Celery worker ({self.pool} pool) {what}; "
                                   f"its log ends: {log_end(self.files.stderr)}")
            time.sleep(0.05)


def start_worker(run: CellRun, pool: str) -> CeleryWorker:
    """The cell's broker (its queue's redis-server, or a private one) and worker."""
    broker = run.queue_url or private_redis(run, "broker")
    worker = CeleryWorker(run.directory / "celery", broker, pool, run.others_python)
    run.add(worker, companion=True)
    return worker


def worker_of(run: CellRun) -> CeleryWorker | None:
    return next((p for p in run.companions if isinstance(p, CeleryWorker)), None)


def start_task(run: CellRun, worker: CeleryWorker) -> None:
    """Once worker and web server are up: the web app's route sends the task;
    then wait (bounded) until the task's first tick is logged."""
    from emitcheck.scripts.server_child import CELERY_ROUTE

    assert run.server is not None  # after_server: the server was started
    worker.wait_ready(run.timing.ready_timeout)
    query = urllib.parse.urlencode({"broker": worker.broker})
    url = f"http://127.0.0.1:{run.server.port}{CELERY_ROUTE}?{query}"
    try:
        with urllib.request.urlopen(url, timeout=run.timing.response_timeout) as answer:
            worker.send_outcome = f"task {answer.read().decode()[:36]} sent"
    except urllib.error.HTTPError as exc:  # the route raised: its traceback is in the log
        worker.send_outcome = f"the route sending the task answered HTTP {exc.code}"
        return
    except OSError as exc:  # the server did not answer: the window will say so
        worker.send_outcome = f"the route sending the task did not answer ({exc})"
        return
    run.wait_first_emit(worker)
