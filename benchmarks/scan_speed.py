"""How fast ``emitcheck scan`` reads source. Not a test: it reports, it never
fails on time.

    python benchmarks/scan_speed.py [--runs 5] [PATH ...]

By default it scans the installed Flask, python-socketio, python-engineio and
Flask-SocketIO (about 23,000 lines): real code, the libraries our rules are
about. It reports the lines and files read, and over several runs the median
and the spread of the scan's wall time, from reading the files to the judged
findings (the command's own start, the import of emitcheck, is not in it: the
first run, which warms the matrix's caches, is reported on its own).
"""

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

from emitcheck.scan.scanner import scan

LIBRARIES = ("flask", "socketio", "engineio", "flask_socketio")


def installed_sources() -> list[Path]:
    found = []
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            found.append(Path(spec.origin).parent)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    paths = options.paths or installed_sources()
    began = time.perf_counter()
    report = scan(paths)
    first = time.perf_counter() - began
    times = []
    for _ in range(options.runs):
        began = time.perf_counter()
        scan(paths)
        times.append(time.perf_counter() - began)
    print(f"scanned {report.lines} lines in {report.files} files "
          f"({', '.join(p.name for p in paths)}): {len(report.findings)} finding(s)")
    print(f"first run {first:.3f} s; then median {statistics.median(times):.3f} s "
          f"({min(times):.3f} .. {max(times):.3f}) over {options.runs} runs; "
          f"{report.lines / statistics.median(times):,.0f} lines/s")


if __name__ == "__main__":
    main()
