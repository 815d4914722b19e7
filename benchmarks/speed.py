"""The speed goals, side by side in one run. Not a test: it reports, it never fails on time.

    python benchmarks/speed.py [--runs 3] [--no-tox] [--tox-warmup]

Times, as whole processes started from here, round after round (so that a
machine that drifts affects every figure alike): one cell (``emitcheck run``),
the 20 base cells and the whole default matrix (``emitcheck matrix``), and
``tox`` (every environment of its env_list, with the caches of an earlier run:
``--tox-warmup`` makes one first, not counted). Prints each one's min, median
and max, the ratios the goals are stated in, the date, the machine and the
versions. Run it with the Python of an environment that has every stack
installed (``.tox/matrix/bin/python``, or a development virtualenv).
"""

import argparse
import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMITCHECK = str(Path(sys.executable).with_name("emitcheck"))
ONE_CELL = "gevent-patched-task-socketio_sleep"
PACKAGES = ("flask-socketio", "python-socketio", "python-engineio", "eventlet", "gevent",
            "gunicorn", "redis")


def base_ids() -> str:
    from emitcheck.matrix import cells

    return ",".join(cell.id for cell in cells.base_cells())


def timed(argv: list[str], log: Path) -> tuple[float, int]:
    """Wall seconds and exit status of one whole process (its output to ``log``)."""
    with log.open("ab") as out:
        started = time.perf_counter()
        status = subprocess.call(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        return time.perf_counter() - started, status


def spread(values: list[float]) -> str:
    values = sorted(values)
    return (f"median {statistics.median(values):6.1f} s  "
            f"(min {values[0]:.1f}, max {values[-1]:.1f})")


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    try:  # tox need not be installed where emitcheck is
        said = subprocess.run(["tox", "--version"], capture_output=True, text=True, timeout=60)
        found.append("tox " + said.stdout.split(" from ")[0].strip())
    except (OSError, subprocess.TimeoutExpired):
        found.append("tox not found")
    return ", ".join(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--no-tox", action="store_true", help="leave tox out")
    parser.add_argument("--tox-warmup", action="store_true",
                        help="run tox once first, not counted (makes its caches warm)")
    parser.add_argument("--log", type=Path, default=Path("speed-benchmark.log"),
                        help="where every command's output goes (default: %(default)s)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    commands = {
        "one cell": [EMITCHECK, "run", ONE_CELL],
        "20 base cells": [EMITCHECK, "matrix", "-k", base_ids(), "--json"],
        "default matrix": [EMITCHECK, "matrix", "--json"],
    }
    if not args.no_tox:
        commands["tox"] = ["tox", "-q"]
        if args.tox_warmup:
            timed(commands["tox"], args.log)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    statuses: dict[str, set[int]] = {name: set() for name in commands}
    started = time.perf_counter()
    for run in range(1, args.runs + 1):
        for name, argv in commands.items():
            wall, status = timed(argv, args.log)
            walls[name].append(wall)
            statuses[name].add(status)
            print(f"run {run}/{args.runs}: {name} {wall:.1f} s (exit {status})", flush=True)

    from emitcheck.matrix import cells

    print(f"\n{datetime.date.today()}: emitcheck speed, {args.runs} runs, "
          f"{len(cells.all_cells())} cells in the default matrix, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
          f"{time.perf_counter() - started:.0f} s in all")
    print(f"  {versions()}")
    for name, values in walls.items():
        print(f"  {name:15s} {spread(values)}  exit {sorted(statuses[name])}")
    median = {name: statistics.median(values) for name, values in walls.items()}
    ratios = [a / b for a, b in zip(walls["20 base cells"], walls["one cell"], strict=True)]
    print(f"  base / one cell  median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}; goal <= 1.5x)")
    print(f"  default matrix   median {median['default matrix']:.1f} s (goal <= 30 s)")
    if "tox" in median:
        print(f"  tox              median {median['tox']:.1f} s (goal <= 90 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
