"""What to change, derived from the matrix we measured.

A cell that is not delivered leads to the nearest cell that is: the fewest
values changed, staying in the same async mode where possible, each change
said as its value's ``remedy`` (families/); a change that some value cannot
say (no ``remedy`` text) is not offered. ``for_cell`` does it for our own
cells, among the cells of the same family (the same suffixes, CPU-bound or
not), or where none is, among the cells a suffix or two away (a message
queue and sticky sessions), where that suffix's value says how. An app (``remedies``) that is not
delivered in some mode and patching looks like the cells of our base grid in
that row that got the same verdict, and leads from those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from itertools import combinations, product

from emitcheck.matrix.cell import FACTORS, Cell, CellError, mode_value, values, variant
from emitcheck.matrix.cells import default_cells, possible_cells
from emitcheck.matrix.expectations import expected

#: Changing the async mode costs more than changing how the work starts or
#: waits: a user more easily edits a loop than moves off eventlet.
#: A suffix (a queue, a proxy's setting) counts as one change.
_WEIGHT = {"mode": 2, "patch": 1, "spawn": 1, "wait": 1,
           **{f.name: 1 for f in FACTORS if f.is_suffix}}
#: How every remedy line ends: the delivered cell it leads to, in parentheses.
_LEADS_TO = re.compile(r" \([^()]* is delivered\)$")


def _distance(a: Cell, b: Cell) -> int:
    return sum(w for factor, w in _WEIGHT.items() if getattr(a, factor) != getattr(b, factor))


def _changes(a: Cell, b: Cell) -> str:
    """The changes from ``a`` to ``b`` in words (each changed value's ``undo``,
    or its new value's ``remedy``), or "" when some change has no text (or
    nothing changes)."""
    said = [a.value_of(f).undo or b.value_of(f).remedy
            for f in _WEIGHT if getattr(a, f) != getattr(b, f)]
    return " and ".join(said) if said and all(said) else ""


def _nearest(sources: Iterable[Cell], targets: Iterable[Cell],
             line: Callable[[str, Cell, Cell], str]) -> list[str]:
    """One line per distinct change that leads from a source to a target at the
    smallest distance any sayable change has (the first pair that shows it)."""
    pairs = [(a, d, change) for a in sources for d in targets if (change := _changes(a, d))]
    if not pairs:
        return []
    best = min(_distance(a, d) for a, d, _ in pairs)
    found: dict[str, str] = {}
    for a, d, change in pairs:
        if _distance(a, d) == best and change not in found:
            found[change] = line(change, a, d)
    return list(found.values())


def _concrete(cell: Cell) -> bool:
    """Is its mode an async mode itself (not ``auto``, which resolves to one)?"""
    return variant("mode", cell.mode).concrete


def _delivered(cells: Iterable[Cell]) -> list[Cell]:
    return [c for c in cells if _concrete(c) and expected(c).verdict == "delivered"]


def remedies(mode: str, patch: str, verdict: str,
             already: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """Ways out of ``verdict`` for work running in ``mode``-``patch``: one line
    each, naming the cell it looks like and the delivered cell it leads to.
    ``already``: (factor, value) pairs the app is known to have already (its
    work started with start_background_task: ``("spawn", "task")``); a change
    that asks for one of them is never offered."""
    if verdict == "delivered":
        return []
    cells = [c for c in default_cells() if not c.suffixes and _concrete(c)]
    alike = [c for c in cells if c.mode == mode and c.patch == patch
             and expected(c).verdict == verdict
             and all(getattr(c, factor) == value for factor, value in already)]
    return _nearest(alike, _delivered(cells), lambda change, a, d: (
        f"{change} (like {a.id}, {verdict} in our matrix; {d.id} is delivered)"))


def for_cell(cell: Cell, resolved: str | None = None) -> list[str]:
    """Ways to delivery for one of our cells that is not delivered as measured:
    one line per change that leads to the nearest delivered cell of its family,
    naming that cell. An ``auto`` cell is taken as the mode it ``resolved`` to
    (or would resolve to here). [] for a cell measured delivered: no cell of
    ours shows a way out of what it did instead."""
    if expected(cell, resolved).verdict == "delivered":
        return []
    declared = variant("mode", cell.mode)
    if not declared.concrete:
        try:
            cell = cell.replace(mode=mode_value(resolved or declared.resolve()))
        except CellError:
            return []
    def line(change: str, _: Cell, delivered: Cell) -> str:
        return f"{change} ({delivered.id} is delivered)"

    return _nearest([cell], _delivered_in(tuple(cell.suffixes), cell.isolated), line) or \
        _nearest([cell], _delivered(_suffixes_away(cell)), line)


def _suffixes_away(cell: Cell, most: int = 2) -> list[Cell]:
    """The same cell with up to ``most`` suffix factors set to other values (valid
    ones): a queue added, and sticky sessions, say."""
    suffix_factors = [f.name for f in FACTORS if f.is_suffix]
    found: dict[Cell, None] = {}
    for count in range(1, most + 1):
        for chosen in combinations(suffix_factors, count):
            others = [[v for v in values(f) if v != getattr(cell, f)] for f in chosen]
            for picked in product(*others):
                try:
                    found[cell.replace(**dict(zip(chosen, picked, strict=True)))] = None
                except CellError:
                    continue
    return [c for c in found if c.in_matrix]


@cache
def _delivered_in(suffixes: tuple[str, ...], isolated: bool) -> tuple[Cell, ...]:
    """The cells of a family (its suffixes, CPU-bound or not) measured delivered."""
    return tuple(_delivered(c for c in possible_cells()
                            if tuple(c.suffixes) == suffixes and c.isolated == isolated))


def change_of(line: str) -> str:
    """A remedy line without the cells it names: what to change, alone (two
    cells that need the same change lead to different delivered cells)."""
    return _LEADS_TO.sub("", line)
