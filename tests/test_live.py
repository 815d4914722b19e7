"""The grid drawn while the matrix runs (outputs/live.py), on recorded results;
and that nothing of it reaches a pipe."""

import io
from collections import Counter

from click.testing import CliRunner
from rich.console import Console

from emitcheck.cli.main import main
from emitcheck.matrix import cells
from emitcheck.outputs import grid
from emitcheck.outputs.live import LiveGrid, progress

from .helpers import SAMPLE


def test_the_progress_line_counts_and_estimates_from_the_cells_done():
    counts = Counter({"delivered": 3, "failing as measured": 1, "unexpected": 0})
    line = progress(4, 10, counts, 20.0)
    assert line.startswith("4/10 cells · 3 delivered, 1 failing as measured · 20 s")
    assert line.endswith("about 30 s left")
    assert "left" not in progress(0, 10, Counter(), 0.5)
    assert "left" not in progress(10, 10, counts, 50.0)


def test_each_result_fills_in_the_grid_of_its_family_as_it_comes():
    results = grid.load([SAMPLE])
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, height=200)
    with LiveGrid(len(results) + 1, 160, console=console) as shown:
        for result in results:
            shown.add(result)
        console.print(shown.view(cells.parse(results[-1].cell).grid))
    drawn = screen.getvalue()
    assert "emitcheck matrix (running)" in drawn
    assert f"{len(results)}/{len(results) + 1} cells" in drawn
    assert results[-1].cell.split("-")[0] in drawn


def test_a_piped_matrix_draws_nothing_live(monkeypatch):
    """click's runner is not a terminal: the output is the final grid alone."""
    from emitcheck.running import runner

    results = grid.load([SAMPLE])
    seen = {}

    def recorded(cells, jobs=None, on_result=None, **_):
        seen["on_result"] = on_result
        by_id = {r.cell: r for r in results}
        return [by_id[c.id] for c in cells]

    monkeypatch.setattr(runner, "run_many", recorded)
    output = CliRunner().invoke(main, ["matrix", "-k", ",".join(r.cell for r in results)]).output
    assert seen["on_result"] is None and "(running)" not in output
