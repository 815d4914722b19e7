"""The base matrix: one test per cell, each a real server and a real client.

Cells whose measured verdict is not ``delivered`` are strict xfails that only
accept that verdict (see emitcheck.plugin); the grid is printed at the end.
"""

import sys

from emitcheck.plugin import assert_delivered


def test_events_reach_the_client(emitcheck_result):
    assert_delivered(emitcheck_result)


def test_this_process_never_imported_eventlet_or_gevent():
    """Monkey patching is process-wide: it must only happen in server children.
    (Runs after the cells above, in collection order.)"""
    assert "eventlet" not in sys.modules
    assert "gevent" not in sys.modules
