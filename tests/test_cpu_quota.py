"""The CPU quota of CPU-bound servers: applied where the machine allows it, and
nothing left behind (no group outlives its cell)."""

import os
import subprocess

import pytest

from emitcheck.matrix import cells
from emitcheck.running import runner
from emitcheck.system import cpu_quota

QUOTA = cpu_quota.CpuQuota()
needs_cgroups = pytest.mark.skipif(not QUOTA.available(),
                                   reason="this machine lets emitcheck make no cgroup")


def ours() -> list[str]:
    assert QUOTA.root is not None
    return [g.name for g in QUOTA.root.glob(f"{cpu_quota.PREFIX}{os.getpid()}-*")]


@needs_cgroups
def test_a_confined_process_is_held_to_its_share_and_its_group_goes_with_it():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        group = QUOTA.confine(proc.pid, "test")
        assert group is not None
        assert group.name in open(f"/proc/{proc.pid}/cgroup").read()
        limit = (group / "cpu.max").read_text().split() if QUOTA.v2 else \
            [(group / "cpu.cfs_quota_us").read_text(), (group / "cpu.cfs_period_us").read_text()]
        assert [int(n) for n in limit] == [int(cpu_quota.PERIOD_US * cpu_quota.SHARE),
                                           cpu_quota.PERIOD_US]
    finally:
        proc.kill()
        proc.wait(timeout=10)
    QUOTA.release(group)
    assert not group.exists()


@needs_cgroups
def test_with_a_quota_two_cpu_bound_cells_may_run_at_once_keep_their_verdicts_and_leave_no_group():
    busy = [cells.parse("threading-unpatched-thread-busy"),
            cells.parse("threading-unpatched-task-busy_yield")]
    with runner.CellPool() as pool:
        assert pool.limits.isolated._value == runner.ISOLATED_AT_ONCE  # type: ignore[attr-defined]
        results = [f.result() for f in [pool.submit(cell) for cell in busy]]
    assert [r.verdict for r in results] == [r.expected for r in results]
    assert ours() == []


def test_without_a_quota_cpu_bound_cells_run_one_at_a_time(monkeypatch):
    monkeypatch.setenv(runner.NO_CPU_QUOTA, "1")
    with runner.CellPool() as pool:
        assert pool.quota is None
        assert pool.limits.isolated._value == 1  # type: ignore[attr-defined]
