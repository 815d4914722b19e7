"""What depends on the installed stack: every cell, and the stack itself.

tox runs this file once per stack (threading alone, with eventlet, with
gevent), checking each against its committed baseline; every other test file
runs once, in the ``suite`` environment, where every stack is installed.

The natural assert: it passes where events are delivered, is an xfail where the
cell fails as measured (the verdict in emitcheck.matrix.expectations), and fails,
naming both, where the verdict is not the measured one (see docs/pytest.md);
the grid is printed at the end.
"""

import json
import os
import sys

import pytest

from emitcheck.matrix import cells
from emitcheck.matrix.cell import variant
from emitcheck.running import runner

from .helpers import emitcheck


def test_events_reach_the_client(emitcheck_result):
    assert emitcheck_result.verdict == "delivered", emitcheck_result.evidence


def test_a_missing_stack_is_a_skip_with_the_reason():
    missing = [c for c in cells.all_cells() if not c.suffixes and c.unavailable()]
    if not missing:
        pytest.skip("eventlet and gevent are both installed in this environment")
    result = runner.run_cell(missing[0])
    assert result.verdict is None and result.matches
    assert result.skipped == f"{missing[0].mode} not installed"
    assert result.to_json()["skipped"] == result.skipped


def test_auto_mode_resolves_as_predicted_from_what_is_installed(tmp_path):
    predicted = variant("mode", "auto").resolve()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = emitcheck("run", "auto-unpatched-task-socketio_sleep", "--json", env=env)
    data = json.loads(proc.stdout)
    assert data["async_mode"] == predicted
    assert f"resolves to {predicted}" in data["why"]
    assert proc.returncode == 0 and data["verdict"] == "delivered"


def test_this_process_never_imported_eventlet_or_gevent():
    """Monkey patching is process-wide: it must only happen in server children.
    (Runs after the cells above, in collection order.)"""
    assert "eventlet" not in sys.modules
    assert "gevent" not in sys.modules
