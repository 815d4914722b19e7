"""Nothing emitcheck starts outlives it: the run marker and the warden.

Every process emitcheck starts (servers, zygotes and what they fork, emitters,
redis-server, nginx, Celery workers, the app's load check, node, uv) gets the
environment variable ``EMITCHECK_RUN``: space-separated words, this run's
marker appended to whatever value it already had (so the processes of an
``emitcheck`` that another one started, as a sweep does, carry both markers).
Descendants inherit it, whatever session or process group they move to, and
``/proc/PID/environ`` shows it for as long as they run, even if they change
their own environment: it is the environment they were started with.
``ManagedProcess`` adds one more word, a *scope*, unique to that process, so
that stopping it can kill its descendants and nothing else (``kill_marked``).

Programs that set their process title the way nginx and redis-server do
write it over that environment (it then reads empty). Every process emitcheck
starts is the leader of a session of its own, and such programs keep their
children in it: the session is the second mark. emitcheck tells the warden
the sessions it starts (``s``) and those it has stopped (``e``).

The warden is one small process per emitcheck process, started with the first
process emitcheck starts, in a session of its own (a Ctrl-C in the terminal
does not reach it) and without the marker. Its stdin is a pipe whose write
end only emitcheck holds (close-on-exec: its children do not inherit it);
emitcheck also writes on it the temporary directories it makes (``+PATH``) and
removes (``-PATH``), and the control groups it makes (``cPATH``, cpu_quota.py)
and removes (``dPATH``). When the pipe reaches end of file, that is when
emitcheck has ended in any way, SIGKILL included, the warden kills every
process that carries the marker, is in a session still listed or in a control
group still listed (SIGKILL, again until none is left, bounded), then removes
the directories still listed, and the control groups (``rmdir``: the kernel
removes an empty group only; again, bounded, while one still holds a process
that is dying). On a normal exit emitcheck closes the pipe and waits (bounded)
for it to finish.

Run as ``python -I -S warden.py OWNER_PID MARKER`` (the standard library only;
it starts in about 20 ms; OWNER_PID only names, on its command line, whom it
serves). A process that both starts with an environment of its own (``env
-i``) and leaves its session is caught only while it is still in its parent's
process tree (``ManagedProcess.stop``), or in a control group emitcheck made
(the server of a CPU-bound cell, where cgroups are writable: cpu_quota.py).
"""

from __future__ import annotations

import os
import signal
import sys
import time

#: typing.TYPE_CHECKING without importing typing: the warden starts on the standard
#: library's least (mypy reads any TYPE_CHECKING as its own).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Collection
    from typing import IO

#: The environment variable that carries the markers: words separated by spaces.
VAR = "EMITCHECK_RUN"
#: Seconds the kill loop goes on while it still finds marked processes.
KILL_TIMEOUT = 5.0
#: Seconds emitcheck waits, at a normal exit, for the warden to finish.
CLOSE_TIMEOUT = 5.0
#: Seconds ``remove_groups`` goes on trying while a control group still holds a process.
GROUP_TIMEOUT = 2.0


def carries(environ: bytes, marker: str) -> bool:
    """Does this environment (``/proc/PID/environ``'s bytes) carry ``marker``?"""
    word = marker.encode()
    if word not in environ:  # the common case, cheaply
        return False
    prefix = VAR.encode() + b"="
    return any(entry.startswith(prefix) and word in entry[len(prefix):].split(b" ")
               for entry in environ.split(b"\0"))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:  # gone, or not ours to read
        return b""


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)  # one system call: cheaper than reading /proc/PID/stat
    except OSError:
        return None


def _ours(pid: int, marker: str | None, sessions: Collection[int]) -> bool:
    if marker is not None and carries(_read(f"/proc/{pid}/environ"), marker):
        return True
    return bool(sessions) and _session(pid) in sessions


def members(groups: Collection[str]) -> set[int]:
    """Pids of the processes in the control groups ``groups`` (folders of a cgroup
    hierarchy; one that is gone holds none)."""
    return {int(word) for group in groups
            for word in _read(os.path.join(group, "cgroup.procs")).split() if word.isdigit()}


def matching(marker: str | None, sessions: Collection[int] = (),
             groups: Collection[str] = ()) -> list[int]:
    """Pids of the processes, other than this one, that carry ``marker``, are in
    one of ``sessions`` (zombies included only through their session: a
    zombie's environment reads empty) or in one of the control groups ``groups``."""
    me = os.getpid()
    found = members(groups) - {me}
    if marker is None and not sessions:  # the groups say it all: no need to look further
        return sorted(found)
    try:
        names = os.listdir("/proc")
    except OSError:  # no /proc (not Linux): the process groups are all we have
        return sorted(found)
    return sorted(found | {int(name) for name in names
                           if name.isdigit() and int(name) != me
                           and _ours(int(name), marker, sessions)})


def _kill(pid: int, marker: str | None, sessions: Collection[int],
          groups: Collection[str] = ()) -> bool:
    """SIGKILL ``pid`` if it is still ours. Through a pidfd where the kernel has
    them: the check and the signal then name the same process even if ``pid``
    was reused in between."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):  # no pidfd here: a plain kill
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    try:
        if not _ours(pid, marker, sessions) and pid not in members(groups):
            return False
        signal.pidfd_send_signal(handle, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        os.close(handle)


def kill_marked(marker: str | None, sessions: Collection[int] = (),
                timeout: float = KILL_TIMEOUT, groups: Collection[str] = ()) -> int:
    """SIGKILL every process that carries ``marker``, is in one of ``sessions`` or
    in one of the control groups ``groups``, again until a look finds none alive
    (a process may fork while we kill its parent) or ``timeout`` seconds pass.
    Returns how many signals were sent."""
    deadline = time.monotonic() + timeout
    sent, refused = 0, set()
    while True:
        found = [pid for pid in matching(marker, sessions, groups)
                 if pid not in refused and not _zombie(pid)]
        for pid in found:
            if _kill(pid, marker, sessions, groups):
                sent += 1
            else:  # gone meanwhile, or not ours to signal: not looked at again
                refused.add(pid)
        if not found or time.monotonic() > deadline:
            return sent
        time.sleep(0.005)


def _zombie(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X", b"")


def remove_groups(groups: Collection[str], timeout: float = GROUP_TIMEOUT) -> list[str]:
    """Remove the control groups ``groups`` (``rmdir``: a group is removed only
    once empty, never its processes' files), killing what is still in them, again
    while one is busy (a killed process leaves its group once it has exited) until
    ``timeout`` seconds pass. Returns those still there."""
    import errno

    deadline = time.monotonic() + timeout
    left = list(groups)
    while True:
        busy = []
        for group in left:
            try:
                os.rmdir(group)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno == errno.EBUSY:  # still holds a process (or a group)
                    busy.append(group)
        left = busy
        if not left or time.monotonic() > deadline:
            return left
        kill_marked(None, groups=left, timeout=0)
        time.sleep(0.01)


def main(marker: str) -> None:
    """The warden: read the pipe until end of file, then kill and remove."""
    for name in ("SIGINT", "SIGHUP", "SIGQUIT", "SIGTSTP"):  # a terminal's: not for us
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    directories: set[str] = set()
    sessions: set[int] = set()
    groups: set[str] = set()
    pending = b""
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            kind, value = line[:1], line[1:]
            if kind == b"+":
                directories.add(os.fsdecode(value))
            elif kind == b"-":
                directories.discard(os.fsdecode(value))
            elif kind == b"c":
                groups.add(os.fsdecode(value))
            elif kind == b"d":
                groups.discard(os.fsdecode(value))
            elif kind in (b"s", b"e") and value.isdigit():
                (sessions.add if kind == b"s" else sessions.discard)(int(value))
    try:
        kill_marked(marker, sessions, groups=groups)
    finally:
        if directories:
            import shutil

            for path in directories:
                shutil.rmtree(path, ignore_errors=True)
        if groups:
            remove_groups(groups)


# -- emitcheck's side ---------------------------------------------------------------


class _Client:
    """This process's marker and warden (one per process: ``_client()``)."""

    def __init__(self) -> None:
        import threading

        self.marker = f"emitcheck-{os.getpid()}-{os.urandom(4).hex()}"
        self.lock = threading.Lock()
        self.popen: subprocess.Popen[bytes] | None = None
        #: The pipe's write end (the warden's stdin): only this process holds it.
        self.pipe: IO[bytes] | None = None
        #: What the warden is told, to tell it again if it has to start again.
        self.directories: set[str] = set()
        self.sessions: set[int] = set()
        self.groups: set[str] = set()
        self.scopes = 0
        self.at_exit = False

    def ensure(self) -> None:
        """Start the warden if it is not running (first use, or it was killed)."""
        with self.lock:
            if self.popen is not None and self.popen.poll() is None:
                return
            import subprocess

            env = {k: v for k, v in os.environ.items() if k != VAR}
            self.popen = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()),
                 self.marker], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True, env=env,
                cwd="/")
            self.pipe = self.popen.stdin
            for path in self.directories:
                self._say(b"+" + os.fsencode(path))
            for pid in self.sessions:
                self._say(b"s%d" % pid)
            for group in self.groups:
                self._say(b"c" + os.fsencode(group))
            if not self.at_exit:
                import atexit

                atexit.register(self.close)
                self.at_exit = True

    def _say(self, line: bytes) -> None:  # with self.lock held
        if self.pipe is None or b"\n" in line:
            return
        try:  # one write of less than PIPE_BUF bytes: atomic
            os.write(self.pipe.fileno(), line + b"\n")
        except (BrokenPipeError, ValueError):  # the warden was killed: ensure() starts another
            pass

    def tell(self, kind: bytes, value: str | int, known: set, add: bool) -> None:
        if add:
            self.ensure()
        with self.lock:
            if add:
                known.add(value)
            else:
                known.discard(value)
            self._say(kind + (os.fsencode(value) if isinstance(value, str) else b"%d" % value))

    def scope(self) -> str:
        with self.lock:
            self.scopes += 1
            return f"{self.marker}.{self.scopes}"

    def close(self) -> None:
        """End of the run: the warden kills what is left and removes the directories
        still listed; wait for it (bounded)."""
        import subprocess

        with self.lock:
            popen, pipe, self.popen, self.pipe = self.popen, self.pipe, None, None
        if popen is None or pipe is None:
            return
        pipe.close()
        try:
            popen.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass

    def forked(self) -> None:
        """In a child forked (without exec) from this process: the pipe is the
        parent's, not ours; a warden of its own starts if the child starts processes."""
        if self.pipe is not None:
            try:
                self.pipe.close()
            except OSError:
                pass
        if self.popen is not None:
            self.popen.returncode = 0  # not our child: never wait for it
        self.__init__()  # type: ignore[misc]


_CLIENT: _Client | None = None


def _client() -> _Client:
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = _Client()
        os.register_at_fork(after_in_child=_CLIENT.forked)
    return _CLIENT


def marker() -> str:
    """This emitcheck process's run marker."""
    return _client().marker


def new_scope() -> str:
    """A word unique to one process emitcheck starts (and its descendants)."""
    return _client().scope()


def marked(env: dict[str, str] | None = None, scope: str | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with this run's marker (and
    ``scope``) appended to EMITCHECK_RUN; starts the warden if it is not running."""
    client = _client()
    client.ensure()
    env = dict(os.environ if env is None else env)
    words = env.get(VAR, "").split() + [client.marker] + ([scope] if scope else [])
    env[VAR] = " ".join(dict.fromkeys(words))
    return env


def session_started(pid: int) -> None:
    """``pid`` leads a session emitcheck started: the warden kills what is in it
    if emitcheck ends first (``session_ended`` once it is stopped)."""
    client = _client()
    client.tell(b"s", pid, client.sessions, add=True)


def session_ended(pid: int) -> None:
    client = _client()
    client.tell(b"e", pid, client.sessions, add=False)


def track(path: str | os.PathLike) -> None:
    """A temporary directory of this run: the warden removes it if emitcheck ends
    before it does (``untrack`` once removed)."""
    client = _client()
    client.tell(b"+", os.fspath(path), client.directories, add=True)


def untrack(path: str | os.PathLike) -> None:
    client = _client()
    client.tell(b"-", os.fspath(path), client.directories, add=False)


def group_made(path: str | os.PathLike) -> None:
    """A control group of this run (cpu_quota.py): if emitcheck ends first, the
    warden kills what is in it and removes it (``group_removed`` once removed)."""
    client = _client()
    client.tell(b"c", os.fspath(path), client.groups, add=True)


def group_removed(path: str | os.PathLike) -> None:
    client = _client()
    client.tell(b"d", os.fspath(path), client.groups, add=False)


class TemporaryDirectory:
    """``tempfile.TemporaryDirectory`` that the warden removes if emitcheck is
    killed first: ``with TemporaryDirectory(prefix=..., dir=...) as path:``."""

    def __init__(self, prefix: str | None = None, dir: str | os.PathLike | None = None):
        import tempfile

        self._inner = tempfile.TemporaryDirectory(prefix=prefix, dir=dir)
        self.name = self._inner.name
        track(self.name)

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._inner.cleanup()
        finally:
            untrack(self.name)


if __name__ == "__main__":
    main(sys.argv[2])
