"""What to change, derived from the matrix we measured.

An app (or a cell) that is not delivered in some mode and patching looks like
the cells of our base grid in that row that got the same verdict; the remedy
is the way to the nearest cell that is delivered: the fewest values changed,
staying in the same async mode where possible, each change said as its
value's ``remedy`` (families/).
"""

from __future__ import annotations

from .cells import Cell, default_cells
from .expectations import expected

#: Changing the async mode costs more than changing how the work starts or
#: waits: a user more easily edits a loop than moves off eventlet.
_WEIGHT = {"mode": 2, "patch": 1, "spawn": 1, "wait": 1}


def _distance(a: Cell, b: Cell) -> int:
    return sum(w for factor, w in _WEIGHT.items() if getattr(a, factor) != getattr(b, factor))


def _changes(a: Cell, b: Cell) -> str:
    said = [b.value_of(f).remedy for f in _WEIGHT if getattr(a, f) != getattr(b, f)]
    return " and ".join(s for s in said if s)


def remedies(mode: str, patch: str, verdict: str) -> list[str]:
    """Ways out of ``verdict`` for work running in ``mode``-``patch``: one line
    each, naming the cell it looks like and the delivered cell it leads to."""
    if verdict == "delivered":
        return []
    cells = [c for c in default_cells() if not c.suffixes and c.mode != "auto"]
    alike = [c for c in cells if c.mode == mode and c.patch == patch
             and expected(c).verdict == verdict]
    delivered = [c for c in cells if expected(c).verdict == "delivered"]
    if not alike:
        return []
    best = min(_distance(a, d) for a in alike for d in delivered)
    found: dict[str, str] = {}  # one line per change, the first cell pair that shows it
    for a in alike:
        for d in delivered:
            change = _changes(a, d)
            if _distance(a, d) == best and change and change not in found:
                found[change] = (f"{change} (like {a.id}, {verdict} in our matrix; "
                                 f"{d.id} is delivered)")
    return list(found.values())
