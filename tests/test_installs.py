"""Installs in emitcheck's cache folder are complete or absent (issue 20).

What goes wrong on a real machine, made real here: a full disk (a tmpfs of a
few hundred kB as the cache folder: npm ci then exits 0 with its files empty),
a cached install cut short afterwards, a read-only cache folder (a tmpfs
remounted read-only: permissions do not stop root), an install killed with
SIGKILL, and Ctrl-C. Each must end in one line and leave nothing half made in
the cache; the ``-node`` cells skip with the reason.

The tests run the ``emitcheck`` command with a cache folder of their own
(``XDG_CACHE_HOME``). Those that install read the packages from npm's own cache,
filled once by the ``installed`` fixture (or skip with its one reason: node or
npm missing, or npm unable to install); those that must not succeed give npm
a registry that refuses or never answers, and an empty npm cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emitcheck.clients import node_install
from emitcheck.system import cache

from .helpers import emitcheck, interrupt_cli, processes_mentioning, wait_until

CELL = "threading-unpatched-thread-socketio_sleep-node"
#: socket.io-client's engine: loaded by require('socket.io-client').
LOADED = Path("node_modules/engine.io-client/build/cjs/socket.js")
#: A tmpfs this small holds the lock file and npm's folders, not the packages'
#: files (about 1 MB): npm ci warns ENOSPC for most of them and exits 0.
FULL_DISK = "300k"


def _environ(cache_home: Path, **extra: str) -> dict[str, str]:
    """This environment with ``cache_home`` as XDG_CACHE_HOME, without what would
    point emitcheck elsewhere (a prepared Node directory, a cache folder of its own)."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("EMITCHECK_NODE_DIR", cache.CACHE_ENV, "NODE_PATH")}
    return {**env, "XDG_CACHE_HOME": str(cache_home), **extra}


def _npm_fails(cache_home: Path, registry: str, npm_cache: Path) -> dict[str, str]:
    """npm with an empty cache of its own, asking ``registry`` once (no retries)."""
    return _environ(cache_home, npm_config_cache=str(npm_cache),
                    npm_config_registry=registry, npm_config_fetch_retries="0")


@contextlib.contextmanager
def _refusing_registry() -> Iterator[str]:
    with socket.socket() as closed:  # bound, not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{closed.getsockname()[1]}/"


@contextlib.contextmanager
def _mute_registry() -> Iterator[str]:
    with socket.socket() as mute:  # accepts connections, never answers: npm waits
        mute.bind(("127.0.0.1", 0))
        mute.listen(64)
        yield f"http://127.0.0.1:{mute.getsockname()[1]}/"


def _in_cache(cache_home: Path) -> list[str]:
    """What is in the cache folder (below its root, sorted)."""
    root = cache_home / "emitcheck"
    return sorted(str(p.relative_to(root)) for p in root.iterdir()) if root.is_dir() else []


def _staging(cache_home: Path) -> list[Path]:
    """The hidden folders beside the installs: npm ci's work in progress."""
    return sorted((cache_home / "emitcheck").glob(".node-*"))


def _errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def _mount(*args: str | Path) -> None:
    done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True,
                          timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (root only: else a skip saying so);
    unmounted when done, whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a full or read-only disk) needs root")
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", folder)
    try:
        yield folder
    finally:
        for process in processes_mentioning(str(folder)):  # npm, had a test failed midway
            with contextlib.suppress(Exception):
                process.kill()
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def read_only(tmp_path) -> Iterator[tuple[Path, object]]:
    """A folder to fill, and the function that makes it read-only: a tmpfs
    remounted read-only as root (whom permissions do not stop), else the folder
    and every folder in it without write permission (given back at the end)."""
    folder = tmp_path / "read-only"
    if os.geteuid() != 0:
        folder.mkdir()

        def seal() -> None:
            for where, _, _ in os.walk(folder):
                os.chmod(where, 0o555)
        try:
            yield folder, seal
        finally:
            for where, _, _ in os.walk(folder):
                os.chmod(where, 0o755)
        return
    with _tmpfs(folder, "16m"):
        yield folder, lambda: _mount("-o", "remount,ro", folder)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A complete install of socket.io-client (``emitcheck node-install`` into a
    cache folder of this module), which also leaves its packages in npm's own
    cache for the installs of the tests. Else the one skip reason of them all."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found on PATH: socket.io-client cannot "
                    "be installed")
    home = tmp_path_factory.mktemp("installed")
    done = emitcheck("node-install", env=_environ(home), timeout=300)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["(nothing said)"])[-1]
        pytest.skip(f"npm cannot install socket.io-client here: {said}")
    return home / "emitcheck" / node_install.cache_folder().name


def _copy_install(installed: Path, cache_home: Path) -> Path:
    folder = cache_home / "emitcheck" / installed.name
    shutil.copytree(installed, folder, symlinks=True)
    return folder


def _skipped(done: subprocess.CompletedProcess) -> str:
    """The reason the cell of ``emitcheck run CELL --json`` was skipped (it must be)."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout)
    assert result["failure"] is None, result["failure"]
    assert result["skipped"], result
    return result["skipped"]


# -- a full disk --------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_on_a_full_disk_node_install_fails_in_one_line_and_leaves_no_install(installed,
                                                                             tmp_path):
    with _tmpfs(tmp_path / "disk", FULL_DISK) as disk:
        env = _environ(disk, npm_config_prefer_offline="true")
        done = emitcheck("node-install", env=env, cwd=tmp_path, timeout=200)
        left = _in_cache(disk)
        ran = emitcheck("run", CELL, "--json", env=env, cwd=tmp_path, timeout=200)
        left_by_the_cell = _in_cache(disk)

    assert done.returncode == 1, done.stdout + done.stderr
    [error] = _errors(done.stderr)
    assert done.stderr.splitlines() == [
        f"emitcheck: installing socket.io-client into {disk / 'emitcheck' / installed.name} "
        "(npm ci from the lock file, once)", error]
    assert "no space left on device" in error.lower()
    assert "EMITCHECK_CACHE_DIR" in error  # what to do
    assert left == [] and left_by_the_cell == []  # nothing that looks installed, no staging
    reason = _skipped(ran)
    assert "no space left on device" in reason.lower() and "\n" not in reason


# -- a cached install that is no longer complete -----------------------------------------

@pytest.mark.timeout(300)
def test_a_cached_install_cut_short_is_removed_and_installed_again(installed, tmp_path):
    folder = _copy_install(installed, tmp_path)
    size = (folder / LOADED).stat().st_size
    os.truncate(folder / LOADED, 0)

    done = emitcheck("node-install", env=_environ(tmp_path, npm_config_prefer_offline="true"),
                     cwd=tmp_path, timeout=200)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [said] = [line for line in done.stderr.splitlines() if "not a complete install" in line]
    assert said.startswith(f"emitcheck: {folder} was not a complete install of "
                           "socket.io-client (")
    assert str(LOADED) in said and said.endswith("removed it")
    assert done.stdout.startswith(f"socket.io-client installed in {folder}")
    assert (folder / LOADED).stat().st_size == size  # installed again, whole
    assert _staging(tmp_path) == []
    again = emitcheck("node-install", env=_environ(tmp_path), cwd=tmp_path, timeout=100)
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout.startswith(f"socket.io-client is installed in {folder}")


@pytest.mark.timeout(300)
def test_an_emptied_install_of_an_older_emitcheck_makes_node_cells_skip_not_fail(installed,
                                                                                tmp_path):
    """The install the defect left: files emptied by a full disk, renamed into the
    cache all the same (and no record of its files: an older emitcheck's). It is
    removed; installing again fails here (the registry refuses), so the cell skips
    with npm's reason."""
    folder = _copy_install(installed, tmp_path)
    (folder / node_install.RECORD).unlink(missing_ok=True)
    for path in [path for path in sorted(folder.rglob("*")) if path.is_file()][12:]:
        os.truncate(path, 0)  # as measured: 265 of its 277 files empty

    with _refusing_registry() as registry:
        env = _npm_fails(tmp_path, registry, tmp_path / "npm-cache")
        ran = emitcheck("run", CELL, "--json", env=env, cwd=tmp_path, timeout=200)

    reason = _skipped(ran)
    assert reason.startswith("npm ci failed (status ") and "ECONNREFUSED" in reason
    assert f"emitcheck: {folder} was not a complete install of socket.io-client (" \
        in ran.stderr
    assert _in_cache(tmp_path) == []  # the broken one is gone, no other was made


# -- a read-only cache folder -------------------------------------------------------------

def test_a_read_only_cache_folder_is_one_line_and_status_2_and_node_cells_skip(read_only,
                                                                               tmp_path):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed: without them nothing is written anyway")
    home, seal = read_only
    seal()
    env = _environ(home)

    installing = emitcheck("node-install", env=env, cwd=tmp_path, timeout=100)
    ran = emitcheck("run", CELL, "--json", env=env, cwd=tmp_path, timeout=100)
    with _refusing_registry() as nowhere:  # the client is checked before the URL is asked
        probed = emitcheck("probe", nowhere, "--event", "tick", "--client", "node",
                           env=env, cwd=tmp_path, timeout=100)

    for done in (installing, probed):
        assert done.returncode == 2, done.stdout + done.stderr
        [error] = _errors(done.stderr)
        assert done.stderr == error + "\n"
        assert f"emitcheck's cache folder {home / 'emitcheck'} is not writable" in error
        assert "EMITCHECK_CACHE_DIR" in error
    reason = _skipped(ran)
    assert "is not writable" in reason and "EMITCHECK_CACHE_DIR" in reason


@pytest.mark.timeout(300)
def test_a_broken_install_in_a_read_only_cache_is_reported_in_one_line(installed, read_only,
                                                                       tmp_path):
    home, seal = read_only
    folder = _copy_install(installed, home)
    os.truncate(folder / LOADED, 0)
    seal()
    env = _environ(home)

    installing = emitcheck("node-install", env=env, cwd=tmp_path, timeout=100)
    ran = emitcheck("run", CELL, "--json", env=env, cwd=tmp_path, timeout=100)

    assert installing.returncode == 2, installing.stdout + installing.stderr
    [error] = _errors(installing.stderr)
    assert installing.stderr == error + "\n"
    assert error.startswith(f"Error: {folder} is not a complete install of socket.io-client (")
    assert "cannot be removed" in error and "is not writable" in error
    reason = _skipped(ran)
    assert reason.startswith(f"{folder} is not a complete install")


@pytest.mark.timeout(300)
def test_a_sweep_in_a_read_only_cache_folder_is_one_line_and_status_2(read_only, tmp_path):
    from emitcheck.sweep import index
    from emitcheck.sweep.environments import SweepError, find_uv

    try:
        find_uv()
        index.releases("simple-websocket")
    except (SweepError, index.PackageIndexError) as exc:
        pytest.skip(str(exc))
    home, seal = read_only
    seal()

    done = emitcheck("sweep", "threading-unpatched-thread-time_sleep", "--package",
                     "simple-websocket", "--versions", "==1.0.0", env=_environ(home),
                     cwd=tmp_path, timeout=200)

    assert done.returncode == 2, done.stdout + done.stderr
    [error] = _errors(done.stderr)
    assert f"emitcheck's cache folder {home / 'emitcheck'} is not writable" in error
    assert "EMITCHECK_CACHE_DIR" in error


# -- staging folders: a killed install's, a running install's ----------------------------

def _start_hanging_install(tmp_path: Path, registry: str, name: str) -> subprocess.Popen:
    """``emitcheck node-install`` whose npm waits on a registry that never answers;
    returned once npm ci runs in its staging folder."""
    before = set(_staging(tmp_path))
    env = _npm_fails(tmp_path, registry, tmp_path / f"npm-cache-{name}")
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck", "node-install",
                            "--timeout", "120"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

    def npm_runs() -> bool:
        new = set(_staging(tmp_path)) - before
        return bool(new) and any(" ci " in " ".join(p.cmdline())
                                 for folder in new for p in processes_mentioning(str(folder)))
    wait_until(npm_runs, 60, f"npm ci of install {name} to run")
    return cli


@pytest.mark.timeout(300)
def test_a_killed_install_s_staging_folder_is_removed_and_a_running_one_s_is_kept(installed,
                                                                                  tmp_path):
    running: subprocess.Popen | None = None
    try:
        with _mute_registry() as registry:
            running = _start_hanging_install(tmp_path, registry, "running")
            [live] = _staging(tmp_path)
            killed = _start_hanging_install(tmp_path, registry, "killed")
            [left] = set(_staging(tmp_path)) - {live}
            killed.send_signal(signal.SIGKILL)  # its npm dies with it (PR_SET_PDEATHSIG)
            killed.wait()

            # emitcheck cache clear removes the killed one's, and leaves the running one's
            cleared = emitcheck("cache", "clear", env=_environ(tmp_path), timeout=60)
            assert cleared.returncode == 0, cleared.stdout + cleared.stderr
            assert f"removed {left} " in cleared.stdout and str(live) not in cleared.stdout
            assert _in_cache(tmp_path) == [live.name]

            killed = _start_hanging_install(tmp_path, registry, "killed again")
            [left] = set(_staging(tmp_path)) - {live}
            killed.send_signal(signal.SIGKILL)
            killed.wait()

            # and so does the next install
            done = emitcheck("node-install", env=_environ(tmp_path,
                                                          npm_config_prefer_offline="true"),
                             cwd=tmp_path, timeout=200)
            assert done.returncode == 0, done.stdout + done.stderr
            assert _in_cache(tmp_path) == sorted([live.name, installed.name])
            assert running.poll() is None  # still installing, undisturbed
    finally:
        if running is not None:
            running.kill()
            running.wait()
        for process in processes_mentioning(str(tmp_path)):
            with contextlib.suppress(Exception):
                process.kill()


# -- Ctrl-C ------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_ctrl_c_in_node_install_is_one_line_status_130_and_leaves_nothing(tmp_path):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed")
    with _mute_registry() as registry:
        env = _npm_fails(tmp_path, registry, tmp_path / "npm-cache")
        cli, err = interrupt_cli(
            ["node-install", "--timeout", "60"], env,
            lambda: any(" ci " in " ".join(p.cmdline())
                        for p in processes_mentioning(str(tmp_path / "emitcheck"))),
            "npm ci to run")

    assert cli.returncode == 130, err
    assert "Aborted" not in err and "Traceback" not in err
    [installing, interrupted] = err.splitlines()
    assert installing.startswith("emitcheck: installing socket.io-client into ")
    assert interrupted.startswith("emitcheck: interrupted")
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5, "npm to be gone")
    assert _in_cache(tmp_path) == []


# -- where the cache is ------------------------------------------------------------------

def test_emitcheck_cache_dir_names_the_cache_folder_before_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.cache_root() == tmp_path / "xdg" / "emitcheck"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "own"))
    assert cache.cache_root() == tmp_path / "own"
    assert node_install.cache_folder().parent == tmp_path / "own"
