"""Ctrl-C under the pytest plugin (issue 20): the run stops at once, as pytest
stops on Ctrl-C (the session ends interrupted, exit status 2), with and without
pytest-xdist, and nothing it started is left running.

Each test runs pytest on a few cells in a subprocess of its own, with SIGINT
restored (see ``helpers.interrupt_cli``: a run started in the background of a
shell inherits SIGINT ignored), its own ``EMITCHECK_RUN`` word (emitcheck
appends its marker to it, and every process it starts inherits both: the
xdist workers carry it too) and a private TMPDIR, where every cell makes its
directory and runs its server. Once a cell's server runs, the test sends
SIGINT: to pytest's whole process group, as a terminal's Ctrl-C does, or to
the pytest process alone (``kill -INT``). A conftest logs, from every pytest
process (the xdist workers included, whose reports the controller stops
showing once it is interrupted), each test's outcome and how each session
ended; what it logged before the signal was sent tells which cells were
running then.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from emitcheck.matrix import cells

from .helpers import processes_mentioning, processes_with_marker, runnable, wait_until

#: Cells whose windows last seconds: a run of them is still going when SIGINT comes.
CELLS = "gevent-unpatched-*_sleep,gevent-unpatched-*_sleep-polling"
#: Only a guard against a hang: how long pytest may take to end after SIGINT.
EXIT_BOUND = 30
#: How long the first server may take to start (xdist starts its workers first).
START_BOUND = 90
#: How long, after pytest ended, what it started may take to be gone.
GONE_BOUND = 10

pytestmark = pytest.mark.timeout(240)

CONFTEST = """
import json
import os

LOG = {log!r}
CONFIG = []


def pytest_configure(config):
    CONFIG.append(config)


def _write(**fields):
    workerinput = getattr(CONFIG[0], "workerinput", None)
    fields.update(pid=os.getpid(),
                  process=workerinput["workerid"] if workerinput else "main")
    with open(LOG, "a") as log:
        log.write(json.dumps(fields) + "\\n")


def pytest_sessionstart(session):
    _write(event="start")


def pytest_runtest_logstart(nodeid, location):
    _write(event="begin", test=nodeid)


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _write(event="report", test=report.nodeid, outcome=report.outcome,
               longrepr=str(report.longrepr or "")[:500])


def pytest_sessionfinish(session, exitstatus):
    _write(event="finish", exitstatus=int(exitstatus))
"""

TESTS = """
def test_natural(emitcheck_result):
    assert emitcheck_result.verdict == "delivered"
"""


class Suite:
    """A project with one emitcheck test, its marker word, its TMPDIR and its log."""

    def __init__(self, tmp_path: Path):
        self.word = f"test-{uuid.uuid4().hex[:12]}"
        self.project = tmp_path / "project"
        self.project.mkdir()
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.log = tmp_path / "events.log"
        (self.project / "conftest.py").write_text(CONFTEST.format(log=str(self.log)))
        (self.project / "test_emit.py").write_text(TESTS)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST_", "EMITCHECK_"))}  # not the outer run's
        self.env = dict(env, EMITCHECK_RUN=self.word, TMPDIR=str(self.tmp), COLUMNS="200")

    def servers(self) -> list:
        """Processes running in a cell's directory (a server, forked or not)."""
        return processes_mentioning(f"{self.tmp}{os.sep}emitcheck-")

    def events(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def left(self) -> list[str]:
        """What is still running of the run: processes carrying its word or in its
        TMPDIR, and the wardens of its pytest processes."""
        pids = set(processes_with_marker(self.word)) \
            | {p.pid for p in processes_mentioning(str(self.tmp))}
        for pid in {event["pid"] for event in self.events()}:
            pids |= {p.pid for p in processes_mentioning(f"warden.py {pid} ")}
        return [_described(pid) for pid in sorted(pids)]

    def temporary(self) -> list[str]:
        """The cells' directories left in TMPDIR (pytest's own basetemp is pytest's)."""
        return sorted(name for name in os.listdir(self.tmp) if name.startswith("emitcheck-"))

    def kill_what_is_left(self) -> None:
        for pid in processes_with_marker(self.word):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _described(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return f"{pid} " + cmdline.read().replace(b"\0", b" ").decode(errors="replace")[:100]
    except OSError:
        return f"{pid} (gone)"


@pytest.fixture
def suite(tmp_path):
    made = Suite(tmp_path)
    try:
        yield made
    finally:
        made.kill_what_is_left()


def interrupt_pytest(suite: Suite, args: list[str], group: bool) -> tuple[int, str, int]:
    """Run pytest on ``suite`` with ``args``, wait (bounded) until a cell's server
    runs, send SIGINT (to pytest's process group, or to pytest alone); its exit
    status, its output and how many events were logged before the signal."""
    pytest_run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "--emitcheck-cells", CELLS, *args],
        cwd=suite.project, env=suite.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: suite.servers() or pytest_run.poll() is not None, START_BOUND,
                   "a cell's server to run")
        assert pytest_run.poll() is None, \
            f"pytest ended before any server was seen:\n{pytest_run.communicate()[0]}"
        before = len(suite.events())
        if group:  # a terminal's Ctrl-C: the xdist workers get it too
            os.killpg(pytest_run.pid, signal.SIGINT)
        else:
            pytest_run.send_signal(signal.SIGINT)
        sent = time.monotonic()
        try:
            out, _ = pytest_run.communicate(timeout=EXIT_BOUND)
        except subprocess.TimeoutExpired:
            pytest_run.kill()
            out, _ = pytest_run.communicate()
            raise AssertionError(f"pytest did not end within {EXIT_BOUND} s of SIGINT "
                                 f"(waited for its exit); its output:\n{out[-3000:]}") from None
        print(f"pytest ended {time.monotonic() - sent:.1f} s after SIGINT")
    finally:
        if pytest_run.poll() is None:
            os.killpg(pytest_run.pid, signal.SIGKILL)
            pytest_run.wait()
    return pytest_run.returncode, out, before


def assert_stopped(suite: Suite, status: int, out: str, before: int, processes: int) -> None:
    """The run ended interrupted; every pytest process ended its session (none
    was killed), as interrupted unless it was idle; no cell running when the
    signal was sent (``before``: the events logged until then) was reported
    afterwards, and no interrupted cell is a failure of emitcheck; fewer cells
    ran than were selected; and nothing is left."""
    tail = out[-3000:]
    assert status == pytest.ExitCode.INTERRUPTED, f"exit status {status}:\n{tail}"
    assert "KeyboardInterrupt" in out, tail
    events = suite.events()
    failed = [e for e in events if "emitcheck itself failed" in e.get("longrepr", "")]
    assert "emitcheck itself failed" not in out and failed == [], failed or tail
    selected = len(cells.select(CELLS))
    ran = {e["test"] for e in events if e["event"] == "report"}
    assert len(ran) < selected, f"{len(ran)} of {selected} cells ran: {sorted(ran)}"
    running = _tests(events[:before], "begin") - _tests(events[:before], "report")
    finished = sorted(_tests(events[before:], "report") & running)
    assert finished == [], \
        f"cells running when SIGINT was sent went on to their reports (process, test): " \
        f"{finished}\nevents: {events}\n{tail}"
    started = {e["process"] for e in events if e["event"] == "start"}
    ended = {e["process"]: e["exitstatus"] for e in events if e["event"] == "finish"}
    assert len(started) == processes, events
    assert set(ended) == started, \
        f"sessions started {sorted(started)}, ended {ended}\nevents: {events}\n{tail}"
    interrupted = {name for name, code in ended.items() if code == pytest.ExitCode.INTERRUPTED}
    assert "main" in interrupted, f"sessions ended (exit status) {ended}"
    # A worker that was idle when the signal came (between two cells, or told
    # by xdist to shut down first) ends its session normally; every other one
    # ends interrupted. None ends with a cell cut short unsaid.
    for name in started - interrupted:
        begun = {e["test"] for e in events if e["event"] == "begin" and e["process"] == name}
        reported = {e["test"] for e in events if e["event"] == "report" and e["process"] == name}
        assert ended[name] == pytest.ExitCode.OK and begun <= reported, \
            f"session {name} ended {ended[name]}, not interrupted, with cells begun " \
            f"{sorted(begun)} and reported {sorted(reported)}: {events}"
    try:
        wait_until(lambda: not suite.left(), GONE_BOUND, "no process of the run left")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: left {suite.left()}") from None
    assert suite.temporary() == []


def _tests(events: list[dict], kind: str) -> set[tuple[str, str]]:
    """(process, test) of the events of that kind."""
    return {(e["process"], e["test"]) for e in events if e["event"] == kind}


@pytest.fixture
def gevent():
    runnable("gevent-unpatched-task-time_sleep")


def test_ctrl_c_stops_a_plugin_run_at_once(suite, gevent):
    """Without xdist every selected cell starts after collection; Ctrl-C in the
    middle ends the session as interrupted, and stops them all."""
    status, out, before = interrupt_pytest(suite, [], group=False)
    assert_stopped(suite, status, out, before, processes=1)


@pytest.mark.parametrize("group", [True, False], ids=["terminal", "pytest-only"])
def test_ctrl_c_stops_a_plugin_run_under_xdist(suite, gevent, group):
    """With ``-n 2``: a terminal's Ctrl-C reaches the workers too. A SIGINT to
    the controller alone reaches none: the plugin tells them (the controller
    leaves a word in the directory they share; left to xdist, its teardown has
    execnet interrupt a worker 5 s later, wherever it is, and kill it 10 s
    later). Either way each worker that was running a cell ends its session as
    interrupted at once, without reporting that cell, and none is killed."""
    status, out, before = interrupt_pytest(suite, ["-n", "2"], group=group)
    assert_stopped(suite, status, out, before, processes=3)


@pytest.mark.parametrize("runs_it", [True, False], ids=["its-own", "another-workers"])
def test_a_worker_waiting_for_a_cell_stops_once_the_controllers_session_is_interrupted(
        tmp_path, monkeypatch, runs_it):
    """The word the xdist controller leaves in the shared directory once its
    session is interrupted (a SIGINT to it alone reaches no worker) ends, as
    interrupted, the session of a worker waiting for a cell, whether the
    worker runs it or another one does; before that, the worker waits."""
    from concurrent.futures import Future
    from types import SimpleNamespace

    from emitcheck.plugins import session as plugin_session
    from emitcheck.plugins.state import RUN_INTERRUPTED

    monkeypatch.setattr(plugin_session, "RESULT_TIMEOUT", 60.0)  # a bound, not reached
    option = SimpleNamespace(emitcheck_jobs=None, emitcheck_html=None)
    waiting = plugin_session.Session(SimpleNamespace(option=option), tmp_path)
    cell = cells.parse("gevent-unpatched-task-time_sleep")
    if runs_it:
        waiting.futures[cell] = Future()  # running, never done
    else:  # another worker (here, another session) claimed it and never writes it
        owner = plugin_session.Session(SimpleNamespace(option=option), tmp_path)
        assert owner._claim(cell)  # its lock held as long as ``owner`` lives
        waiting.elsewhere.add(cell)
    told = threading.Timer(0.5, (tmp_path / RUN_INTERRUPTED).touch)
    told.start()
    try:
        with pytest.raises(pytest.exit.Exception) as ended:
            waiting.result(cell)
    finally:
        told.cancel()
        told.join()
    assert (tmp_path / RUN_INTERRUPTED).exists()  # it waited until told (not there before)
    assert ended.value.returncode == pytest.ExitCode.INTERRUPTED
    assert "controller's session was interrupted" in str(ended.value.msg)
    assert waiting.pool is None  # nothing started meanwhile
    if not runs_it:
        assert owner.locks  # still claimed: the word, not the lock, ended the wait
