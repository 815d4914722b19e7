"""What the pytest plugin keeps for a run and hands its session: on the
config's stash and on each report. Standard library and pytest only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: The user property that carries a result (its JSON form, its observation None).
PROPERTY = "emitcheck"
#: The cell result an ``emitcheck_result`` fixture gave its test (a CellResult).
RESULT = pytest.StashKey[Any]()
#: workerinput key: the directory where xdist workers share cells.
SHARED = "emitcheck_shared"
#: The file the xdist controller leaves in that directory once its session is
#: interrupted (no cell id starts with a dot).
RUN_INTERRUPTED = ".interrupted"


@dataclass
class State:
    """The plugin's state for one pytest run (config.stash[STATE])."""
    #: The cells chosen by --emitcheck-cells or the ini option (None: the default matrix).
    chosen: list | None = None
    #: Where that choice comes from, for messages ("--emitcheck-cells", ...).
    chosen_by: str | None = None
    #: emitcheck.plugins.session.Session once something needs it, else None.
    session: Any = None
    #: The JSON form of every result seen on a report, by cell id.
    results: dict[str, dict] = field(default_factory=dict)
    baseline: dict | None = None
    comparison: Any = None
    #: Controller only: the directory handed to xdist workers.
    shared: Path | None = None


STATE = pytest.StashKey[State]()
