"""Start, watch and stop one process of a cell: a server, a redis-server, an emitter.

What each process is (its command line, what its logs say) is its family's
business (families/); this module knows processes, not families.

The process runs in its own session (so its own process group), its output
goes to files in a per-process directory, and on Linux it is started through
``setpriv --pdeathsig KILL`` so that the kernel kills it when the thread that
started it dies, even by SIGKILL. (``preexec_fn`` could do the same but is not
safe when several threads start processes, as the cell pool does.) Its
environment carries this run's marker and a word of its own (``warden``): what
it starts carries them too, whatever session it moves to. ``stop()`` sends
SIGTERM to the whole group, then SIGKILL to whatever remains of the process
tree and to every process that carries its word, and reaps it; if emitcheck
itself dies first, the warden kills whatever carries the run's marker. Who
stops a process is its owner, a ``runs.CellRun``; this module keeps no state of
its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emitcheck.scripts import script
from emitcheck.system import warden

CHILD_SCRIPT = script("server_child")
#: What server_child.py prints once the app is made (followed by the mode).
SERVER_BANNER = "async_mode="


class NotReady(Exception):
    """The server did not start listening within the bound; says what it waited for."""


class PortTaken(NotReady):
    """Another process holds the port picked for the server."""


def die_with_parent_prefix() -> list[str]:
    """argv prefix that makes the kernel kill the child if we die (Linux only)."""
    setpriv = shutil.which("setpriv")
    if sys.platform.startswith("linux") and setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


def run_bounded(argv: list[str], cwd: Path, timeout: float,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` in a session of its own and wait at most ``timeout`` s.
    On timeout its whole process group is killed and subprocess.TimeoutExpired
    is raised, carrying what it wrote to stderr. Whatever it started and left
    running (its environment's word) is killed when it returns, in every case."""
    scope = warden.new_scope()
    proc = start_session(argv, scope, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=cwd, env=env)
    try:
        stdout, stderr = _communicate(proc, timeout, scope)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        warden.kill_marked(scope, {proc.pid})
        stdout, stderr = proc.communicate()
        warden.session_ended(proc.pid)
        raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr) from None
    except BaseException:  # Ctrl-C: nothing it started may outlive us
        end_tree(proc, scope)
        raise
    end_tree(proc, scope)
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def start_session(argv: list[str], scope: str, env: dict[str, str] | None = None,
                  **popen: object) -> subprocess.Popen:
    """``subprocess.Popen(argv, **popen)`` in a session of its own, its environment
    ``env`` (default: ours) with the run's marker and ``scope``, its session
    known to the warden. ``end_tree`` ends it."""
    proc = subprocess.Popen(argv, start_new_session=True, env=warden.marked(env, scope),
                            **popen)  # type: ignore[call-overload]
    warden.session_started(proc.pid)
    return proc


def end_tree(proc: subprocess.Popen, scope: str) -> None:
    """SIGKILL what ``start_session`` started: its session and process group,
    every process that carries ``scope``; reap it."""
    _kill_group(proc)
    warden.kill_marked(scope, {proc.pid})
    proc.wait()
    warden.session_ended(proc.pid)


def _communicate(proc: subprocess.Popen, timeout: float, scope: str) -> tuple[bytes, bytes]:
    """``proc.communicate(timeout)``, except that once ``proc`` has exited, what it
    left running (and holding its stdout or stderr open) is killed rather than
    waited for."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return proc.communicate(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
            if proc.poll() is not None:  # exited; a descendant holds the pipes open
                warden.kill_marked(scope, {proc.pid})


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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


#: Set for every server and emitter unless the caller's environment says otherwise.
#: EVENTLET_NO_GREENDNS: eventlet then skips importing its DNS resolver (dnspython),
#: about 0.3 s of CPU per eventlet server, a fifth of a matrix run's CPU. No cell
#: resolves a name (every address is 127.0.0.1), so no verdict depends on it.
CHILD_ENV_DEFAULTS = {"EVENTLET_NO_GREENDNS": "yes"}


def child_env(**extra: str) -> dict:
    """The environment of a process of ours: this one's, the defaults, the run's
    marker (``warden.marked``) and ``extra``."""
    return warden.marked({**CHILD_ENV_DEFAULTS, **os.environ, "PYTHONUNBUFFERED": "1",
                          "PYTHONWARNINGS": "ignore", **extra})


def free_port() -> int:
    """A port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagedProcess:
    """One process that should listen on 127.0.0.1:``port`` (0: listens on nothing).

    The port is chosen here (``free_port``) and passed to the server, so that
    readiness is a cheap TCP connect. (Reading the port back from the process's
    sockets costs about 12 ms of CPU per look on Linux, which adds up to most
    of a core while a matrix starts.) Another process may take the port in the
    meantime: ``port_taken()`` tells, and the runner then starts again on
    another port.

    Its environment is ``env`` (default: this process's) with the run's marker
    and a word of its own, its ``scope``: ``stop()`` kills whatever carries it,
    and whatever is still in its session.
    """

    #: The word of EMITCHECK_RUN that only this process and its descendants carry
    #: (None: a forked server, whose environment is its zygote's).
    scope: str | None = None

    def __init__(self, argv: list[str], files: ServerFiles, port: int,
                 env: dict | None = None):
        self._prepare(files, port)
        self.scope = warden.new_scope()
        with open(files.stdout, "wb") as out, open(files.stderr, "wb") as err:
            self.popen = start_session(argv, self.scope, env, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=err, cwd=files.directory)

    def _prepare(self, files: ServerFiles, port: int) -> None:
        """What every way of starting a server does first."""
        self.files = files
        self.port = port
        self.scope = None
        self.stopped = False
        self.listening = False
        #: Also wait for this on stdout before calling the server ready (gunicorn
        #: listens in its master before its worker has loaded the app).
        self.banner: str | None = None
        self.not_ready: NotReady | None = None
        files.directory.mkdir(parents=True, exist_ok=True)
        files.emits.touch()

    @classmethod
    def serve(cls, directory: Path, cell_id: str,
              command: Callable[[ServerFiles, int], list[str]],
              banner: str | None = None, env: dict[str, str] | None = None
              ) -> ManagedProcess:
        """A server of cell ``cell_id``, with its files in ``directory`` and a free
        port: ``command(files, port)`` is its argv (the kernel-kill prefix is added).
        With ``banner``, it is ready only once it printed that too; ``env`` is
        added to its environment."""
        files, port = ServerFiles(directory), free_port()
        server = cls([*die_with_parent_prefix(), *command(files, port)], files, port,
                     child_env(EMITCHECK_CELL=cell_id, **(env or {})))
        server.banner = banner
        return server

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> int | None:
        """The exit status if the server process has ended, else None."""
        return self.popen.poll()

    def listening_addresses(self) -> list[tuple[str, int]]:
        """(ip, port) of every TCP socket the processes of this server listen on."""
        import psutil  # here, not at import: the registry (families/) imports this module

        try:
            root = psutil.Process(self.pid)
            return [(conn.laddr.ip, conn.laddr.port)
                    for proc in [root, *root.children(recursive=True)]
                    for conn in proc.net_connections(kind="tcp")
                    if conn.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return []

    def port_taken(self) -> bool:
        """Did the server fail because another process had its port?"""
        if isinstance(self.not_ready, PortTaken):
            return True
        # what the server itself said: its log is the only word on it
        stderr = self.files.stderr.read_text(errors="replace")
        return "Address already in use" in stderr or "is in use by another program" in stderr

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def _has_banner(self) -> bool:
        return self.banner is None or \
            self.banner in self.files.stdout.read_text(errors="replace")

    def wait_listening(self, timeout: float) -> int:
        """Block until the server listens on its port; return the port.

        Raises NotReady when it exits first, when another process turns out to
        own the port, or when ``timeout`` seconds pass; later calls give the
        same answer at once.
        """
        if self.listening:
            return self.port
        if self.not_ready is not None:
            raise self.not_ready
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exited()
            if status is not None:
                self.not_ready = NotReady(f"server exited with status {status} before listening")
                raise self.not_ready
            if self._has_banner() and self._accepts():
                if ("127.0.0.1", self.port) not in self.listening_addresses():
                    self.not_ready = PortTaken(f"port {self.port} is held by another process")
                    raise self.not_ready
                self.listening = True
                return self.port
            time.sleep(0.02)
        waited = f"listen on port {self.port}" if not self.banner else \
            f"listen on port {self.port} and print {self.banner!r} (its app loaded)"
        self.not_ready = NotReady(f"server did not {waited} within {timeout:g} s")
        raise self.not_ready

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM to the process group, SIGKILL to what remains (its group, its
        tree as it was, every process that carries its scope: a shell on a pty
        in a session of its own, a daemon whose parent is gone), then reap.
        Stopping a process that was already stopped does nothing."""
        if self.stopped:
            return
        self.stopped = True
        import psutil

        try:
            tree = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self._wait(grace)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for proc in tree:  # children that left the group (daemonized workers)
            try:
                proc.kill()
            except psutil.Error:
                pass
        # what left the tree too: whatever carries its scope, or is still in its session
        warden.kill_marked(self.scope, {self.pid})
        self._wait(grace)
        if self.scope is not None:  # a session we started (not a forked server's)
            warden.session_ended(self.pid)

    def _wait(self, timeout: float) -> None:
        """Reap the process, waiting up to ``timeout`` seconds."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def start_listening(start: Callable[[int], ManagedProcess], timeout: float, attempts: int = 3,
                    taken: Callable[[ManagedProcess], bool] = ManagedProcess.port_taken
                    ) -> ManagedProcess:
    """Start a process with ``start(attempt)`` (1, 2, ...) and wait until it listens.
    When another process took its port between our pick and its bind (``taken``),
    stop it and start again, up to ``attempts`` times. Returns the last one started,
    listening or not: its ``wait_listening`` gives the same answer again at once."""
    for attempt in range(1, attempts + 1):
        process = start(attempt)
        try:
            process.wait_listening(timeout)
        except NotReady:
            if attempt < attempts and taken(process):
                process.stop()
                continue
        break
    return process


def log_end(path: Path, lines: int = 3) -> str:
    """The last ``lines`` lines of a log, on one line (for a one-line error)."""
    try:
        text = path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(text.splitlines()[-lines:]) or "(empty)"
