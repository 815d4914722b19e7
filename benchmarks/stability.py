"""Do verdicts flip? Run the matrix N times and report every cell whose verdict changed.

    python benchmarks/stability.py [--runs 10] [--load 2] [-k PATTERN | --base]

``--load K`` starts K processes that keep a core busy each (pure-Python
loops, in their own process group, stopped at the end) for the whole run, to
show the verdicts hold on a loaded machine. Exits 1 when any cell's verdict
changed between runs, or differed from its expectation.
"""

import argparse
import collections
import datetime
import os
import platform
import signal
import subprocess
import sys
import time

from emitcheck.matrix import cells
from emitcheck.matrix.expectations import expected
from emitcheck.running import runner

BURN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"


def start_load(count: int, seconds: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)],
                             start_new_session=True) for _ in range(count)]


def stop_load(burners: list[subprocess.Popen]) -> None:
    for proc in burners:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="busy processes alongside")
    parser.add_argument("-k", dest="pattern", default=None, help="cells to run (default: all)")
    parser.add_argument("--base", action="store_true", help="the 20 base cells only")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    selected = cells.base_cells() if args.base else cells.select(args.pattern)

    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    burners = start_load(args.load, seconds=3600)
    started = time.perf_counter()
    try:
        for run in range(1, args.runs + 1):
            t0 = time.perf_counter()
            for result in runner.run_many(selected, jobs=args.jobs):
                seen[result.cell][result.verdict or f"skipped ({result.skipped})"
                                  if not result.failure else f"failed ({result.failure})"] += 1
            print(f"run {run}/{args.runs}: {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        stop_load(burners)

    print(f"\n{datetime.date.today()}: {len(selected)} cells x {args.runs} runs, load {args.load}, "
          f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, {time.perf_counter() - started:.0f} s in all")
    flipped = {cid: counts for cid, counts in seen.items() if len(counts) > 1}
    unexpected = {cid: counts for cid, counts in seen.items() if len(counts) == 1
                  and next(iter(counts)) not in (expected(cid).verdict,)
                  and not next(iter(counts)).startswith("skipped")}
    for cid, counts in flipped.items():
        print(f"FLIPPED {cid}: " + ", ".join(f"{v} x{n}" for v, n in counts.most_common()))
    for cid, counts in unexpected.items():
        print(f"UNEXPECTED {cid}: {next(iter(counts))} every run, "
              f"expected {expected(cid).verdict}")
    if not flipped and not unexpected:
        print("no cell changed its verdict; every cell matched its expectation")
    return 1 if flipped or unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
