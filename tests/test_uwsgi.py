"""uWSGI serves the app: its ids and conflicts, its skip reasons, the command it
runs (loopback, --lazy-apps, no file outside the cell), its default cells and
expectations, and real cells through uWSGI (their verdicts; no uwsgi process
left behind, even when its master is killed)."""

import os
import signal

import psutil
import pytest

from emitcheck.families import uwsgi as family
from emitcheck.matrix import cells
from emitcheck.matrix.cell import CellError, variant
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import Timing
from emitcheck.running import runner
from emitcheck.running.cell_run import CellRun
from emitcheck.system.process import ManagedProcess, ServerFiles

from .helpers import processes_mentioning, runnable, wait_until

SHORT = Timing(quiet=0.6, traffic=0.4, ready_timeout=30.0)


def test_uwsgi_ids_compose_with_transports_the_node_client_and_nginx():
    cell = cells.parse("gevent-unpatched-thread-time_sleep-node-uwsgi-websocket")
    assert cell.id == "gevent-unpatched-thread-time_sleep-websocket-uwsgi-node"
    assert cell.server == "uwsgi" and not cell.forkable and not cell.reproducible
    assert cells.parse("threading-unpatched-task-socketio_sleep-nginx_no_upgrade-uwsgi").id == \
        "threading-unpatched-task-socketio_sleep-uwsgi-nginx_no_upgrade"


@pytest.mark.parametrize("bad, says", [
    ("eventlet-patched-task-socketio_sleep-uwsgi",
     "uWSGI has no eventlet loop engine (Flask-SocketIO documents uWSGI with gevent): use "
     "gevent-...-uwsgi, threading-...-uwsgi, or eventlet-...-gunicorn"),
    ("auto-unpatched-task-socketio_sleep-uwsgi", "picks eventlet where it is installed"),
    ("gevent-patched-task-socketio_sleep-redis-uwsgi", "-uwsgi cells run without -redis: "),
    ("gevent-patched-celery-time_sleep-redis-uwsgi-gevent_pool", "run without -redis "),
    ("gevent-patched-task-socketio_sleep-uwsgi-two_ip_hash", "run without -two_ip_hash: "),
])
def test_a_uwsgi_cell_refuses_what_it_cannot_run_in_one_line(bad, says):
    with pytest.raises(CellError, match="^[^\n]*$") as refused:
        cells.parse(bad)
    assert says in str(refused.value)


def test_missing_uwsgi_is_a_skip_saying_how_to_get_it(monkeypatch):
    monkeypatch.setattr(family, "binary", lambda: None)
    for row in ("gevent-patched", "threading-unpatched"):
        cell = cells.parse(f"{row}-task-socketio_sleep-uwsgi")
        assert variant("server", "uwsgi").unavailable(cell) == (
            "uWSGI is not installed in this environment (pip install 'emitcheck[uwsgi]', "
            "which compiles it: a C compiler and the Python headers)")


def test_a_uwsgi_without_the_gevent_loop_skips_only_gevent_cells(monkeypatch, tmp_path):
    fake = tmp_path / "uwsgi"
    monkeypatch.setattr(family, "binary", lambda: fake)
    monkeypatch.setattr(family, "_options", lambda path: "--threads  run each worker ...")
    gevent = cells.parse("gevent-patched-task-socketio_sleep-uwsgi")
    threading = cells.parse("threading-unpatched-task-socketio_sleep-polling-uwsgi")
    if variant("mode", "gevent").unavailable(gevent):
        pytest.skip("gevent is not installed: its own reason comes first")
    assert gevent.unavailable() == (f"this uWSGI ({fake}) was built without the gevent loop "
                                    "engine (pip install 'emitcheck[uwsgi]', which compiles "
                                    "it: a C compiler and the Python headers)")
    assert threading.unavailable() is None


def _command(cell_id, tmp_path, monkeypatch, queue_url=None):
    """The argv the uwsgi value starts for a cell (nothing is started)."""
    captured = {}

    def serve(directory, cell_id, command, banner=None, env=None):
        captured["argv"] = command(ServerFiles(directory), 5000)
        captured["banner"] = banner
    monkeypatch.setattr(family, "binary", lambda: tmp_path / "bin" / "uwsgi")
    monkeypatch.setattr(ManagedProcess, "serve", serve)
    run = CellRun(cells.parse(cell_id), SHORT, tmp_path)
    run.queue_url = queue_url
    variant("server", "uwsgi").start(run, tmp_path / "try1")
    return captured["argv"], captured["banner"]


def test_gevent_cells_run_the_documented_command_with_lazy_apps(tmp_path, monkeypatch):
    argv, banner = _command("gevent-unpatched-thread-time_sleep-uwsgi", tmp_path, monkeypatch)
    assert argv[:5] == [str(tmp_path / "bin" / "uwsgi"), "--http", "127.0.0.1:5000",
                        "--gevent", "1000"]
    for option in ("--http-websockets", "--master", "--lazy-apps", "--die-on-term",
                   "--no-orphans", "--need-app"):
        assert option in argv
    assert argv[-2:] == ["--module", "emitcheck.scripts.server_child:uwsgi_app()"]
    assert banner == "async_mode="


def test_threading_cells_run_uwsgi_threads(tmp_path, monkeypatch):
    argv, _ = _command("threading-unpatched-thread-time_sleep-polling-uwsgi", tmp_path,
                       monkeypatch)
    assert argv[3:5] == ["--threads", "4"] and "--gevent" not in argv


def test_the_command_passes_the_cell_in_the_environment_and_writes_only_in_its_directory(
        tmp_path, monkeypatch):
    argv, _ = _command("gevent-patched-task-socketio_sleep-uwsgi", tmp_path, monkeypatch)
    settings = dict(value.split("=", 1) for flag, value in zip(argv, argv[1:], strict=False)
                    if flag == "--env")
    assert settings == {"EMITCHECK_EMIT_LOG": str(tmp_path / "try1" / "emits.log"),
                        "EMITCHECK_INTERVAL": str(SHORT.interval)}
    # uWSGI writes a file only where told to: a pid, stats, log or socket file.
    assert not {"--pidfile", "--stats", "--logto", "--daemonize", "--socket",
                "--touch-reload"} & set(argv)


def test_the_default_cells_are_few_ids_of_this_family():
    assert {cells.parse(i).id for i in family.DEFAULT_CELLS} == family.DEFAULT_CELLS
    assert 12 <= len(family.DEFAULT_CELLS) <= 20
    uwsgi = [c for c in cells.possible_cells() if c.server == "uwsgi"]
    assert {c.id for c in cells.default_cells() if c.server == "uwsgi"} == family.DEFAULT_CELLS
    assert len(uwsgi) > len(family.DEFAULT_CELLS)  # the rest runs by id


def test_threading_mode_has_no_websocket_under_uwsgi():
    for transport in ("", "-websocket"):
        exp = expected(f"threading-unpatched-task-socketio_sleep{transport}-uwsgi")
        assert exp.verdict == "error" and "Cannot obtain socket" in exp.why
    assert expected("threading-unpatched-task-socketio_sleep-polling-uwsgi").verdict == \
        "delivered"


def test_behind_nginx_without_the_upgrade_header_threading_mode_never_tries_websocket():
    """The nginx rules hold over uWSGI's (measured, 3 runs each): no Upgrade header,
    no upgrade request, no traceback: the long-polling cell."""
    row = "threading-unpatched-task-socketio_sleep"
    assert expected(f"{row}-uwsgi-nginx").verdict == "error"
    assert expected(f"{row}-uwsgi-nginx_no_upgrade").verdict == "delivered"
    assert expected(f"{row}-websocket-uwsgi-nginx_no_upgrade").verdict == "error"


def test_every_gevent_cell_is_its_socketio_run_twin():
    """With --lazy-apps the app loads in the worker (measured: each default cell)."""
    for cell in cells.possible_cells():
        if cell.server == "uwsgi" and cell.mode == "gevent":
            assert expected(cell).verdict == expected(cell.replace(server="run")).verdict, cell


def test_a_documented_gevent_cell_delivers_through_uwsgi_and_leaves_nothing(tmp_path):
    cell = runnable("gevent-unpatched-task-socketio_sleep-websocket-uwsgi")
    result = runner.run_cell(cell, SHORT, workdir=tmp_path)
    assert result.verdict == result.expected == "delivered", result.failure or result.evidence
    assert result.observation.async_mode == "gevent_uwsgi"
    assert processes_mentioning(str(tmp_path)) == []


def test_threading_under_uwsgi_raises_on_the_websocket_upgrade_and_stays_polling(
        tmp_path):
    result = runner.run_cell(runnable("threading-unpatched-thread-time_sleep-uwsgi"), SHORT,
                             workdir=tmp_path)
    assert result.verdict == "error", result.failure or result.evidence
    assert "stayed on long-polling" in result.evidence
    assert "Cannot obtain socket from WSGI environment" in result.observation.log_tail
    assert processes_mentioning(str(tmp_path)) == []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_no_worker_outlives_a_killed_master_even_with_its_hub_blocked(tmp_path):
    """What happens when emitcheck dies: the kernel kills the master (process.py),
    and --no-orphans takes its worker with it; the HTTP router follows by itself."""
    cell = runnable("gevent-unpatched-task-time_sleep-uwsgi")  # time.sleep blocks the hub
    with CellRun(cell, SHORT, tmp_path) as run:
        server = run.start()
        children = psutil.Process(server.pid).children(recursive=True)
        assert len(children) == 2  # the worker and the HTTP router
        os.kill(server.pid, signal.SIGKILL)
        wait_until(lambda: not any(_alive(c) for c in children), 10,
                   "uWSGI's worker and router to exit after their master was killed")
    assert processes_mentioning(str(tmp_path)) == []
