"""``emitcheck repro CELL`` writes a script that needs only the stack: run by a
plain Python, it must reach what ``emitcheck run`` reaches for that cell (the
script is the oracle a user can run without emitcheck)."""

import os
import subprocess
import sys

import pytest

from emitcheck.running import runner

from .helpers import emitcheck, runnable

AGREEMENT = ["threading-unpatched-thread-time_sleep",       # threading has no failing cell
             "eventlet-patched-thread-time_sleep", "eventlet-unpatched-task-time_sleep",
             "gevent-patched-thread-time_sleep", "gevent-unpatched-thread-time_sleep",
             "gevent-patched-task-socketio_sleep-polling",  # the transport reaches the script
             "eventlet-unpatched-thread-time_sleep-websocket",
             # python-socketio's AsyncServer: the script is the asyncio one
             "asgi-unpatched-thread_import_loop-time_sleep",
             "aiohttp-unpatched-task-socketio_sleep",
             "eventlet-unpatched-thread-time_sleep-python_socketio"]


@pytest.mark.parametrize("cell_id", AGREEMENT)
def test_repro_script_agrees_with_emitcheck_run(tmp_path, cell_id):
    cell = runnable(cell_id)
    script = tmp_path / "repro.py"
    proc = emitcheck("repro", cell_id, "-o", str(script))
    assert proc.returncode == 0 and script.exists(), proc.stderr
    text = script.read_text()
    assert "import emitcheck" not in text and "from emitcheck" not in text
    assert f'CELL = "{cell_id}"' in text
    transports = {"default": "None", "polling": "['polling']", "websocket": "['websocket']"}
    assert f"TRANSPORTS = {transports[cell.transport]}" in text
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # The script and emitcheck's run of the cell side by side, each with its
    # own server on a free port.
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                          env=dict(os.environ, TMPDIR=str(scratch))) as repro:
        try:
            result = runner.run_cell(cell, workdir=tmp_path)
            out, err = repro.communicate(timeout=60)
        finally:
            repro.kill()  # only if it is still running: the test failed already
    assert list(scratch.iterdir()) == []  # the script removed its temporary folder
    delivered = result.verdict == "delivered"
    assert repro.returncode == (0 if delivered else 1), out + err
    assert (f"{cell_id}: events DELIVERED" if delivered
            else f"{cell_id}: events NOT delivered") in out
