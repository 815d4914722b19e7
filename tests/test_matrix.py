"""The base matrix: one test per cell, each a real server and a real client.

The natural assert: it passes where events are delivered, is an xfail where the
cell fails as measured (the verdict in emitcheck.expectations), and fails,
naming both, where the verdict is not the measured one (see docs/pytest.md);
the grid is printed at the end.
"""

import sys


def test_events_reach_the_client(emitcheck_result):
    assert emitcheck_result.verdict == "delivered", emitcheck_result.evidence


def test_this_process_never_imported_eventlet_or_gevent():
    """Monkey patching is process-wide: it must only happen in server children.
    (Runs after the cells above, in collection order.)"""
    assert "eventlet" not in sys.modules
    assert "gevent" not in sys.modules
