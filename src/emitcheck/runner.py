"""Run cells: one server subprocess and one probe per cell, several at once.

This module is the only one that combines the others: cells say what to run,
environment says whether its stack is here, server starts it, probe watches
it, verdict judges it, expectations say what we measured before.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import server, zygote
from .cells import OTHER_PROCESS_SPAWNS, Cell
from .environment import missing_stack, versions
from .expectations import expected
from .probe import Observation, Timing, observe
from .server import NotReady, ServerProcess
from .verdict import Metrics, classify


@dataclass
class CellResult:
    cell: Cell
    expected: str
    why: str
    doc: str                            # URL of the docs section that explains the cell
    verdict: str | None = None          # None when skipped
    evidence: str = ""
    skipped: str | None = None          # the reason, when skipped
    metrics: Metrics | None = None
    observation: Observation | None = None
    versions: dict = field(default_factory=versions)

    @property
    def matches(self) -> bool:
        return self.skipped is not None or self.verdict == self.expected

    def to_json(self) -> dict:
        m = self.metrics
        return {
            "cell": self.cell.id,
            "verdict": self.verdict,
            "expected": self.expected,
            "matches": self.matches,
            "skipped": self.skipped,
            "evidence": self.evidence,
            "why": self.why,
            "doc": self.doc,
            "emitted": m.emitted if m else None,
            "received": m.received if m else None,
            "latency_ms": m.latency_ms if m else {"p50": None, "p95": None, "max": None},
            "connect_ms": m.connect_ms if m else None,
            "ack_ms": m.ack_ms if m else None,
            "http_ms": m.http_ms if m else None,
            "async_mode": self.observation.async_mode if self.observation else None,
            "versions": self.versions,
            "observation": self.observation.to_dict() if self.observation else None,
        }


#: Starting a server is CPU-bound (it imports the whole stack) while its window
#: is mostly waiting: only this many servers start at once, so that the windows
#: of cells already running overlap the imports of the next ones.
STARTING = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))
#: A CPU-bound cell keeps a core busy from start to stop: one at a time, so the
#: others keep a core (two at once flipped no verdict, but slowed every start).
CPU_BOUND = threading.BoundedSemaphore(1)
#: A CPU-bound greenlet can keep a patched server from ever listening; that is
#: its verdict (starved), found sooner than the general ready timeout.
CPU_BOUND_READY_TIMEOUT = 8.0


def start_server(cell: Cell, timing: Timing, directory: Path, queue_url: str | None = None,
                 attempts: int = 3) -> ServerProcess:
    """Start the cell's server and wait until it listens (or fails to).

    When another process takes the port between our pick and the server's
    bind, start again on another port, up to ``attempts`` times.
    """
    for attempt in range(1, attempts + 1):
        where = directory / f"try{attempt}"
        if zygote.serves(cell):
            started = zygote.start_server(cell, timing.interval, where, queue_url)
        else:
            started = ServerProcess.for_cell(cell.id, timing.interval, where, queue_url)
        try:
            started.wait_listening(timing.ready_timeout)
        except NotReady:
            if attempt < attempts and started.port_taken():
                started.stop()
                continue
        return started  # listening, or observe() records why it is not


def start_redis(directory: Path, timing: Timing) -> tuple[ServerProcess, str]:
    """Start a private redis-server for one cell; return it and its URL. It is
    not a cell's verdict when Redis does not start: that raises."""
    redis = ServerProcess.for_redis(directory)
    try:
        redis.wait_listening(timing.ready_timeout)
    except NotReady as exc:
        log = redis.files.stdout.read_text(errors="replace").strip().splitlines()[-3:]
        redis.stop()
        raise RuntimeError(f"the private redis-server did not start: {exc}; "
                           f"its log ends: {' | '.join(log)}") from None
    return redis, f"redis://127.0.0.1:{redis.port}/0"


def _wait_first_emit(emits: Path, timeout: float) -> None:
    """Let the emitter process start (it imports the stack too) before the window
    opens, so that the window sees it at its cadence. Bounded; a process that
    never emits is the verdict's business (lost: the work emitted nothing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not emits.read_text().strip():
        time.sleep(0.02)


def _observe_cell(cell: Cell, timing: Timing, workdir: Path | None, starting) -> Observation:
    """Start the cell's processes (holding ``starting`` until the server listens),
    probe the server, stop them all."""
    with tempfile.TemporaryDirectory(prefix=f"emitcheck-{cell.id}-", dir=workdir) as tmp, \
            contextlib.ExitStack() as running:
        directory, queue_url, companions = Path(tmp), None, []
        with starting:
            started = time.perf_counter()
            if cell.queue == "redis":
                redis, queue_url = start_redis(directory / "redis", timing)
                running.callback(redis.stop)
            server = start_server(cell, timing, directory, queue_url)
            running.callback(server.stop)
            if cell.spawn in OTHER_PROCESS_SPAWNS:
                emitter = ServerProcess.for_emitter(cell.id, timing.interval,
                                                    directory / "emitter", server.files.emits,
                                                    queue_url)
                running.callback(emitter.stop)
                companions.append(emitter)
                _wait_first_emit(server.files.emits, timing.ready_timeout)
            start_s = time.perf_counter() - started
        obs = observe(server, cell.id, timing, companions)
    obs.phases = {**obs.phases, "ready": round(start_s, 3)}
    return obs


def run_cell(cell: Cell, timing: Timing = Timing(), workdir: Path | None = None) -> CellResult:
    exp = expected(cell.id)
    result = CellResult(cell, exp.verdict, exp.why, exp.url)
    reason = missing_stack(cell)
    if reason:
        result.skipped = reason
        return result
    if cell.cpu_bound:
        with CPU_BOUND:
            timing = replace(timing, ready_timeout=min(timing.ready_timeout,
                                                       CPU_BOUND_READY_TIMEOUT))
            obs = _observe_cell(cell, timing, workdir, starting=contextlib.nullcontext())
    else:
        obs = _observe_cell(cell, timing, workdir, starting=STARTING)
    if cell.mode == "auto" and obs.async_mode:  # judge it as the mode it resolved to
        exp = expected(cell.id, obs.async_mode)
        result.expected, result.why, result.doc = exp.verdict, exp.why, exp.url
    judged = classify(obs)
    result.verdict, result.evidence = judged.verdict, judged.evidence
    result.metrics, result.observation = judged.metrics, obs
    return result


def default_jobs() -> int:
    """How many cells run at once. A running cell mostly waits; what costs CPU is
    starting its server, and STARTING bounds that, so this can be generous."""
    return max(4, 16 * (os.cpu_count() or 1))


def longest_first(cells: list[Cell]) -> list[Cell]:
    """Start first the CPU-bound cells (they queue for one slot), then the cells
    expected to hit a timeout (lost, error, starved): they take longest."""
    slow = {"lost": 0, "error": 0, "starved": 1}
    return sorted(cells, key=lambda c: (not c.cpu_bound, slow.get(expected(c.id).verdict, 2)))


class CellPool:
    """Runs cells concurrently; ``submit`` returns a Future of a CellResult."""

    def __init__(self, jobs: int | None = None, timing: Timing = Timing()):
        self.timing = timing
        self.executor = ThreadPoolExecutor(max_workers=jobs or default_jobs(),
                                           thread_name_prefix="emitcheck-cell")

    def submit(self, cell: Cell) -> Future:
        return self.executor.submit(run_cell, cell, self.timing)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def run_many(cells: list[Cell], jobs: int | None = None,
             timing: Timing = Timing()) -> list[CellResult]:
    pool = CellPool(jobs, timing)
    try:
        futures = {cell: pool.submit(cell) for cell in longest_first(cells)}
        return [futures[cell].result() for cell in cells]
    except BaseException:  # Ctrl-C included: kill the servers now, not after the window
        server.stop_all(refuse_new=True)
        raise
    finally:
        pool.close()
