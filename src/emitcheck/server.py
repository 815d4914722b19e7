"""Start, watch and stop one server process (the parent's side of server_child).

The child runs in its own session (so its own process group), its output goes
to files in a per-cell directory, and on Linux it is started through
``setpriv --pdeathsig KILL`` so that the kernel kills it when the thread that
started it dies, even by SIGKILL. (``preexec_fn`` could do the same but is not
safe when several threads start processes, as the cell pool does.) ``stop()``
sends SIGTERM to the whole group, then SIGKILL to whatever remains of the
process tree, and reaps the child; ``stop_all()`` runs at exit and on Ctrl-C.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

CHILD_SCRIPT = Path(__file__).with_name("server_child.py")
LOG_TAIL_LINES = 30

#: Every server this process started and has not stopped yet (for atexit/signals).
LIVE: set["ServerProcess"] = set()
_REFUSING = False  # set by stop_all(refuse_new=True): the run is being interrupted


class NotReady(Exception):
    """The server did not start listening within the bound; says what it waited for."""


def die_with_parent_prefix() -> list[str]:
    """argv prefix that makes the kernel kill the child if we die (Linux only)."""
    setpriv = shutil.which("setpriv")
    if sys.platform.startswith("linux") and setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


@dataclass
class ServerFiles:
    directory: Path

    @property
    def stdout(self) -> Path:
        return self.directory / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.directory / "stderr.log"

    @property
    def emits(self) -> Path:
        return self.directory / "emits.log"


class ServerProcess:
    def __init__(self, argv: list[str], files: ServerFiles, env: dict | None = None):
        self.files = files
        files.directory.mkdir(parents=True, exist_ok=True)
        files.emits.touch()
        if _REFUSING:
            raise RuntimeError("not starting a server: the run is being interrupted")
        with open(files.stdout, "wb") as out, open(files.stderr, "wb") as err:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, env=env, cwd=files.directory)
        LIVE.add(self)
        self.port: int | None = None
        self.not_ready: NotReady | None = None

    @classmethod
    def for_cell(cls, cell_id: str, interval: float, directory: Path) -> "ServerProcess":
        files = ServerFiles(directory)
        argv = [*die_with_parent_prefix(), sys.executable, str(CHILD_SCRIPT),
                cell_id, str(files.emits), str(interval)]
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
        return cls(argv, files, env)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> int | None:
        """The exit status if the server process has ended, else None."""
        return self.popen.poll()

    def listening_addresses(self) -> list[tuple[str, int]]:
        """(ip, port) of every TCP socket the processes of this server listen on."""
        try:
            root = psutil.Process(self.pid)
            return [(conn.laddr.ip, conn.laddr.port)
                    for proc in [root, *root.children(recursive=True)]
                    for conn in proc.net_connections(kind="tcp")
                    if conn.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return []

    def listening_port(self) -> int | None:
        """The port the server listens on, if it listens yet."""
        addresses = self.listening_addresses()
        return addresses[0][1] if addresses else None

    def wait_listening(self, timeout: float) -> int:
        """Block until the server listens; return its port.

        Raises NotReady when it exits first or when ``timeout`` seconds pass;
        later calls return (or raise) the same answer at once.
        """
        if self.port is not None:
            return self.port
        if self.not_ready is not None:
            raise self.not_ready
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exited()
            if status is not None:
                self.not_ready = NotReady(f"server exited with status {status} before listening")
                raise self.not_ready
            port = self.listening_port()
            if port:
                self.port = port
                return port
            time.sleep(0.02)
        self.not_ready = NotReady(f"server did not listen on a TCP port within {timeout:g} s")
        raise self.not_ready

    def emitted(self) -> list[tuple[int, float]]:
        """What the work reported: (seq, server time) per emit."""
        pairs = []
        for line in self.files.emits.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                pairs.append((int(parts[0]), float(parts[1])))
        return pairs

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.files.stderr.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM to the process group, SIGKILL to what remains, then reap."""
        try:
            tree = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for proc in tree:  # children that left the group (daemonized workers)
            try:
                proc.kill()
            except psutil.Error:
                pass
        self.popen.wait(timeout=grace)
        LIVE.discard(self)


def stop_all(refuse_new: bool = False) -> None:
    """Stop every server still running (at exit, on Ctrl-C, at session end).

    With ``refuse_new``, servers that pool threads would start afterwards are
    refused, so an interrupted run ends quickly with nothing left behind.
    """
    global _REFUSING
    _REFUSING = _REFUSING or refuse_new
    for server in list(LIVE):
        server.stop(grace=0.5)


atexit.register(stop_all)
