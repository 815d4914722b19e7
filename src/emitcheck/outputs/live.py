"""The matrix as it runs, on a terminal: the grid of the family whose cell just
finished, filling in, over a line with the count, the verdicts so far and an
estimate of the time left. It is drawn in place (rich's ``Live``) and cleared
at the end, when the full grids are printed as without it; ``emitcheck matrix``
uses it only when its output is a terminal and neither JSON nor Markdown.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

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
        self.results: list[CellResult] = []
        self.counts: Counter = Counter({k: 0 for k in ("delivered", "failing as measured",
                                                        "unexpected")})
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.live = Live(self._view(None), console=console or Console(width=width),
                         transient=True, refresh_per_second=4, vertical_overflow="crop")

    def __rich__(self) -> Text:
        """The progress line, as of each refresh (the clock runs between cells)."""
        return Text(progress(len(self.results), self.total, self.counts,
                             time.monotonic() - self.started), style="bold")

    def _view(self, last: CellResult | None):
        if last is None:
            return self
        family = [r for r in self.results if parse(r.cell).grid == parse(last.cell).grid]
        return Group(grid(family, title="emitcheck matrix (running)"), self)

    def add(self, result: CellResult) -> None:
        with self.lock:
            self.results.append(result)
            self.counts[_kind(result)] += 1
            self.live.update(self._view(result))

    def __enter__(self) -> LiveGrid:
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()
