"""Servers of cells, forked from a process that imported the stack once.

Starting a server is mostly imports (about 0.5 s of CPU each), and a matrix
run is bound by that CPU. For cells served by their mode's own server
(``socketio.run``, ``uvicorn.run``, ``web.run_app``), ``zygote_child.py``
imports what the mode's server script imports (``ModeVariant.script`` and
``preload``), once per mode and patching (a patched zygote patches first, as
the script does), then forks one server per cell; see its docstring for why
the forked server is the same program. Which cells may be forked is for their
values to say (``Variant.forkable``: gunicorn, uWSGI and CPU-bound cells start
fresh); an ``auto`` cell is forked from the zygote of the mode it resolves to
here, which has imported what ``SocketIO(app)`` finds first.

A forked server is a ``ManagedProcess`` like any other for the rest of emitcheck:
its own session, its cell's files, killed with its process group, and dead
with its parent (``PR_SET_PDEATHSIG``), whose own parent is this process.
The zygotes belong to a ``Zygotes`` object, which the cell pool owns and stops.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emitcheck.matrix.cell import Cell, variant, variants
from emitcheck.scripts import script
from emitcheck.system.process import (
    ManagedProcess,
    ServerFiles,
    child_env,
    die_with_parent_prefix,
    free_port,
)

SCRIPT = script("zygote_child")
#: Set this environment variable to start every server as a fresh process
#: (no zygote); slower, for comparing the two.
FRESH_SERVERS = "EMITCHECK_FRESH_SERVERS"
#: Seconds for a zygote to import its stack, and for it to answer a fork.
START_TIMEOUT = 30.0
FORK_TIMEOUT = 10.0
#: What a zygote's reader hands a waiter once the zygote's output has ended.
EXITED = "exited"




class ZygoteError(RuntimeError):
    """A zygote did not start or did not answer; says what it waited for."""


class ZygoteExited(ZygoteError):
    """The zygote exited while we waited for its answer."""


class StackBroken(ZygoteError):
    """A zygote exited while importing its stack: a fresh server shows why."""


class Zygote:
    """One zygote_child.py process for one mode, and the statuses of its servers."""

    def __init__(self, mode: str):
        self.mode = mode
        self.lock = threading.Lock()
        self.answers: queue.Queue[str] = queue.Queue()
        self.statuses: dict[int, int] = {}
        self.exited = threading.Condition()
        # Its own stderr is empty unless it cannot import the stack (then the
        # servers fail too, fresh or forked): the forked servers have their files.
        self.popen = subprocess.Popen(
            [*die_with_parent_prefix(), sys.executable, str(SCRIPT), mode, str(os.getpid()),
             ",".join(variant("mode", _mode_of(mode)).preload),
             variant("mode", _mode_of(mode)).script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=child_env())
        threading.Thread(target=self._read, daemon=True, name=f"emitcheck-zygote-{mode}").start()
        try:
            self._expect("ready", START_TIMEOUT, f"the {mode} zygote to import its stack")
        except ZygoteExited:
            self.stop()
            raise StackBroken(f"the {mode} zygote exited importing its stack") from None
        except ZygoteError:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.popen.stdout is not None  # a PIPE
        for raw in self.popen.stdout:
            words = raw.decode().split()
            if words[:1] == ["exited"]:
                with self.exited:
                    self.statuses[int(words[1])] = int(words[2])
                    self.exited.notify_all()
                continue
            if words[:1] == ["started"]:  # a recycled pid: forget the old server's status
                with self.exited:
                    self.statuses.pop(int(words[1]), None)
            self.answers.put(" ".join(words))
        with self.exited:  # the zygote is gone, and with it (pdeathsig) every server
            self.statuses.setdefault(-1, -1)
            self.exited.notify_all()
        self.answers.put(EXITED)  # whoever waits for an answer learns it at once

    def _expect(self, word: str, timeout: float, what: str) -> str:
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise ZygoteError(f"timed out after {timeout:g} s waiting for {what}") from None
        if answer == EXITED:
            raise ZygoteExited(f"waiting for {what}, the zygote exited")
        if not answer.startswith(word):
            raise ZygoteError(f"waiting for {what}, got {answer!r}")
        return answer

    def fork(self, request: dict) -> int:
        assert self.popen.stdin is not None  # a PIPE
        with self.lock:
            try:
                self.popen.stdin.write((json.dumps(request) + "\n").encode())
                self.popen.stdin.flush()
            except BrokenPipeError:
                raise ZygoteError(f"the {self.mode} zygote has exited (status "
                                  f"{self.popen.poll()})") from None
            return int(self._expect("started", FORK_TIMEOUT, f"the {self.mode} zygote to fork"
                                    ).split()[1])

    def _status(self, pid: int) -> int | None:  # with self.exited held
        return self.statuses.get(pid, self.statuses.get(-1))

    def status(self, pid: int) -> int | None:
        """The exit status of a server it forked, None while that server runs."""
        with self.exited:
            return self._status(pid)

    def wait(self, pid: int, timeout: float) -> None:
        with self.exited:
            self.exited.wait_for(lambda: self._status(pid) is not None, timeout)

    def stop(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=5)


class ForkedServer(ManagedProcess):
    """A server forked by a zygote: no Popen of ours, its status from the zygote."""

    def __init__(self, zygote: Zygote, cell_id: str, interval: float, files: ServerFiles,
                 port: int, queue_url: str | None):
        self.zygote = zygote
        self._prepare(files, port)
        self.forked_pid = zygote.fork({
            "cell": cell_id, "emits": str(files.emits), "interval": interval, "port": port,
            "queue_url": queue_url, "directory": str(files.directory),
            "stdout": str(files.stdout), "stderr": str(files.stderr)})

    @property
    def pid(self) -> int:
        return self.forked_pid

    def exited(self) -> int | None:
        return self.zygote.status(self.forked_pid)

    def _wait(self, timeout: float) -> None:
        self.zygote.wait(self.forked_pid, timeout)


def forkable_modes() -> list[str]:
    """The zygotes there can be: one per mode that declares what its server
    preloads, and one per mode and patching where the mode has a patching
    (``eventlet-patched``: servers of patched cells)."""
    modes = [v for v in variants("mode") if v.forkable and v.preload]
    return [v.value for v in modes] + [f"{v.value}-patched" for v in modes if v.patchable]


def _mode_of(zygote: str) -> str:
    return zygote.split("-")[0]


def _zygote_mode(cell: Cell) -> str:
    """The zygote that forks the cell's server: its mode's (or the one ``auto``
    resolves to here), patched where the cell is."""
    mode = variant("mode", cell.mode).resolve()
    return f"{mode}-patched" if cell.patch == "patched" else mode


class Zygotes:
    """The zygotes of one run, one per mode, each started on first use.

    Zygotes are started from a thread pool of their own: setpriv's pdeathsig
    fires when the *thread* that started a process ends, and the threads that
    run cells may end before the run does. ``stop()`` stops every zygote, and
    with them (pdeathsig) every server they forked.
    """

    def __init__(self) -> None:
        self.modes = forkable_modes()
        self._zygotes: dict[str, Zygote] = {}
        self._locks = {mode: threading.Lock() for mode in self.modes}
        self._launcher = ThreadPoolExecutor(len(self.modes),
                                            thread_name_prefix="emitcheck-zygote-launcher")
        self._stopped = False
        #: Modes whose zygote exited importing the stack: their servers start fresh.
        self._broken: set[str] = set()

    def serves(self, cell: Cell) -> bool:
        """Is this cell's server forked from a zygote (unless FRESH_SERVERS is set,
        or the stack of its mode does not import: then a fresh server says why)?"""
        mode = _zygote_mode(cell)
        return mode in self.modes and cell.forkable and mode not in self._broken \
            and not os.environ.get(FRESH_SERVERS)

    def fork(self, cell: Cell, interval: float, directory: Path,
             queue_url: str | None) -> ForkedServer:
        """Fork the cell's server from the zygote of its mode (started on first use)."""
        mode = _zygote_mode(cell)
        with self._locks[mode]:
            if self._stopped:
                raise ZygoteError("the run is over: its zygotes were stopped")
            known = self._zygotes.get(mode)
            if known is None or known.popen.poll() is not None:
                try:
                    self._zygotes[mode] = self._launcher.submit(Zygote, mode).result()
                except StackBroken:
                    self._broken.add(mode)
                    raise
            zygote = self._zygotes[mode]
        return ForkedServer(zygote, cell.id, interval, ServerFiles(directory), free_port(),
                            queue_url)

    def stop(self) -> None:
        """Stop every zygote (their servers die with them); no new ones start."""
        for mode in self.modes:
            with self._locks[mode]:
                self._stopped = True
                known = self._zygotes.pop(mode, None)
                if known is not None:
                    known.stop()
        self._launcher.shutdown(wait=False)
