"""What goes under a grid: a legend, a summary, one line per reason a cell
was skipped (or emitcheck failed in it), and what to change for every failing
row, each with its docs link.

Pure data from a laid-out grid (``Grid``), so the terminal, the
Markdown block and the HTML page can say the same things their own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emitcheck.matrix.cells import parse
from emitcheck.matrix.remedies import change_of, for_cell
from emitcheck.model.results import CellResult

#: A place in a grid: (row, column).
Key = tuple[str, str]


@dataclass(frozen=True)
class Twin:
    """The same cell with a ``second_opinion`` value at its factor's default
    (the Python client for a Node cell), and the verdict it reached."""
    name: str                   # "python client": the default value and its factor
    verdict: str | None         # None: the twin is not among the results (or has none)

    def differs(self, result: CellResult) -> bool:
        """Did the twin see something else than ``result``?"""
        return None not in (self.verdict, result.verdict) and self.verdict != result.verdict


@dataclass
class Grid:
    """One family of cells laid out: rows mode-patch, columns spawn-wait."""
    title: str             # "" for the base cells (Cell.grid)
    rows: list[str]
    columns: list[str]
    cells: dict[Key, CellResult]
    twins: dict[Key, Twin] = field(default_factory=dict)   # cells that have a twin


@dataclass(frozen=True)
class Fix:
    """What to change for failing cells: one line. Its cells are those of
    ``columns`` in each of ``rows`` (every row of the grid: ``rows`` is ())."""
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    ways: tuple[str, ...]       # alternatives; () when our matrix knows none
    docs: tuple[str, ...]       # the docs links of those cells


@dataclass(frozen=True)
class Notes:
    legend: str
    summary: str
    reasons: tuple[str, ...]    # reference n is reasons[n - 1]: "skipped: ..." or
    marks: dict[Key, int]       # "emitcheck failed: ..."; (row, column) -> its n
    fixes: tuple[Fix, ...]
    skipped_all: bool = False   # no cell ran: the reasons say it all, no grid needed


def unexpected(result: CellResult) -> bool:
    """A verdict other than the one we measured for this cell of our matrix."""
    return bool(result.verdict) and result.verdict != result.expected \
        and parse(result.cell).in_matrix


def disagrees(result: CellResult, twin: Twin | None) -> bool:
    """Did the cell's twin see something else (False: it has none)?"""
    return twin is not None and twin.differs(result)


def failing(result: CellResult) -> bool:
    """It ran and did not deliver."""
    return result.ran and result.verdict != "delivered"


def remedies_of(result: CellResult) -> list[str]:
    """The result's remedies; for a cell of ours from a file written before
    results carried them, worked out from the matrix we measured."""
    if result.remedies or not failing(result):
        return list(result.remedies)
    cell = parse(result.cell)
    return for_cell(cell, result.async_mode) if cell.in_matrix else []


def count(cells: int) -> str:
    return f"{cells} cell{'' if cells == 1 else 's'}"


def _legend(cells: list[CellResult], twins: list[Twin | None]) -> str:
    said = ["a cell: its verdict, then the median latency (ms) of the events that arrived"]
    if any(unexpected(r) for r in cells):
        said.append("! (reversed): not the verdict we measured before, which follows as "
                    "(expected ...)")
    differing = [t for r, t in zip(cells, twins, strict=True) if t is not None and t.differs(r)]
    if differing:
        twin = differing[0].name
        said.append(f"({twin}: ...): the {twin}'s verdict for the same cell, where it differs")
    return "; ".join(said)


def summary(cells: list[CellResult]) -> str:
    """One line: how many cells delivered, failed as measured (or, for an app, did
    not deliver), were unexpected, skipped, or where emitcheck itself failed."""
    ran = [r for r in cells if r.ran]
    delivered = sum(r.verdict == "delivered" and not unexpected(r) for r in ran)
    odd = sum(unexpected(r) for r in ran)
    ours = any(parse(r.cell).in_matrix for r in cells)
    parts = [f"{count(len(cells))}: {delivered} delivered",
             f"{len(ran) - delivered - odd} {'failing as measured' if ours else 'not delivered'}"]
    if ours:
        parts.append(f"{odd} unexpected")
    if skipped := sum(bool(r.skipped) for r in cells):
        parts.append(f"{skipped} skipped")
    if broken := sum(bool(r.failure) for r in cells):
        parts.append(f"{broken} emitcheck failed")
    return ", ".join(parts)


def _reason(result: CellResult) -> str | None:
    if result.failure:
        return f"emitcheck failed: {result.failure}"
    if result.skipped:
        return f"skipped: {result.skipped}"
    return None


def _row_fixes(row: str, members: list[tuple[str, CellResult]]) -> list[Fix]:
    """A change every failing cell of the row shares is said once for the row;
    otherwise the cells with the same remedies share a line."""
    ways = {column: remedies_of(result) for column, result in members}
    changes = {column: [change_of(w) for w in said] for column, said in ways.items()}
    first = members[0][0]
    common = [c for c in changes[first] if all(c in other for other in changes.values())]
    if common and len(members) > 1:
        groups = {tuple(common): [column for column, _ in members]}
    else:
        groups = {}
        for column, _ in members:
            groups.setdefault(tuple(changes[column]), []).append(column)
    docs = {column: result.doc for column, result in members}
    found = []
    for shared, columns in groups.items():
        lines = [w for w in ways[columns[0]] if change_of(w) in shared]
        found.append(Fix((row,), tuple(columns), tuple(lines),
                         tuple(dict.fromkeys(d for c in columns if (d := docs[c])))))
    return found


def _fixes(part: Grid, placed: list[tuple[Key, CellResult]]) -> tuple[Fix, ...]:
    """The fixes of every row; rows whose cells of the same columns need the
    same changes (a column that fails in every row, say) share one line."""
    merged: dict[tuple, Fix] = {}
    for row in part.rows:
        members = [(column, result) for (r, column), result in placed
                   if r == row and failing(result)]
        for fix in _row_fixes(row, members) if members else []:
            key = (fix.columns, tuple(map(change_of, fix.ways)), fix.docs)
            known = merged.get(key)
            merged[key] = fix if known is None else \
                Fix(known.rows + fix.rows, known.columns, known.ways, known.docs)
    every = tuple(part.rows)
    return tuple(Fix(() if len(f.rows) > 1 and f.rows == every else f.rows, f.columns,
                     f.ways, f.docs) for f in merged.values())


def notes(part: Grid) -> Notes:
    """Everything said under one grid."""
    placed = [((row, column), part.cells[(row, column)]) for row in part.rows
              for column in part.columns if (row, column) in part.cells]
    cells = [result for _, result in placed]
    reasons: dict[str, int] = {}
    marks = {}
    for key, result in placed:
        reason = _reason(result)
        if reason is not None:
            marks[key] = reasons.setdefault(reason, len(reasons) + 1)
    twins = [part.twins.get(key) for key, _ in placed]
    return Notes(_legend(cells, twins), summary(cells), tuple(reasons), marks,
                 _fixes(part, placed), skipped_all=all(r.skipped for r in cells))
