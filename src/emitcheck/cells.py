"""Cells and their ids: one value per factor, the values declared in ``families/``.

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
declared set: every valid cell with at most one suffix (one grid per family)
and the composed families in ``COMPOSED``.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from typing import TYPE_CHECKING, Literal, overload

from .families import FACTORS, Variant, variant, variants

if TYPE_CHECKING:
    from .families.base import ClientVariant, ServerVariant, TransportVariant

FACTOR_NAMES = tuple(f.name for f in FACTORS)
_INDEX = {name: i for i, name in enumerate(FACTOR_NAMES)}
_REQUIRED = tuple(f for f in FACTORS if not f.is_suffix)
_SUFFIXES = tuple(f for f in FACTORS if f.is_suffix)
_SHAPE = "-".join("{" + f.name + "}" for f in _REQUIRED) + "".join(
    "[-" + f.name + "]" for f in _SUFFIXES)


@cache
def values(factor: str) -> tuple[str, ...]:
    return tuple(v.value for v in variants(factor))


#: suffix value -> its factor (suffix values are unique across suffix factors).
_SUFFIX_FACTOR = {v: f.name for f in _SUFFIXES for v in values(f.name) if v != f.default}
if len(_SUFFIX_FACTOR) != sum(len(values(f.name)) - 1 for f in _SUFFIXES):
    raise RuntimeError("a suffix value is declared by two suffix factors")

#: Composed families in the default matrix, beyond one suffix at most: real
#: deployments that need two suffixes, each measured (docs/matrix.md): a
#: WebSocket-only client through gunicorn, Redis behind gunicorn, and the Node
#: client over long-polling.
COMPOSED: tuple[tuple[str, ...], ...] = (
    ("websocket", "gunicorn"),
    ("redis", "gunicorn"),
    ("polling", "node"),
)


class CellError(ValueError):
    """Bad input naming a cell or a factor value; the message lists what is valid."""


class AppCellError(CellError):
    """A valid cell id of a user's app given where our matrix's cells are wanted."""


class Cell:
    """One combination of factor values; ``cell.mode``, ``cell.transport``, ... read
    them. Immutable and hashable; ``str(cell)`` is its id."""

    __slots__ = ("_values",)
    _values: tuple[str, ...]

    def __init__(self, *args: str, **named: str):
        if len(args) > len(FACTORS):
            raise CellError(f"a cell has {len(FACTORS)} factors, not {len(args)}")
        given = dict(zip(FACTOR_NAMES, args, strict=False))
        for name, named_value in named.items():
            if name not in _INDEX:
                raise CellError(f"unknown factor {name!r}; factors: {', '.join(FACTOR_NAMES)}")
            given[name] = named_value
        for factor in FACTORS:
            value = given.get(factor.name, factor.default)
            if value is None:
                raise CellError(f"no {factor.name} given; a cell id is {_SHAPE}")
            if value not in values(factor.name):
                raise CellError(f"unknown {factor.name} {value!r}; valid {factor.name} "
                                f"values: {', '.join(values(factor.name))}")
            given[factor.name] = value
        object.__setattr__(self, "_values", tuple(given[n] for n in FACTOR_NAMES))
        for declared in self.variants():
            reason = declared.conflict(self)
            if reason:
                raise CellError(reason)

    def __getattr__(self, name: str) -> str:
        try:
            return self._values[_INDEX[name]]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("cells are immutable: use cell.replace(...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other._values == self._values

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Cell({self.id!r})"

    def __str__(self) -> str:
        return self.id

    def __reduce__(self):
        return (Cell, self._values)

    def replace(self, **changes: str) -> Cell:
        """The same cell with some factors changed (a CellError if that is invalid)."""
        return Cell(**{**dict(zip(FACTOR_NAMES, self._values, strict=True)), **changes})

    def variants(self) -> list[Variant]:
        """The declaration of each of its values, in factor order."""
        return [variant(name, value) for name, value in zip(FACTOR_NAMES, self._values,
                                                            strict=True)]

    @overload
    def value_of(self, factor: Literal["transport"]) -> TransportVariant: ...
    @overload
    def value_of(self, factor: Literal["server"]) -> ServerVariant: ...
    @overload
    def value_of(self, factor: Literal["client"]) -> ClientVariant: ...
    @overload
    def value_of(self, factor: str) -> Variant: ...
    def value_of(self, factor: str) -> Variant:
        return variant(factor, self._values[_INDEX[factor]])

    @property
    def suffixes(self) -> list[str]:
        """Its suffix values that are not at their default, in factor order."""
        return [getattr(self, f.name) for f in _SUFFIXES if getattr(self, f.name) != f.default]

    @property
    def id(self) -> str:
        return "-".join([getattr(self, f.name) for f in _REQUIRED] + self.suffixes)

    @property
    def row(self) -> str:
        """Grid row label: how the server runs."""
        return f"{self.mode}-{self.patch}"

    @property
    def column(self) -> str:
        """Grid column label: how the work is started and waits; in a grid a
        value names (``Variant.grid``: one grid for a family whose cells have
        different suffixes), the suffixes too."""
        own = f"{self.spawn}-{self.wait}"
        if any(value.grid for value in self.variants()):
            return "-".join([own, *self.suffixes])
        return own

    @property
    def family(self) -> str:
        """The suffix part of the id ('' for base cells): one grid per family."""
        return "-".join(self.suffixes)

    @property
    def grid(self) -> str:
        """The title of the grid this cell is shown in ('' for the base grid)."""
        for value in self.variants():
            if value.grid:
                return value.grid
        return ", ".join(f"{_SUFFIX_FACTOR[v]}: {v}" for v in self.suffixes)

    @property
    def base(self) -> Cell:
        """The same cell with every suffix factor at its default (a CellError for
        cells that need a suffix, such as spawn process without a queue)."""
        return Cell(*(getattr(self, f.name) for f in _REQUIRED))

    @property
    def isolated(self) -> bool:
        """Does the work keep a core busy (so the runner runs it alone)?"""
        return any(v.isolated for v in self.variants())

    @property
    def forkable(self) -> bool:
        """May its server be forked from a zygote (every value allows it)?"""
        return all(v.forkable for v in self.variants())

    @property
    def in_matrix(self) -> bool:
        """Is it a cell of our own matrix (not of a user's app)?"""
        return all(v.matrix for v in self.variants())

    @property
    def reproducible(self) -> bool:
        """Can ``emitcheck repro`` write it as one script?"""
        return all(v.reproducible for v in self.variants())

    def unavailable(self) -> str | None:
        """Why it cannot run here (a missing stack, binary or package), or None."""
        for value in self.variants():
            reason = value.unavailable(self)
            if reason:
                return reason
        return None


def parse(cell_id: str) -> Cell:
    """Turn an id such as ``gevent-patched-task-time_sleep-polling`` into a Cell."""
    parts = cell_id.strip().split("-")
    if len(parts) < len(_REQUIRED) or len(parts) > len(FACTORS):
        raise CellError(
            f"cell id {cell_id!r} has {len(parts)} part(s), expected {len(_REQUIRED)} "
            f"to {len(FACTORS)}: {_SHAPE}; run 'emitcheck list --all' for every valid id")
    named = dict(zip((f.name for f in _REQUIRED), parts, strict=False))
    for part in parts[len(_REQUIRED):]:
        factor = _SUFFIX_FACTOR.get(part)
        if factor is None:
            raise CellError(f"unknown suffix {part!r} in {cell_id!r}; valid suffixes: "
                            f"{', '.join(_SUFFIX_FACTOR)} (the default is left out of the id)")
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
    not the cells of a user's app (values with ``matrix=False``).

    The full product of the values is hundreds of thousands of combinations,
    most of them conflicts; the search chooses one factor at a time, in id
    order, and drops a branch as soon as a chosen value's ``conflict`` can
    already tell (``_Partial``)."""
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
    return tuple(sorted(found, key=_listing_order))


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
        index = _INDEX.get(name)
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
    """Base cells first, then the CPU-bound ones, then each family: one suffix
    before two, suffix values in declaration order; within, factor and value order."""
    suffix_rank = [list(_SUFFIX_FACTOR).index(v) for v in cell.suffixes]
    return (len(suffix_rank), suffix_rank, cell.isolated,
            *(values(f.name).index(getattr(cell, f.name)) for f in _REQUIRED))


@cache
def default_cells() -> tuple[Cell, ...]:
    """The matrix that runs by default: one suffix at most, plus the families of
    ``COMPOSED``, except where a value says otherwise (its ``in_default``)."""
    return tuple(c for c in possible_cells() if _in_default(c))


def _in_default(cell: Cell) -> bool:
    opinions = {value.in_default(cell) for value in cell.variants()}
    if False in opinions:
        return False
    return True in opinions or len(cell.suffixes) <= 1 or tuple(cell.suffixes) in COMPOSED


def all_cells() -> list[Cell]:
    """The default matrix, as a list (what ``emitcheck list`` prints)."""
    return list(default_cells())


def base_cells() -> list[Cell]:
    """The 20 base cells: no auto mode, no CPU-bound wait, no suffix."""
    return [c for c in default_cells()
            if c.mode != "auto" and not c.isolated and not c.suffixes]


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
        len(_REQUIRED) <= len(parts) <= len(FACTORS)


def _whole_id(piece: str) -> bool:
    """Written as a whole cell id: id-shaped, and every part a known value in its
    place (``gevent-patched-task-time_sle``, cut short, is a part of ids)."""
    parts = piece.split("-")
    return _id_shaped(piece) and all(
        part in values(factor.name) for part, factor in zip(parts, _REQUIRED, strict=False)) \
        and all(part in _SUFFIX_FACTOR for part in parts[len(_REQUIRED):])
