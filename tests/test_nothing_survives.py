"""Nothing survives: every process a cell or the app's load check starts, and
all their descendants, die with the cell and with emitcheck, however emitcheck
ends (a normal exit, Ctrl-C, SIGTERM, SIGHUP, SIGKILL); no temporary
directory is left.

Each test gives emitcheck an ``EMITCHECK_RUN`` word of its own (emitcheck
appends its own marker to it, and every process it starts inherits both) and a
private TMPDIR, then looks for live processes whose environment carries that
word (``processes_with_marker``) or that mention the TMPDIR (nginx and
redis-server write their process title over their environment), and for what
is left in the TMPDIR. The sample apps are in tests/apps/shapes: a web
terminal (a shell on a pty per client), an app that starts helpers with
``subprocess.Popen`` at import and per client, and one that calls
``socketio.run(app, debug=True)`` at import (Werkzeug's reloader).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from emitcheck.apps import user_app
from emitcheck.system.process import ManagedProcess, ServerFiles

from .helpers import (
    emitcheck,
    gone,
    interrupt_cli,
    marked,
    processes_mentioning,
    processes_with_marker,
    run_fixture,  # noqa: F401 (the run fixture)
    runnable,
    wait_until,
)

SHAPES = Path(__file__).parent / "apps" / "shapes"
#: A cell's window, short: these tests are about what is left, not verdicts.
WINDOW = ["--timeout", "3"]
#: Seconds the warden may take, after emitcheck was killed, to kill and remove.
WARDEN_BOUND = 15
GEVENT_GUNICORN = "gevent-patched-app-own-gunicorn"

pytestmark = pytest.mark.timeout(240)


class Watch:
    """Samples, while a run goes on, the (program, cell) of the processes carrying
    its word: proof that what a test says must not survive did exist."""

    def __init__(self, word: str):
        self.word = word
        self.seen: set[tuple[str, str]] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.seen |= {(name, cell) for _, name, cell in marked(self.word)}

    def stop(self) -> set[tuple[str, str]]:
        self._done.set()
        self._thread.join(5)
        return self.seen


def _listening(pid: int) -> bool:
    import psutil

    try:
        return any(c.status == psutil.CONN_LISTEN
                   for c in psutil.Process(pid).net_connections(kind="tcp"))
    except psutil.Error:
        return False


def _app_args(target: str, rows: str) -> list[str]:
    return ["app", target, "--path", str(SHAPES), "--event", "tick", *WINDOW, "-k", rows]


def _port_free(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


# -- a whole run --------------------------------------------------------------------


def test_pty_shells_of_every_cell_die_with_their_cell_gevent_gunicorn_included(run):
    """A shell on a pty per client (a session of its own): each cell's shells
    are gone at the end of the run, those of the gevent worker under gunicorn too."""
    runnable(GEVENT_GUNICORN)
    watch = Watch(run.word)
    try:
        proc = emitcheck(*_app_args("spawns_pty:socketio", "gevent"), env=run.env, timeout=180)
    finally:
        seen = watch.stop()
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr
    shells = {cell for name, cell in seen if name == "bash"}
    assert GEVENT_GUNICORN in shells, f"no shell was seen in {GEVENT_GUNICORN}: {seen}"
    assert run.left() == [], marked(run.word)
    assert run.files_left() == []


def test_helpers_started_with_popen_die_with_the_cell_and_the_load_check(run):
    """``sleep 300`` at import (the load check's, every server's) and per client
    in a session of its own."""
    watch = Watch(run.word)
    try:
        proc = emitcheck(*_app_args("spawns_popen:socketio", "auto-unpatched-app-own,gunicorn"),
                         env=run.env, timeout=180)
    finally:
        seen = watch.stop()
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr
    sleeping = {cell for name, cell in seen if name == "sleep"}
    assert "auto-unpatched-app-own" in sleeping and any(
        cell.endswith("-gunicorn") for cell in sleeping), seen
    assert run.left() == [], marked(run.word)
    assert run.files_left() == []


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                            (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_mid_run_stops_every_cell_and_exits_128_plus_it(run, signum, status):
    """Once a gevent worker under gunicorn has spawned its shell."""
    runnable(GEVENT_GUNICORN)

    def shell_up():
        return any(name == "bash" and cell == GEVENT_GUNICORN
                   for _, name, cell in marked(run.word))

    cli, err = interrupt_cli(_app_args("spawns_pty:socketio", "gevent"), run.env, shell_up,
                             f"a shell in {GEVENT_GUNICORN}", signum)
    assert cli.returncode == status, err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("emitcheck: ")]
    assert len(said) == 1 and "every process it started was stopped" in said[0], err
    gone(run, cli.pid)


def test_sigkill_mid_run_leaves_nothing_once_the_warden_has_acted(run):
    """No cleanup code of emitcheck's runs: the warden kills what carries the marker
    and removes the cells' directories."""
    runnable(GEVENT_GUNICORN)

    def shell_up():
        return any(name == "bash" and cell == GEVENT_GUNICORN
                   for _, name, cell in marked(run.word))

    cli, _ = interrupt_cli(_app_args("spawns_pty:socketio", "gevent"), run.env, shell_up,
                           f"a shell in {GEVENT_GUNICORN}", signal.SIGKILL)
    assert cli.returncode == -signal.SIGKILL
    gone(run, cli.pid, WARDEN_BOUND)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_nginx_workers_do_not_outlive_emitcheck(run, signum):
    """nginx writes its process title over its environment: its workers are found
    by their session (the master's), which emitcheck started."""
    cell = runnable("threading-unpatched-thread-time_sleep-nginx")

    def workers():
        return [p for p in processes_mentioning(str(run.tmp))
                if " ".join(p.cmdline()).startswith("nginx: worker")]

    cli, err = interrupt_cli(["run", cell.id], run.env, workers, "nginx's worker", signum)
    assert cli.returncode == (143 if signum == signal.SIGTERM else -signal.SIGKILL), err
    gone(run, cli.pid, WARDEN_BOUND)


# -- the app's load check -------------------------------------------------------------


#: A module that serves at import with Werkzeug's reloader, as ``app.run(debug=True)``
#: or ``socketio.run(app, debug=True)`` outside ``if __name__ == "__main__"`` do: the
#: importing process starts a copy of its own command line, which listens on PORT,
#: and waits for it for ever. (A long reloader interval: a file edited meanwhile
#: would make it exit instead of listening.)
RELOADS_AT_IMPORT = """
import os
from werkzeug.serving import run_simple


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


run_simple("127.0.0.1", int(os.environ["PORT"]), hello, use_reloader=True,
           reloader_interval=3600)
"""


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                            (signal.SIGKILL, -signal.SIGKILL)],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_reloader_started_by_the_load_check_dies_with_emitcheck(run, tmp_path, signum,
                                                                  status):
    """The load check's process waits for Werkzeug's reloader child, which listens
    on the app's port, in the load check's session but in no process emitcheck
    started."""
    (tmp_path / "reloads_at_import.py").write_text(RELOADS_AT_IMPORT)

    def reloader_listens():
        return any(_listening(pid) for pid in processes_with_marker(run.word))

    args = ["app", "reloads_at_import:app", "--path", str(tmp_path), "--event", "tick", *WINDOW]
    cli, err = interrupt_cli(args, run.env, reloader_listens, "the reloader child to listen",
                             signum)
    assert cli.returncode == status, err
    gone(run, cli.pid, WARDEN_BOUND)
    assert _port_free(run.port)


def test_an_app_that_serves_with_debug_at_import_leaves_nothing(run):
    """socketio.run(app, debug=True) at module level (Werkzeug's reloader): nothing
    of it is left, and its port is free, once emitcheck app has ended."""
    proc = emitcheck(*_app_args("debug_reloader:socketio", "auto-unpatched-app-own"),
                     env=run.env, timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert run.left() == [], marked(run.word)
    assert _port_free(run.port)
    assert run.files_left() == []


def test_the_load_check_kills_what_the_app_started_at_import_without_waiting_for_it(
        run, monkeypatch):
    """The helper started at import (``sleep 300``) holds the check's stdout: a
    check that waited for the end of its output would reach IMPORT_TIMEOUT and
    raise AppError; it answers all the same, and the helper is gone when it returns."""
    monkeypatch.setenv("EMITCHECK_RUN", run.word)
    info = user_app.check(user_app.AppSpec("spawns_popen:socketio", "tick", str(SHAPES)))
    assert info.async_mode in ("threading", "eventlet", "gevent")
    assert processes_with_marker(run.word) == []


def test_the_load_check_kills_its_tree_when_the_import_fails_or_times_out(
        run, monkeypatch, tmp_path):
    """Apps that start a helper at import and then raise, or never return from the
    import; one that serves at import with Werkzeug's reloader (its child listens
    on the app's port): the check says why, and nothing of it is left."""
    import tempfile

    monkeypatch.setenv("EMITCHECK_RUN", run.word)
    monkeypatch.setenv("PORT", str(run.port))
    monkeypatch.setattr(tempfile, "tempdir", str(run.tmp))
    monkeypatch.setattr(user_app, "IMPORT_TIMEOUT", 4.0)
    (tmp_path / "fails_after_popen.py").write_text(
        "import subprocess\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "raise RuntimeError('the app cannot start')\n")
    (tmp_path / "hangs_after_popen.py").write_text(
        "import subprocess, time\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "time.sleep(300)\n")
    with pytest.raises(user_app.AppError, match="RuntimeError"):
        user_app.check(user_app.AppSpec("fails_after_popen:socketio", "tick", str(tmp_path)))
    assert processes_with_marker(run.word) == []
    with pytest.raises(user_app.AppError, match="did not finish within 4 s"):
        user_app.check(user_app.AppSpec("hangs_after_popen:socketio", "tick", str(tmp_path)))
    assert processes_with_marker(run.word) == []
    (tmp_path / "reloads_at_import.py").write_text(RELOADS_AT_IMPORT)
    with pytest.raises(user_app.AppError, match="did not finish within 4 s"):
        user_app.check(user_app.AppSpec("reloads_at_import:app", "tick", str(tmp_path)))
    assert processes_with_marker(run.word) == []
    assert _port_free(run.port)
    assert run.files_left() == []


# -- one process's stop, and the warden --------------------------------------------------

#: A process that leaves a daemon behind: ``sleep 300`` in a session of its own
#: whose parent (the subshell) has exited, so that it is in neither the process
#: group nor the process tree of what started it.
DAEMONIZES = ["sh", "-c", "(setsid sleep 300 &); exec sleep 300"]


def test_stopping_a_process_kills_its_daemons_and_not_another_processs(run, monkeypatch):
    """Two processes of the same command (two cells of one id in two runs): stopping
    one kills its daemon, found by the word of EMITCHECK_RUN only it carries."""
    monkeypatch.setenv("EMITCHECK_RUN", run.word)
    first = ManagedProcess(DAEMONIZES, ServerFiles(run.tmp / "first"), 0)
    second = ManagedProcess(DAEMONIZES, ServerFiles(run.tmp / "second"), 0)
    try:
        wait_until(lambda: [name for _, name, _ in marked(run.word)] == ["sleep"] * 4, 10,
                   "two sleeps each")
        first.stop()
        assert [name for _, name, _ in marked(run.word)] == ["sleep", "sleep"]
        assert all(first.scope not in _environ_words(pid) for pid, _, _ in marked(run.word))
    finally:
        first.stop()
        second.stop()
    assert processes_with_marker(run.word) == []


def _environ_words(pid: int) -> list[str]:
    with open(f"/proc/{pid}/environ", "rb") as env:
        for entry in env.read().split(b"\0"):
            if entry.startswith(b"EMITCHECK_RUN="):
                return entry[len(b"EMITCHECK_RUN="):].decode().split()
    return []


def test_children_do_not_hold_the_wardens_pipe(run, monkeypatch):
    """Were a child to inherit the pipe's write end, the warden would never see
    emitcheck end."""
    monkeypatch.setenv("EMITCHECK_RUN", run.word)
    child = ManagedProcess(DAEMONIZES, ServerFiles(run.tmp / "child"), 0)
    try:
        wait_until(lambda: [name for _, name, _ in marked(run.word)] == ["sleep"] * 2, 10,
                   "the child and its daemon")
        from emitcheck.system import warden

        client = warden._client()
        assert client.popen is not None and client.popen.poll() is None
        pipe = os.readlink(f"/proc/self/fd/{client.pipe.fileno()}")
        assert pipe.startswith("pipe:")
        for pid, _, _ in marked(run.word):
            held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            assert pipe not in held, (pid, held)
    finally:
        child.stop()


#: An owner of processes (as emitcheck is) that will be killed: a daemon (found by
#: its marker) and a redis-server whose parent is killed with the owner
#: (pdeathsig), found by its session: it writes its process title over its
#: environment, as nginx does.
OWNER = f"""
import time
from pathlib import Path
from emitcheck.system import warden
from emitcheck.system.process import ManagedProcess, ServerFiles, free_port
held = warden.TemporaryDirectory(prefix="owner-")
ManagedProcess({DAEMONIZES!r}, ServerFiles(Path(held.name) / "daemon"), 0)
redis = f"redis-server --port {{free_port()}} --bind 127.0.0.1 --save '' --appendonly no"
ManagedProcess(["sh", "-c", redis + " & exec sleep 300"], ServerFiles(Path(held.name) / "redis"), 0)
print("started", flush=True)
time.sleep(300)
"""


def test_the_warden_kills_by_marker_and_by_session_and_removes_directories(run, tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not found on PATH")
    owner = subprocess.Popen([sys.executable, "-c", OWNER], env=run.env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline() == "started\n"
        redis = wait_until(lambda: [p.pid for p in processes_mentioning(str(run.tmp))
                                    if p.name() == "redis-server" and not _zombie(p.pid)],
                           10, "redis-server")
        wait_until(lambda: len(marked(run.word)) >= 3, 10, "the daemon and its parent")
        try:  # once it has set its title
            wait_until(lambda: redis[0] not in processes_with_marker(run.word), 5,
                       "redis-server to write its title over its environment")
        except AssertionError:
            pytest.skip("this redis-server keeps its environment: nothing to find by session")
    finally:
        owner.kill()
        owner.communicate()
    gone(run, owner.pid, WARDEN_BOUND)


def _zombie(pid: int) -> bool:
    """Has ``pid`` ended (a zombie, or gone)?"""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
