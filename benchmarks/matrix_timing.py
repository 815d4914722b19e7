"""Where a matrix run's time goes. Not a test: it reports, it never fails on time.

    python benchmarks/matrix_timing.py [--runs 3] [-k PATTERN] [--jobs N]

Reports, over several runs: the wall time of the whole matrix, the wall time of
one cell run alone, and per phase of a cell (ready = from starting the processes
until the server listens, window = connect + quiet + traffic + drain, teardown)
the median and the spread (min..max) over every cell of every run. Run it in an
environment with every stack installed (``tox -e matrix`` makes one).
"""

import argparse
import os
import platform
import resource
import statistics
import time

from emitcheck.matrix import cells
from emitcheck.running import runner

PHASES = ("ready", "window", "teardown")


def spread(values):
    values = sorted(values)
    if not values:
        return "n/a"
    return f"median {statistics.median(values):6.2f} s  ({values[0]:.2f} .. {values[-1]:.2f})"


def cpu_seconds() -> tuple[float, float]:
    """CPU used so far by this process (the probes) and by its reaped children (the servers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-k", dest="pattern", default=None,
                        help="cells to run (default: the 20 base cells)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--single", default="gevent-patched-task-socketio_sleep",
                        help="the cell timed alone")
    args = parser.parse_args()
    selected = cells.select(args.pattern) if args.pattern else cells.base_cells()
    single = cells.parse(args.single)

    matrix_walls, single_walls, phases = [], [], {p: [] for p in PHASES}
    cpu_self, cpu_servers = [], []
    for _ in range(args.runs):
        before = cpu_seconds()
        started = time.perf_counter()
        results = runner.run_many(selected, jobs=args.jobs)
        matrix_walls.append(time.perf_counter() - started)
        after = cpu_seconds()
        cpu_self.append(after[0] - before[0])
        cpu_servers.append(after[1] - before[1])
        for result in results:
            if result.observation:
                for name in PHASES:
                    if name in result.observation.phases:
                        phases[name].append(result.observation.phases[name])
        started = time.perf_counter()  # a run of its own: it starts its zygote, as a CLI run does
        runner.run_many([single])
        single_walls.append(time.perf_counter() - started)

    print(f"emitcheck matrix timing: {len(selected)} cells, {args.runs} runs, "
          f"jobs={args.jobs or runner.default_jobs()}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.machine()}, Python {platform.python_version()}")
    print(f"  whole matrix      {spread(matrix_walls)}")
    print(f"  one cell alone    {spread(single_walls)}  ({single.id})")
    ratio = statistics.median(matrix_walls) / statistics.median(single_walls)
    print(f"  matrix / one cell {ratio:.1f}x")
    # Only reaped children count: servers forked by a zygote are reaped by it.
    print(f"  CPU per matrix    probes {statistics.median(cpu_self):.1f} s + servers started "
          f"fresh {statistics.median(cpu_servers):.1f} s (forked ones are not counted)")
    print("  phases of a cell (all cells, all runs):")
    for name in PHASES:
        print(f"    {name:9s}       {spread(phases[name])}")


if __name__ == "__main__":
    main()
