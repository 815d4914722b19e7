"""Nothing left behind, and faults give verdicts instead of hangs.

Each test gives its servers a private temporary directory (the emit log path
is on the server's command line), then looks for live processes that mention
it once the run is over.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from emitcheck import cells, runner
from emitcheck.probe import Timing, observe
from emitcheck.server import ServerFiles, ServerProcess, free_port
from emitcheck.verdict import classify

from .helpers import processes_mentioning, wait_until, zygotes_of

THREADING = cells.parse("threading-unpatched-thread-time_sleep")
SHORT = Timing(quiet=0.6, traffic=0.4, ready_timeout=20.0)


def test_nothing_remains_after_a_normal_run(tmp_path):
    result = runner.run_cell(THREADING, SHORT, workdir=tmp_path)
    assert result.verdict == "delivered", result.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_a_server_killed_during_the_window_is_crashed(tmp_path):
    server = ServerProcess.for_cell(THREADING.id, SHORT.interval, tmp_path)

    def kill_once_listening():
        server.wait_listening(SHORT.ready_timeout)
        threading.Timer(0.3, server.popen.kill).start()

    threading.Thread(target=kill_once_listening, daemon=True).start()
    judged = classify(observe(server, THREADING.id, SHORT))
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
    server = ServerProcess(argv, ServerFiles(tmp_path / "files"), free_port())
    judged = classify(observe(server, THREADING.id, Timing(ready_timeout=1.0)))
    assert judged.verdict == "starved"
    assert "did not listen on port" in judged.evidence and "within 1 s" in judged.evidence
    assert "takes forever" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_a_server_that_dies_at_start_is_crashed_with_its_error(tmp_path):
    argv = _script(tmp_path, """
        raise SystemExit("RuntimeError: The Werkzeug web server is not designed to run in prod")
    """)
    server = ServerProcess(argv, ServerFiles(tmp_path / "files"), free_port())
    judged = classify(observe(server, THREADING.id, Timing(ready_timeout=10.0)))
    assert judged.verdict == "crashed"
    assert "status 1" in judged.evidence and "Werkzeug" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_ctrl_c_in_the_middle_of_a_matrix_leaves_nothing(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck.cli", "matrix", "-k", "threading"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: processes_mentioning(str(tmp_path)), 30,
                   "the matrix to start a server")
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=30)
    finally:
        cli.kill()
    assert cli.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "the servers to be gone after Ctrl-C")
    wait_until(lambda: not zygotes_of(cli.pid), 5, "the zygote to be gone after Ctrl-C")


def test_a_killed_parent_takes_its_servers_along(tmp_path):
    """SIGKILL leaves no chance for cleanup code: the kernel (pdeathsig) does it."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck.cli", "matrix", "-k", "threading"],
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


def test_a_pytest_timeout_leaves_nothing(tmp_path):
    (tmp_path / "test_slow.py").write_text(textwrap.dedent("""
        def test_cell(emitcheck_result):
            pass
    """))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--timeout=2",
         "-k", "threading-unpatched-thread-time_sleep and not polling and not websocket",
         str(tmp_path / "test_slow.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "Timeout" in proc.stdout, proc.stdout
    assert proc.returncode == 1
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "the servers to be gone after the pytest timeout")


def test_servers_listen_on_loopback_only(tmp_path):
    server = ServerProcess.for_cell(THREADING.id, SHORT.interval, tmp_path)
    try:
        port = server.wait_listening(SHORT.ready_timeout)
        assert server.listening_addresses() == [("127.0.0.1", port)]
    finally:
        server.stop()
    assert processes_mentioning(str(tmp_path)) == []


def test_nothing_remains_when_the_client_side_fails(tmp_path):
    """A probe that raises mid-window (here: a negative quiet phase) still stops its server."""
    broken = Timing(quiet=-1.0)
    try:
        runner.run_cell(THREADING, broken, workdir=tmp_path)
    except ValueError:
        pass
    else:
        raise AssertionError("the broken probe should have raised")
    assert processes_mentioning(str(tmp_path)) == []


def test_a_taken_port_does_not_break_the_run(tmp_path, monkeypatch):
    """Another process takes the port we picked before the server binds it: the
    runner notices and starts the server again on another port."""
    import socket

    from emitcheck import server as server_module

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    picks = iter([taken])
    real_free_port = server_module.free_port
    monkeypatch.setattr(server_module, "free_port", lambda: next(picks, None) or real_free_port())
    try:
        result = runner.run_cell(THREADING, SHORT, workdir=tmp_path)
    finally:
        squatter.close()
    assert result.verdict == "delivered", result.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_flasks_default_port_taken_does_not_matter(tmp_path):
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


def test_a_missing_stack_is_a_skip_with_the_reason():
    missing = [c for c in cells.all_cells() if c.package and runner.missing_stack(c)
               and not c.family]
    if not missing:
        pytest.skip("eventlet and gevent are both installed in this environment")
    result = runner.run_cell(missing[0])
    assert result.verdict is None and result.matches
    assert result.skipped == f"{missing[0].package} not installed"
    assert result.to_json()["skipped"] == result.skipped


@pytest.mark.parametrize("cell_id", ["threading-unpatched-process-time_sleep-redis",
                                     "threading-unpatched-thread-time_sleep-gunicorn"])
def test_nothing_remains_of_a_cell_with_several_processes(tmp_path, cell_id):
    """redis-server, the emitter process and the server; gunicorn's master and worker."""
    cell = cells.parse(cell_id)
    if runner.missing_stack(cell):
        pytest.skip(runner.missing_stack(cell))
    result = runner.run_cell(cell, SHORT, workdir=tmp_path)
    assert result.verdict == "delivered", result.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_a_redis_server_that_does_not_start_is_a_clear_error(tmp_path, monkeypatch):
    cell = cells.parse("threading-unpatched-thread-time_sleep-redis")
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR' \nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    if runner.missing_stack(cell):
        pytest.skip(runner.missing_stack(cell))
    with pytest.raises(RuntimeError, match="private redis-server did not start: server "
                                           "exited with status 1.*FATAL CONFIG FILE ERROR"):
        runner.run_cell(cell, SHORT, workdir=tmp_path)
    assert processes_mentioning(str(tmp_path)) == []


def test_missing_redis_node_or_gunicorn_worker_is_a_skip_with_the_reason(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither redis-server nor node
    redis = runner.run_cell(cells.parse("threading-unpatched-thread-time_sleep-redis"))
    assert redis.skipped.startswith("redis-server not found on PATH")
    node = runner.run_cell(cells.parse("threading-unpatched-thread-time_sleep-node"))
    assert node.skipped == "node not found on PATH"
    monkeypatch.undo()
    monkeypatch.setenv("EMITCHECK_NODE_DIR", str(tmp_path))
    if shutil.which("node"):
        assert runner.run_cell(cells.parse("threading-unpatched-task-time_sleep-node")) \
            .skipped.startswith(f"no probe.js in {tmp_path}")
    gunicorn = cells.parse("threading-unpatched-thread-time_sleep-gunicorn")
    if runner.missing_stack(gunicorn) is None:  # gunicorn is installed: take its worker away
        from gunicorn.workers import SUPPORTED_WORKERS

        monkeypatch.delitem(SUPPORTED_WORKERS, "gthread")
        assert "has no gthread worker (it has: " in runner.run_cell(gunicorn).skipped


def test_a_forked_server_killed_during_the_window_is_crashed(tmp_path):
    """The zygote's report of its server's end stands in for waitpid."""
    from emitcheck import zygote

    cell = cells.parse("threading-unpatched-task-socketio_sleep")
    forked = runner.start_server(cell, SHORT, tmp_path)
    assert isinstance(forked, zygote.ForkedServer)
    assert os.getsid(forked.pid) == forked.pid  # a session of its own
    threading.Timer(0.3, os.kill, (forked.pid, signal.SIGKILL)).start()
    judged = classify(observe(forked, cell.id, SHORT))
    assert judged.verdict == "crashed", judged.evidence
    assert "status -9" in judged.evidence
    assert processes_mentioning(str(tmp_path)) == []


def test_fresh_servers_on_request(tmp_path, monkeypatch):
    from emitcheck import zygote

    cell = cells.parse("threading-unpatched-task-socketio_sleep")
    monkeypatch.setenv(zygote.FRESH_SERVERS, "1")
    fresh = runner.start_server(cell, SHORT, tmp_path)
    fresh.stop()
    assert not isinstance(fresh, zygote.ForkedServer)
    assert not zygote.serves(cells.parse("gevent-patched-task-socketio_sleep"))


def test_servers_die_with_their_zygote(tmp_path):
    """PR_SET_PDEATHSIG in the forked server: no orphan if the zygote is killed.
    A zygote of its own, so that cells running meanwhile keep theirs."""
    from emitcheck import zygote

    cell = cells.parse("threading-unpatched-thread-socketio_sleep")
    own = zygote.Zygote(cell.mode)
    forked = zygote.ForkedServer(own, cell.id, SHORT.interval, ServerFiles(tmp_path),
                                 free_port(), None)
    try:
        forked.wait_listening(SHORT.ready_timeout)
        own.stop()
        wait_until(lambda: forked.exited() is not None, 5, "the server to report its end")
        wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
                   "the server to die with its zygote")
    finally:
        forked.stop()
        own.stop()
