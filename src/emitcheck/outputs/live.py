"""The matrix as it runs, on a terminal: the grid of the family whose cell just
finished, filling in, over a line with the count, the verdicts so far and an
estimate of the time left. It is drawn in place (rich's ``Live``) and cleared
at the end, when the full grids are printed as without it; ``emitcheck matrix``
uses it only when its output is a terminal and neither JSON nor Markdown.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from emitcheck.matrix.cells import parse
from emitcheck.model.results import CellResult
from emitcheck.outputs.grid import grid


def progress(done: int, total: int, counts: Counter, elapsed: float) -> str:
    """``37/399 cells · 12 delivered, 25 failing as measured, 0 unexpected ·
    41 s, about 6 min left`` (no estimate before the first cell)."""
    left = ""
    if 0 < done < total:
        seconds = elapsed / done * (total - done)
        left = f", about {seconds / 60:.0f} min left" if seconds >= 90 else \
            f", about {seconds:.0f} s left"
    said = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return f"{done}/{total} cells · {said or 'none finished yet'} · {elapsed:.0f} s{left}"


def _kind(result: CellResult) -> str:
    if not result.ran:
        return result.outcome  # skipped, or emitcheck failed
    if not result.matches:
        return "unexpected"
    return "delivered" if result.verdict == "delivered" else "failing as measured"


class LiveGrid:
    """``add`` each result as it comes (from any thread); a context manager."""

    def __init__(self, total: int, width: int, console: Console | None = None):
        self.total = total
        self.done = 0
        #: The results so far by the title of their grid (a cell's family).
        self.families: defaultdict[str, list[CellResult]] = defaultdict(list)
        self.counts: Counter = Counter({k: 0 for k in ("delivered", "failing as measured",
                                                        "unexpected")})
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.live = Live(self, console=console or Console(width=width),
                         transient=True, refresh_per_second=4, vertical_overflow="crop")

    def __rich__(self) -> Text:
        """The progress line, as of each refresh (the clock runs between cells)."""
        return Text(progress(self.done, self.total, self.counts,
                             time.monotonic() - self.started), style="bold")

    def view(self, family: str) -> Group:
        """The grid of one family, as far as its cells have finished, over the
        progress line."""
        return Group(grid(self.families[family], title="emitcheck matrix (running)"), self)

    def add(self, result: CellResult) -> None:
        family = parse(result.cell).grid
        with self.lock:
            self.done += 1
            self.families[family].append(result)
            self.counts[_kind(result)] += 1
            self.live.update(self.view(family))

    def __enter__(self) -> LiveGrid:
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()
