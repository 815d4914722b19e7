"""One owner for everything a cell runs: ``CellRun``.

It starts the cell's processes in phases (the message queue, what each value
needs before the server, the server, what needs the server, what stands in
front of it: matrix/cell.py's ``Variant`` says each hook's phase) and
records what each phase hands back for the phases after it (``queue_url``,
``server``, ``front``), so no hook depends on the order of the factors. It
stops them all, in reverse,
whatever happens: a normal end, an exception of ours, Ctrl-C. Forked or
fresh, server or redis-server or emitter, every process of a cell is in its
``processes`` list and nowhere else. A run that is being closed (its
``closing`` event is set) starts nothing more.

The processes other than the web server (an emitter, a Celery worker, server 2
of two) run with ``others_python``: the running interpreter, or another
environment's (``--others-with``), as in a deployment that upgraded one process
and not the other. The run notes whether one did (``others_started``): the
evidence then names the releases on both sides.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from pathlib import Path

from emitcheck.matrix.cell import Cell
from emitcheck.model.results import Timing
from emitcheck.running.work import OurWork
from emitcheck.running.zygote import Zygotes
from emitcheck.system.cpu_quota import CpuQuota
from emitcheck.system.process import ManagedProcess, start_listening

#: Seconds to let work in another process (an emitter, a Celery worker) import
#: its stack and emit once before the window opens, so the window sees it at its
#: cadence (bounded; work that never emits is the verdict's business: "the work
#: emitted nothing").
FIRST_EMIT_TIMEOUT = 20.0
#: Numbers the runs of one process (names of their CPU quota groups).
_RUNS = itertools.count()


class Interrupted(RuntimeError):
    """The run is being closed (Ctrl-C, or the end of a test session)."""


class CellRun:
    """The processes of one cell: ``with CellRun(...) as run: run.start()``."""

    def __init__(self, cell: Cell, timing: Timing, directory: Path,
                 zygotes: Zygotes | None = None, closing: threading.Event | None = None,
                 work: OurWork | None = None, quota: CpuQuota | None = None,
                 others_python: str | None = None):
        self.cell = cell
        self._others_python = others_python or sys.executable
        #: Did a process start with ``others_python``, when it is not ours?
        self.others_started = False
        #: What the server runs: our own work, or the user's app.
        self.work = work or OurWork()
        self.timing = timing
        self.directory = directory
        self.zygotes = zygotes
        self.closing = closing or threading.Event()
        #: The message queue's URL (the queue value's ``start_queue``), or None.
        self.queue_url: str | None = None
        self.server: ManagedProcess | None = None
        #: What the client connects to when not the server itself (a proxy): a
        #: value's ``front``.
        self.front: ManagedProcess | None = None
        #: Other processes whose logs count as the server's (an emitter).
        self.companions: list[ManagedProcess] = []
        self.processes: list[ManagedProcess] = []
        #: Confines a CPU-bound server to its share of a core once it listens.
        self.quota = quota if cell.isolated else None
        self.group: Path | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def others_python(self) -> str:
        """The interpreter of the processes other than the web server."""
        return self._others_python

    def add(self, process: ManagedProcess, companion: bool = False) -> ManagedProcess:
        """Own ``process``: it is stopped with the run (at once if the run is over)."""
        with self._lock:
            if self._stopped or self.closing.is_set():
                process.stop(grace=0.5)
                raise Interrupted("not starting more processes: the run is being closed")
            self.processes.append(process)
            if self._others_python != sys.executable and \
                    self._others_python in getattr(getattr(process, "popen", None), "args", ()):
                self.others_started = True
            if companion:
                self.companions.append(process)
        return process

    def start(self, attempts: int = 3) -> ManagedProcess:
        """Start the cell: its message queue (the queue value's ``start_queue``),
        each value's ``before_server``, the server (waiting until it listens or
        fails to), each value's ``after_server``, then what a value puts in
        front of the server (its ``front``).

        When another process takes the server's port between our pick and its
        bind, start the server again on another port, up to ``attempts`` times.
        A server that never listens is returned all the same: its verdict says so.
        """
        values = self.cell.variants()
        self.queue_url = self.cell.value_of("queue").start_queue(self)
        for value in values:
            value.before_server(self)
        server_value = self.cell.value_of("server")
        self.server = start_listening(
            lambda attempt: self.add(server_value.start(self, self.directory / f"try{attempt}")),
            self.timing.ready_timeout, attempts)
        if self.quota is not None:  # only the window: its imports ran at full speed
            self.group = self.quota.confine(self.server.pid, f"{self.cell.id}-{next(_RUNS)}")
        for value in values:
            value.after_server(self)
        fronts = [(value, front) for value in values
                  if (front := value.front(self)) is not None]
        if len(fronts) > 1:  # the values' conflict should have said so
            raise RuntimeError(f"{' and '.join(v.value for v, _ in fronts)} both put a "
                               "process in front of the server")
        self.front = fronts[0][1] if fronts else None
        return self.server

    def wait_first_emit(self, worker: ManagedProcess) -> None:
        """Wait (bounded) until the work in ``worker`` logged its first emit to the
        server's emit log, or ``worker`` exited."""
        assert self.server is not None  # after the server started
        emits = self.server.files.emits
        deadline = time.monotonic() + min(FIRST_EMIT_TIMEOUT, self.timing.ready_timeout)
        while time.monotonic() < deadline and worker.exited() is None \
                and not emits.read_text().strip():
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop every process of the cell, last started first. Idempotent."""
        with self._lock:
            self._stopped = True
            processes, self.processes = self.processes[::-1], []
        for process in processes:
            process.stop(grace=0.5 if self.closing.is_set() else 2.0)
        if self.quota is not None:
            self.quota.release(self.group)

    def __enter__(self) -> CellRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
