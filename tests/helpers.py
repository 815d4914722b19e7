"""Helpers shared by the tests that start real servers or the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line or working directory contains ``text``
    (a test's tmp dir). Servers forked by a zygote have the zygote's command
    line, but they run in their cell's directory."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "cwd"]):
        try:
            where = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        except psutil.Error:
            continue
        if text in where and proc.info["status"] != psutil.STATUS_ZOMBIE \
                and proc.pid != os.getpid():
            found.append(proc)
    return found


def zygotes_of(pid: int) -> list[psutil.Process]:
    """The zygotes (emitcheck/scripts/zygote_child.py) that process ``pid`` started."""
    from emitcheck.running.zygote import forkable_modes

    return [proc for mode in forkable_modes()
            for proc in processes_mentioning(f"zygote_child.py {mode} {pid}")]


def wait_until(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something truthy; fail saying what we waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def emitcheck(*args: str, env: dict | None = None, timeout: float = 120,
              **kwargs) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess, bounded."""
    return subprocess.run([sys.executable, "-m", "emitcheck", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def share_the_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Call before ``pytester`` is set up: the pytest runs inside a test then
    use this run's emitcheck cache folder. pytester gives each a HOME of its
    own, so each would start with an empty one and list every cell again (a
    few seconds of each run); a user's runs share theirs."""
    from emitcheck.system.cache import CACHE_ENV, cache_root

    monkeypatch.setenv(CACHE_ENV, str(cache_root()))


def runnable(cell_id: str):
    """The cell of ``cell_id``, or a skip saying why it cannot run here."""
    from emitcheck.matrix.cells import parse

    cell = parse(cell_id)
    reason = cell.unavailable()
    if reason:
        pytest.skip(reason)
    return cell


def interrupt_cli(args: list[str], env: dict, started, what: str,
                  signum: int = signal.SIGINT, within: float = 60,
                  cwd: str | os.PathLike | None = None) -> tuple[subprocess.Popen, str]:
    """Run ``emitcheck ARGS``, wait (at most ``within`` s) until ``started()``
    holds, press Ctrl-C (or send ``signum``: SIGTERM, SIGHUP, SIGKILL); the ended
    process (its pid, its exit status) and its stderr. SIGINT is restored in the
    child, as from a terminal: a run started in the background of a shell (nohup,
    '&') inherits it ignored, and Python then never raises KeyboardInterrupt."""
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck", *args], cwd=cwd,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    def started_or_ended():
        if started():
            return True
        if cli.poll() is not None:  # it will never start: say why at once
            _, early = cli.communicate(timeout=30)
            raise AssertionError(f"emitcheck exited with status {cli.returncode} before "
                                 f"{what}: {early.strip()[-1000:]}")
        return False

    try:
        wait_until(started_or_ended, within, what)
        cli.send_signal(signum)
        try:
            _, err = cli.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"emitcheck did not exit within 30 s of "
                                 f"{signal.Signals(signum).name}") from None
    finally:
        cli.kill()
        cli.wait()
    return cli, err


def processes_with_marker(marker: str) -> list[int]:
    """Pids of the live processes (zombies excepted: their environment reads empty)
    whose environment carries ``marker`` as one of the words of EMITCHECK_RUN,
    emitcheck's run marker: every process a run starts has it, and its
    descendants inherit it. (Read here, not with emitcheck's own code: the
    tests check that code.)"""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as env:
                entries = env.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if any(entry.startswith(b"EMITCHECK_RUN=") and marker.encode() in entry[14:].split()
               for entry in entries):
            found.append(int(name))
    return found


def marked(word: str) -> list[tuple[int, str, str]]:
    """(pid, program name, EMITCHECK_CELL) of the live processes carrying ``word``."""
    found = []
    for pid in processes_with_marker(word):
        try:
            with open(f"/proc/{pid}/comm") as comm, open(f"/proc/{pid}/environ", "rb") as env:
                name = comm.read().strip()
                cell = next((e[len(b"EMITCHECK_CELL="):].decode() for e in env.read().split(b"\0")
                             if e.startswith(b"EMITCHECK_CELL=")), "")
        except OSError:
            continue
        found.append((pid, name, cell))
    return found


def alive(pid: int) -> bool:
    """Is ``pid`` running (not gone, not a zombie)?"""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def in_sessions(sessions: set[int]) -> list[int]:
    """Live processes (zombies excepted) in one of ``sessions``: how processes that
    write their title over their environment (nginx, redis-server) are found."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if os.getsid(int(name)) in sessions and alive(int(name)):
                found.append(int(name))
        except OSError:
            continue
    return found


def described(pids) -> list[str]:
    """``PID command line`` of each live one of ``pids`` (for a failure's message)."""
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                words = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append(f"{pid} {words[:80]}")
    return found


class Run:
    """One test's marker word and TMPDIR, and the environment that gives both: what
    emitcheck starts carries the word (emitcheck appends its own marker to
    EMITCHECK_RUN), and its temporary folders are made in the TMPDIR."""

    def __init__(self, tmp_path: Path):
        from emitcheck.system.process import free_port

        self.word = f"test-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.port = free_port()  # for an app that listens on a port of its own (PORT)
        self.env = dict(os.environ, EMITCHECK_RUN=self.word, TMPDIR=str(self.tmp),
                        PORT=str(self.port), COLUMNS="200")
        #: Sessions seen during the run (``note_sessions``): checked by ``left``.
        self.sessions: set[int] = set()

    def note_sessions(self) -> None:
        """Remember the sessions of the run's live processes: a process left in one
        of them is left of the run, whatever its environment or working folder.
        The test's own session (where the emitcheck it started runs) is not one."""
        for pid in self.left():
            try:
                self.sessions.add(os.getsid(pid))
            except OSError:
                continue
        self.sessions.discard(os.getsid(0))

    def left(self) -> list[int]:
        """Live processes of this run (a zombie is dead): carrying its word,
        mentioning its TMPDIR, or in a session noted."""
        return sorted(set(processes_with_marker(self.word))
                      | {p.pid for p in processes_mentioning(str(self.tmp))}
                      | set(in_sessions(self.sessions) if self.sessions else ()))

    def files_left(self) -> list[str]:
        return sorted(os.listdir(self.tmp))

    def kill_what_is_left(self) -> None:
        for pid in self.left():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(name="run")
def run_fixture(tmp_path):
    """The test's Run; whatever is left of it afterwards is killed, pass or fail.
    (A test module imports ``run_fixture`` to have the ``run`` fixture.)"""
    made = Run(tmp_path)
    try:
        yield made
    finally:
        made.kill_what_is_left()


def gone(run: Run, cli_pid: int | None = None, bound: float = 5) -> None:
    """Wait (bounded) until nothing of the run is left: no process, no file, and
    the warden of emitcheck ``cli_pid`` has ended."""
    try:
        wait_until(lambda: not run.left(), bound, "no process left of the run")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: left {described(run.left())}") from None
    if cli_pid is not None:
        wait_until(lambda: not processes_mentioning(f"warden.py {cli_pid} "), bound,
                   "the warden to end")
    try:
        wait_until(lambda: not run.files_left(), bound, "no temporary directory left")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: left {run.files_left()}") from None


#: Recorded data (tests/data/record.py records it again).
DATA = Path(__file__).parent / "data"
#: A recorded matrix run: a cell of each mode and verdict, with observations.
SAMPLE = DATA / "results" / "matrix-sample.json"


def recorded_runs(monkeypatch, path: Path) -> list:
    """Every command's cells run as recorded in ``path`` (no server starts): what the
    command does with the results is what is tested."""
    from emitcheck.model.results import read_results
    from emitcheck.running import runner

    by_id = {r.cell: r for r in read_results(path)}
    monkeypatch.setattr(runner, "run_many", lambda cells, **how: [by_id[c.id] for c in cells])
    return list(by_id.values())
