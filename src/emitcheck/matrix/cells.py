"""Cells and their ids: one value per factor, the values declared in ``families/`` (matrix/cell.py).

A cell id joins the values in factor order with ``-``
(``eventlet-unpatched-thread-time_sleep``); values never contain ``-``. The
first four factors are always in the id. Later factors are *suffixes*: at
their default they are left out, so ids made before a factor existed keep
their meaning (``...-time_sleep`` is the default transport,
``...-time_sleep-polling`` long-polling only). Suffix values are unique across
suffix factors, so each names its factor, and suffixes compose
(``...-time_sleep-websocket-gunicorn``); ``parse`` accepts them in any order
and ``id`` writes them in factor order. Users cite these ids in bug reports:
the order of factors and the spelling of values never change.

Any combination that no value declares a conflict with is a valid cell
(``possible_cells``). The matrix that runs by default (``default_cells``) is a
declared set: every valid cell with at most one suffix (one grid per family),
and the cells a value takes in (its ``composed`` families, or its own
``in_default``).
"""

from __future__ import annotations

import fnmatch
from functools import cache

from emitcheck.matrix.cell import (
    FACTORS,
    INDEX,
    REQUIRED,
    SHAPE,
    AppCellError,
    Cell,
    CellError,
    Variant,
    suffix_factors,
    values,
    variant,
    variants,
)
from emitcheck.matrix.listing import remembered


def parse(cell_id: str) -> Cell:
    """Turn an id such as ``gevent-patched-task-time_sleep-polling`` into a Cell."""
    parts = cell_id.strip().split("-")
    if len(parts) < len(REQUIRED) or len(parts) > len(FACTORS):
        raise CellError(
            f"cell id {cell_id!r} has {len(parts)} part(s), expected {len(REQUIRED)} "
            f"to {len(FACTORS)}: {SHAPE}; run 'emitcheck list --all' for every valid id")
    named = dict(zip((f.name for f in REQUIRED), parts, strict=False))
    for part in parts[len(REQUIRED):]:
        factor = suffix_factors().get(part)
        if factor is None:
            raise CellError(f"unknown suffix {part!r} in {cell_id!r}; valid suffixes: "
                            f"{', '.join(suffix_factors())} (the default is left out of the id)")
        if factor in named:
            raise CellError(f"two {factor} values in {cell_id!r}: {named[factor]} and {part}")
        named[factor] = part
    return Cell(**named)


def parse_ours(cell_id: str) -> Cell:
    """``parse``, refusing the cells of a user's app (they need the app)."""
    cell = parse(cell_id)
    if not cell.in_matrix:
        raise AppCellError(f"{cell.id} is a cell of your app, not of our matrix: run it with "
                        "'emitcheck app MODULE:ATTR --event NAME'")
    return cell


@cache
def possible_cells() -> tuple[Cell, ...]:
    """Every valid combination of our values, in listing order (``list --all``);
    not the cells of a user's app (values with ``matrix=False``). Remembered on
    disk between runs (``listing``)."""
    return tuple(_valid_cell(values) for values in remembered("possible", _search))


def _search() -> list[tuple[str, ...]]:
    """Every valid combination, found. The full product of the values is
    hundreds of thousands of combinations, most of them conflicts; the search
    chooses one factor at a time, in id order, and drops a branch as soon as a
    chosen value's ``conflict`` can already tell (``_Partial``)."""
    choices = [[v for v in variants(f.name) if v.matrix] for f in FACTORS]
    found: list[Cell] = []

    def extend(prefix: tuple[str, ...], undecided: tuple[Variant, ...]) -> None:
        if len(prefix) == len(FACTORS):
            if undecided:
                try:
                    found.append(Cell(*prefix))  # every check, as for any id
                except CellError:
                    pass
            else:  # every value's conflict already said None
                found.append(_valid_cell(prefix))
            return
        for value in choices[len(prefix)]:
            chosen = (*prefix, value.value)
            still = _undecided(chosen, undecided + (value,))
            if still is not None:
                extend(chosen, still)

    extend((), ())
    return [cell._values for cell in sorted(found, key=_listing_order)]


def _valid_cell(chosen: tuple[str, ...]) -> Cell:
    cell = object.__new__(Cell)
    object.__setattr__(cell, "_values", chosen)
    return cell


class _Unknown(BaseException):
    """A conflict check read a factor not chosen yet (BaseException: a check's
    own ``except Exception`` must not take it for an answer)."""


class _Partial:
    """A cell whose first factors are chosen: reading any other attribute
    (a later factor, ``replace``, ``variants``) raises ``_Unknown``."""

    __slots__ = ("_values",)

    def __init__(self, chosen: tuple[str, ...]):
        self._values = chosen

    def __getattr__(self, name: str) -> str:
        index = INDEX.get(name)
        if index is None or index >= len(self._values):
            raise _Unknown(name)
        return self._values[index]


def _undecided(chosen: tuple[str, ...], checks: tuple[Variant, ...]) -> tuple[Variant, ...] | None:
    """None when one of ``checks`` (chosen values) already conflicts with the
    values chosen, whatever the later factors are; else the checks that need
    later factors to tell."""
    partial = _Partial(chosen)
    undecided = []
    for declared in checks:
        if type(declared).conflict is Variant.conflict:
            continue
        try:
            if declared.conflict(partial):  # type: ignore[arg-type]
                return None
        except _Unknown:
            undecided.append(declared)
    return tuple(undecided)


def _listing_order(cell: Cell) -> tuple:
    """Base cells first, then the CPU-bound ones, then the other grids of cells
    without a suffix, then each family: one suffix before two, suffix values in
    declaration order; within, factor and value order."""
    rank = _ranks()
    suffix_rank = [rank[""][v] for v in cell.suffixes]
    grid_rank = 0 if suffix_rank or not cell.grid else 1 if cell.isolated else 2
    return (len(suffix_rank), suffix_rank, grid_rank,
            *(rank[f.name][getattr(cell, f.name)] for f in REQUIRED))


@cache
def _ranks() -> dict[str, dict[str, int]]:
    """Each value's place in its factor's declaration order (suffix values, under
    "", in the order of their factors)."""
    ranks = {f.name: {v: i for i, v in enumerate(values(f.name))} for f in REQUIRED}
    ranks[""] = {v: i for i, v in enumerate(suffix_factors())}
    return ranks


@cache
def default_cells() -> tuple[Cell, ...]:
    """The matrix that runs by default: one suffix at most, except where a value
    says otherwise (its ``in_default``: a composed family it takes in, say).
    Remembered on disk between runs (``listing``), as ``possible_cells``."""
    return tuple(_valid_cell(values) for values in remembered("default", lambda: [
        c._values for c in possible_cells() if _in_default(c)]))


def _in_default(cell: Cell) -> bool:
    opinions = {value.in_default(cell) for value in cell.variants()}
    if False in opinions:
        return False
    return True in opinions or len(cell.suffixes) <= 1


def all_cells() -> list[Cell]:
    """The default matrix, as a list (what ``emitcheck list`` prints)."""
    return list(default_cells())


def base_cells() -> list[Cell]:
    """The 20 base cells: no auto mode, no suffix, in the base grid (not a grid
    of their own, such as CPU-bound work's)."""
    return [c for c in default_cells()
            if variant("mode", c.mode).concrete and not c.grid]


def matches(cell: Cell, pattern: str) -> bool:
    """Does ``pattern`` (a part of a cell id, or a glob) select ``cell``?"""
    return pattern in cell.id or fnmatch.fnmatchcase(cell.id, pattern)


def select(pattern: str | None) -> list[Cell]:
    """Cells named by ``pattern``: a whole cell id selects exactly that cell (any
    valid one, in the default matrix or not); anything else selects the cells of
    the default matrix whose id contains it or matches it as a glob.

    Several patterns may be given separated by commas; a cell is selected when
    any of them selects it. None selects the whole default matrix. Each piece
    must select something: a piece with nothing in it, a piece that matches no
    cell (a misspelt id), and a piece written as a whole id of known values that
    is not a cell (a conflict: ``parse`` says which) are errors naming it.
    """
    if pattern is None:
        return all_cells()
    wanted = [p.strip() for p in pattern.split(",") if p.strip()]
    if not wanted:
        raise CellError(f"empty cell pattern {pattern!r}: give a cell id, a part of one "
                        "or a glob (see 'emitcheck list')")
    chosen: dict[Cell, None] = {}
    for part in wanted:
        named = repr(pattern) if len(wanted) == 1 else f"{part!r} (in {pattern!r})"
        try:
            chosen[parse_ours(part)] = None  # a whole cell id names exactly that cell
            continue
        except AppCellError:
            raise
        except CellError as exc:
            if _whole_id(part):
                raise CellError(f"pattern {named} is not a cell: {exc}") from None
            as_id = f" (as a cell id: {exc})" if _id_shaped(part) else ""
        found = [cell for cell in default_cells() if matches(cell, part)]
        if not found:
            raise CellError(f"pattern {named} matches no cell{as_id}; give a cell id, a part "
                            "of one or a glob; run 'emitcheck list' for every valid id")
        chosen.update(dict.fromkeys(found))
    return sorted(chosen, key=_listing_order)


def _id_shaped(piece: str) -> bool:
    """Written as a cell id: as many parts as an id has, no glob, no part empty."""
    parts = piece.split("-")
    return not any(c in piece for c in "*?[") and all(parts) and \
        len(REQUIRED) <= len(parts) <= len(FACTORS)


def _whole_id(piece: str) -> bool:
    """Written as a whole cell id: id-shaped, and every part a known value in its
    place (``gevent-patched-task-time_sle``, cut short, is a part of ids)."""
    parts = piece.split("-")
    return _id_shaped(piece) and all(
        part in values(factor.name) for part, factor in zip(parts, REQUIRED, strict=False)) \
        and all(part in suffix_factors() for part in parts[len(REQUIRED):])
