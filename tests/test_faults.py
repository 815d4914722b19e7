"""Faults at several points of a run leave nothing behind (issue 20): SIGINT,
SIGTERM and SIGKILL of ``emitcheck`` while an app is being loaded, in the
middle of a cell (an app's, a Redis cell's), and while a sweep's inner run has
nginx up; the CPU quota's control groups, however emitcheck ends; and an app
that calls ``sys.exit`` when imported is one line naming it.

Each test gives emitcheck a word of its own in ``EMITCHECK_RUN`` and a private
TMPDIR (``helpers.Run``); what is left of a run is a live process carrying the
word, mentioning the TMPDIR (command line or working folder) or in a session
seen during the run (nginx and redis-server write their process title over
their environment), and anything in the TMPDIR. Whatever a test leaves, pass or
fail, is killed by its fixture.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emitcheck.apps import user_app
from emitcheck.system import cpu_quota
from emitcheck.system.process import ManagedProcess, ServerFiles

from .helpers import (
    Run,
    alive,
    described,
    emitcheck,
    gone,
    interrupt_cli,
    marked,
    processes_mentioning,
    run_fixture,  # noqa: F401 (the run fixture)
    runnable,
    wait_until,
)

SHAPES = Path(__file__).parent / "apps" / "shapes"
#: Seconds the warden may take, after emitcheck was killed, to kill and remove.
WARDEN_BOUND = 15
#: Seconds a signal's cleanup may take once emitcheck has exited.
SIGNAL_BOUND = 5
SIGNALS = pytest.mark.parametrize(
    "signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                       (signal.SIGKILL, -signal.SIGKILL)], ids=["SIGINT", "SIGTERM", "SIGKILL"])

pytestmark = pytest.mark.timeout(240)


def _ended(run: Run, cli: subprocess.Popen, err: str, signum: int, status: int) -> None:
    """Nothing of the run is left once the warden has acted, and emitcheck ended
    with ``status`` (one line, no traceback, unless killed)."""
    gone(run, cli.pid, WARDEN_BOUND if signum == signal.SIGKILL else SIGNAL_BOUND)
    assert cli.returncode == status, err
    if signum != signal.SIGKILL:
        assert "Traceback" not in err, err
        said = [line for line in err.splitlines() if line.startswith("emitcheck: ")]
        assert len(said) == 1, err


# -- emitcheck app: while the app is loaded, and in the middle of a cell ------------------

#: An app whose import starts a helper in a session of its own, says so (a file in
#: its folder: app_child.py imports it from there) and then takes for ever.
SLOW_IMPORT = """
import pathlib
import subprocess
import time

subprocess.Popen(["sleep", "300"], start_new_session=True)
pathlib.Path("importing").touch()
time.sleep(300)
"""


@SIGNALS
def test_a_signal_while_the_app_is_being_loaded_leaves_nothing(run, tmp_path, signum, status):
    """The load check (before any cell) is importing the app: its process and the
    helper the import started in a session of its own are gone, and so is its
    temporary folder."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "slow_import.py").write_text(SLOW_IMPORT)

    def importing():
        return (folder / "importing").exists() and \
            any(name == "sleep" for _, name, _ in marked(run.word))

    cli, err = interrupt_cli(["app", "slow_import:socketio", "--path", str(folder),
                              "--event", "tick", "--timeout", "3"], run.env, importing,
                             "the load check to import the app and start its helper", signum)
    _ended(run, cli, err, signum, status)


APP_ROW = "auto-unpatched-app-own"


@SIGNALS
def test_a_signal_in_the_middle_of_an_apps_cell_leaves_nothing(run, signum, status):
    """spawns_popen starts a helper with ``Popen`` in a session of its own at the
    server's import and one per client: the second means the cell is in its window.
    (A shell on a pty per client, signalled mid-cell: tests/test_nothing_survives.py,
    under gevent and gunicorn.)"""
    def connected():
        started = [pid for pid, name, cell in marked(run.word)
                   if name == "sleep" and cell == APP_ROW]
        if len(started) >= 2:
            run.note_sessions()
            return True
        return False

    cli, err = interrupt_cli(["app", "spawns_popen:socketio", "--path", str(SHAPES), "--event",
                              "tick", "--timeout", "3", "-k", APP_ROW], run.env, connected,
                             f"sleep started by the app for its client in {APP_ROW}", signum)
    _ended(run, cli, err, signum, status)


REDIS_CELL = "threading-unpatched-process-time_sleep-redis"


@SIGNALS
def test_a_signal_in_the_middle_of_a_redis_cell_leaves_nothing(run, signum, status):
    """redis-server (its title written over its environment), the emitter process
    and the server."""
    cell = runnable(REDIS_CELL)

    def emitting():
        redis = [p for p in processes_mentioning(str(run.tmp)) if p.name() == "redis-server"]
        emitter = [p for p in processes_mentioning(str(run.tmp))
                   if " emitter " in " ".join(p.cmdline())]
        if redis and emitter:
            run.note_sessions()
        return redis and emitter

    cli, err = interrupt_cli(["run", cell.id], run.env, emitting,
                             "redis-server and the emitter process", signum)
    _ended(run, cli, err, signum, status)


# -- emitcheck sweep: the inner run's nginx --------------------------------------------------

NGINX_CELL = "threading-unpatched-thread-time_sleep-nginx"


@pytest.fixture(scope="module")
def sweep_cache(tmp_path_factory):
    """A private emitcheck cache holding the environment of the installed
    Flask-SocketIO release, built here once (uv's own cache is uv's); a skip
    saying why when uv or the package index cannot be reached."""
    import importlib.metadata

    from emitcheck.matrix.cells import parse
    from emitcheck.sweep import index
    from emitcheck.sweep.environments import (
        EnvSpec,
        InstallFailed,
        SweepError,
        extras_for,
        find_python,
        find_uv,
    )

    try:
        uv = find_uv()
    except SweepError as exc:
        pytest.skip(str(exc))
    try:
        where = index.index()
        index.releases("flask-socketio", where=where)
    except index.PackageIndexError as exc:
        pytest.skip(str(exc))
    version = importlib.metadata.version("flask-socketio")
    root = tmp_path_factory.mktemp("emitcheck-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMITCHECK_CACHE_DIR", str(root))
        spec = EnvSpec(find_python(None, uv), "flask-socketio", version, (),
                       tuple(sorted(extras_for([parse(NGINX_CELL)]))))
        try:
            from emitcheck.sweep.environments import ensure

            ensure(spec, uv, where, timeout=300)
        except InstallFailed as exc:
            pytest.fail(f"flask-socketio=={version} could not be installed: {exc}")
    return root, version


def _staging(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if ".staging-" in p.name]


@SIGNALS
@pytest.mark.timeout(360)
def test_a_signal_to_a_sweep_while_its_inner_run_has_nginx_up_leaves_nothing(
        run, sweep_cache, tmp_path, signum, status):
    """The outer emitcheck is signalled; its inner ``emitcheck matrix`` (in the
    environment) has nginx up in front of the cell's server: no process of either
    is left (nginx is found by its working folder, the cell's, and its session),
    no temporary folder, no staging folder in the cache."""
    runnable(NGINX_CELL)
    root, version = sweep_cache
    env = dict(run.env, EMITCHECK_CACHE_DIR=str(root))
    seen: dict[int, str] = {}

    def nginx_worker():
        nginx = [p for p in processes_mentioning(str(run.tmp))
                 if " ".join(p.cmdline()).startswith("nginx: ")]
        if not any(" ".join(p.cmdline()).startswith("nginx: worker") for p in nginx):
            return False
        seen.update({p.pid: " ".join(p.cmdline()) for p in nginx})
        run.note_sessions()
        return True

    cli, err = interrupt_cli(["sweep", NGINX_CELL, "--package", "flask-socketio",
                              "--versions", f"=={version}"], env, nginx_worker,
                             "an nginx worker of the inner run", signum, within=180,
                             cwd=tmp_path)
    assert seen and run.sessions, "the inner run's nginx was seen"
    _ended(run, cli, err, signum, status)
    assert not [pid for pid in seen if alive(pid)], described(seen)
    assert _staging(root) == []


# -- the CPU quota's control groups ---------------------------------------------------------

QUOTA = cpu_quota.CpuQuota()
needs_cgroups = pytest.mark.skipif(
    not QUOTA.available(),
    reason="cgroups are not writable here (neither cgroup v1's cpu controller at "
           f"{cpu_quota.V1} nor cgroup v2's cpu.max under {cpu_quota.V2}): no CPU quota, "
           "so no group to leave behind")
BUSY_CELL = "threading-unpatched-thread-busy"


def _groups_of(pid: int) -> list[Path]:
    """The control groups emitcheck ``pid`` made (their names carry its pid)."""
    assert QUOTA.root is not None
    return sorted(QUOTA.root.glob(f"{cpu_quota.PREFIX}{pid}-*"))


def _members(group: Path) -> list[int]:
    try:
        return [int(word) for word in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _kill_escaped(pids: list[int]) -> None:
    """A test's cleanup: kill those of ``pids`` that still run ``sleep 317``."""
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if cmdline.read() == SLEEP_317 and alive(pid):
                os.kill(pid, signal.SIGKILL)


def _remove(group: Path) -> None:
    """A test's cleanup: kill what is in ``group`` and remove it, if it is there."""
    if group.exists():
        _kill(_members(group))
        wait_until(lambda: not _members(group), 5, f"{group} to hold no process")
        group.rmdir()


@needs_cgroups
@pytest.mark.timeout(120)
def test_sigkill_of_emitcheck_leaves_no_control_group(run):
    """A CPU-bound cell's server is in a group of its own once it listens; emitcheck
    is killed: the warden kills the server and removes the group."""
    runnable(BUSY_CELL)
    env = {k: v for k, v in run.env.items() if k != "EMITCHECK_NO_CPU_QUOTA"}
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck", "run", BUSY_CELL],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any(_members(g) for g in _groups_of(cli.pid)), 60,
                   "the cell's server in a control group")
    finally:
        cli.kill()
        cli.wait(timeout=10)
    try:
        gone(run, cli.pid, WARDEN_BOUND)
        assert _groups_of(cli.pid) == []
    finally:
        for group in _groups_of(cli.pid):  # a failure's leftovers: ours to remove
            _remove(group)


#: A process that, once told (a file ``go`` in its folder, after it is put in a
#: group), leaves behind a ``sleep 317`` with an empty environment in a session of
#: its own whose parent has exited: neither its marker, its session nor its
#: process tree lead to it; its control group does.
ESCAPES = ["sh", "-c", "while [ ! -e go ]; do sleep 0.02; done; "
                       "(env -i setsid sleep 317 &); exec sleep 300"]
SLEEP_317 = b"sleep\x00317\x00"


def _escaped(group: Path, server: int) -> list[int]:
    """The members of ``group`` other than ``server`` that run ``sleep 317``."""
    found = []
    for pid in _members(group):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if pid != server and cmdline.read() == SLEEP_317:
                    found.append(pid)
        except OSError:
            continue
    return found


@needs_cgroups
def test_a_cells_stop_kills_what_escaped_into_its_group_and_removes_it(run, monkeypatch):
    monkeypatch.setenv("EMITCHECK_RUN", run.word)
    quota = cpu_quota.CpuQuota()
    server = ManagedProcess(ESCAPES, ServerFiles(run.tmp / "server"), 0)
    group = None
    escaped: list[int] = []
    try:
        group = quota.confine(server.pid, "test-escape")
        assert group is not None
        (run.tmp / "server" / "go").touch()
        escaped = wait_until(lambda: _escaped(group, server.pid), 10,
                             "sleep 317 to leave its session in the group")
        server.stop()
        quota.release(group)
        assert not group.exists()
        wait_until(lambda: not [pid for pid in escaped if alive(pid)], 5,
                   "the escaped process to die")
    finally:
        server.stop()
        _kill_escaped(escaped)
        if group is not None:
            _remove(group)


#: An owner of processes (as emitcheck is) that will be killed, with a server in a
#: control group from which a process escapes as ESCAPES does.
OWNER = f"""
import time
from pathlib import Path
from emitcheck.system import cpu_quota, warden
from emitcheck.system.process import ManagedProcess, ServerFiles
held = warden.TemporaryDirectory(prefix="owner-")
server = ManagedProcess({ESCAPES!r}, ServerFiles(Path(held.name) / "server"), 0)
group = cpu_quota.CpuQuota().confine(server.pid, "owner")
(Path(held.name) / "server" / "go").touch()
print(group, server.pid, flush=True)
time.sleep(300)
"""


@needs_cgroups
def test_the_warden_kills_what_is_in_a_control_group_and_removes_it(run):
    owner = subprocess.Popen([sys.executable, "-c", OWNER], env=run.env,
                             stdout=subprocess.PIPE, text=True)
    escaped: list[int] = []
    group = None
    try:
        assert owner.stdout is not None  # a PIPE
        line = owner.stdout.readline().split()
        assert len(line) == 2 and line[0] != "None", line
        group, server = Path(line[0]), int(line[1])
        escaped = wait_until(lambda: _escaped(group, server), 10,
                             "sleep 317 to leave its session in the group")
    finally:
        owner.kill()
        owner.communicate()
    try:
        wait_until(lambda: not [pid for pid in escaped if alive(pid)], WARDEN_BOUND,
                   "the warden to kill what escaped into the group")
        wait_until(lambda: not group.exists(), WARDEN_BOUND, "the warden to remove the group")
        gone(run, owner.pid, WARDEN_BOUND)
    finally:
        _kill_escaped(escaped)
        if group is not None:
            _remove(group)


def _dead_pid() -> int:
    """The pid of a process that has ended (reaped)."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@needs_cgroups
def test_the_next_run_removes_the_empty_groups_of_dead_runs_only():
    """Left by a run killed with its warden: removed when empty and its run is dead;
    a live run's group, and one that still holds a process, are left alone."""
    assert QUOTA.root is not None
    dead = _dead_pid()
    stale = QUOTA.root / f"{cpu_quota.PREFIX}{dead}-stale"
    busy = QUOTA.root / f"{cpu_quota.PREFIX}{dead}-busy"
    live = QUOTA.root / f"{cpu_quota.PREFIX}{os.getpid()}-live"
    held = subprocess.Popen(["sleep", "300"])
    try:
        for group in (stale, busy, live):
            group.mkdir()
        (busy / "cgroup.procs").write_text(str(held.pid))
        cpu_quota.CpuQuota()
        assert not stale.exists()
        assert live.exists() and busy.exists() and held.poll() is None
    finally:
        held.kill()
        held.wait(timeout=10)
        for group in (stale, busy, live):
            _remove(group)


# -- an app that exits when imported ----------------------------------------------------------

def test_an_app_that_calls_sys_exit_at_import_is_one_line_naming_it(tmp_path):
    (tmp_path / "exits_at_import.py").write_text(textwrap.dedent("""
        import sys

        sys.exit(3)
    """))
    said = "importing 'exits_at_import' called sys.exit(3)"
    with pytest.raises(user_app.AppError) as raised:
        user_app.check(user_app.AppSpec("exits_at_import:socketio", "tick", str(tmp_path)))
    assert str(raised.value) == said
    proc = emitcheck("app", "exits_at_import:socketio", "--path", str(tmp_path),
                     "--event", "tick", timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"Error: {said}", proc.stderr
    # click's usage lines, then that one: nothing else (no warning, no traceback)
    assert [line for line in lines if not line.startswith(("Usage:", "Try "))] == \
        [f"Error: {said}"], proc.stderr
    assert proc.stdout == ""
