"""A CPU quota for the servers of CPU-bound cells, where the machine allows one.

A CPU-bound cell's server (``-busy``, ``-busy_yield``) burns whatever CPU it
is given until it is stopped: one at a time, it keeps a core busy; several at
once, they take the cores the other cells need to start. What such a cell
shows (a loop that never yields starves the hub; one that yields does not)
needs the loop to run, not to own a core. So, where Linux lets this process
make control groups (the ``cpu`` controller of cgroup v1, or cgroup v2's
``cpu.max``: root, or a delegated subtree), each such server gets a group of
its own whose quota is ``SHARE`` of a core, in short periods so that a
throttled server waits at most a few milliseconds; several then run at once.
Elsewhere ``available()`` is False and they run one at a time, as before.

A group is removed when its cell stops (what is still in it then, a process
that left its server's session and environment, is killed first). Each group
is known to the warden (warden.py) from when it is made until it is removed:
if emitcheck ends first, SIGKILL included, the warden kills what is in it and
removes it. A group left all the same (the warden was killed too) is removed
by the next run whose CpuQuota is made, once the run named in it is dead and
the group empty (``_remove_stale``).

Groups are only ever removed with ``rmdir``: the kernel removes an empty group
and nothing else (``rm -r`` on a cgroup folder fails on its files).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from emitcheck.system import warden

#: The share of one core a CPU-bound server may use once it listens.
SHARE = 0.5
#: The quota's period: a throttled server waits at most (1 - SHARE) of it.
PERIOD_US = 20_000
#: Seconds ``release`` goes on removing a group that still holds a process.
RELEASE_TIMEOUT = 2.0
PREFIX = "emitcheck-"
V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def _root() -> tuple[Path, bool] | None:
    """The writable cgroup directory to make groups in, and whether it is v2."""
    if (V1 / "cpu.cfs_quota_us").exists() and os.access(V1, os.W_OK):
        return V1, False
    controllers = V2 / "cgroup.subtree_control"
    if controllers.exists() and os.access(V2, os.W_OK) and \
            "cpu" in controllers.read_text().split():
        return V2, True
    return None


class CpuQuota:
    """Makes, fills and removes the groups of one run (one per confined server)."""

    def __init__(self) -> None:
        found = _root()
        self.root: Path | None = found[0] if found else None
        self.v2 = bool(found and found[1])
        self.made: set[Path] = set()
        if self.root is not None:
            self._remove_stale()

    def available(self) -> bool:
        return self.root is not None

    def confine(self, pid: int, name: str) -> Path | None:
        """Put process ``pid`` (and what it starts later) in a new group capped at
        ``SHARE`` of a core; None when that failed (the server then runs unconfined)."""
        if self.root is None:
            return None
        group = self.root / f"{PREFIX}{os.getpid()}-{name}"
        quota = int(PERIOD_US * SHARE)
        try:
            group.mkdir(exist_ok=True)
            self.made.add(group)
            warden.group_made(group)
            if self.v2:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            (group / "cgroup.procs").write_text(str(pid))
        except OSError:
            self.release(group)
            return None
        return group

    def release(self, group: Path | None) -> None:
        """Remove a group once its cell's processes are stopped: what is still in it
        (a process that left its server's session and environment) is killed, and
        the group removed (bounded: one that stays is the warden's at exit)."""
        if group is None:
            return
        if not warden.remove_groups([str(group)], RELEASE_TIMEOUT):
            self.made.discard(group)
            warden.group_removed(group)

    def _remove_stale(self) -> None:
        """Groups left by runs that were killed, their warden with them, before they
        could remove them: those whose run (the pid in their name) is dead. Only
        empty ones: what is in a group is killed by its own run's warden, never
        here (a run that looks dead from here may be alive in another pid
        namespace that shares this cgroup hierarchy)."""
        assert self.root is not None
        for group in self.root.glob(f"{PREFIX}*-*"):
            owner = _owner(group)
            if owner is not None and not _alive(owner):
                with contextlib.suppress(OSError):  # not empty, or removed meanwhile
                    group.rmdir()


def _owner(group: Path) -> int | None:
    """The pid of the run that made ``group`` (its name: emitcheck-PID-...)."""
    owner = group.name[len(PREFIX):].split("-", 1)[0]
    return int(owner) if owner.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
