"""``emitcheck repro CELL``: one standalone script that reproduces a cell.

The script needs only the stack (flask-socketio, python-socketio[client], and
eventlet or gevent for those modes), not emitcheck. Run without arguments it
is the client: it starts itself again with arguments as the server, which is
server_child.py verbatim (monkey patching first), watches a quiet phase, prints
what it saw and exits 0 when the events were delivered, 1 when not.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from emitcheck import __version__
from emitcheck.matrix.cell import Cell
from emitcheck.matrix.expectations import expected
from emitcheck.model.results import Timing
from emitcheck.scripts import script
from emitcheck.system.environment import environment

CLIENT_TEMPLATE = script("repro_client")

HEADER = '''#!/usr/bin/env python3
"""Reproduces emitcheck cell {cell}: {why}

emitcheck measured: {verdict} ({url}).
Written by emitcheck {version} on {python} with {stack}.

Needs only: pip install {library}"python-socketio[client]"{extra}
Run: python {name}   (exits 0 when the events were delivered, 1 when not)
"""
import sys

CELL = "{cell}"
INTERVAL = {interval}
TRANSPORTS = {transports!r}  # the client's transports; None = polling, then WebSocket

if len(sys.argv) == 1:  # no arguments: the client side, which starts the server side
{client}
    sys.exit(run_client())

# ---------------------------------------------------------------------------
# The server side, started by the client side with arguments. This is the
# server emitcheck runs for every cell (emitcheck/scripts/server_child.py), verbatim.
# ---------------------------------------------------------------------------
'''


class NotReproducible(ValueError):
    """The cell needs more than one script (a Redis server, gunicorn, Node)."""


def check(cell: Cell) -> None:
    """Raise NotReproducible for cells a single Python script cannot be."""
    if not cell.reproducible:
        needs = ", ".join(v.value for v in cell.variants() if not v.reproducible)
        raise NotReproducible(
            f"{cell.id} needs more than one script ({needs}); repro writes cells "
            "served by socketio.run and probed by python-socketio, with no queue: "
            "use 'emitcheck run " + cell.id + "' for this one")


def render(cell: Cell, name: str = "repro.py") -> str:
    check(cell)
    exp = expected(cell.id)
    env = environment()
    stack = ", ".join(f"{k} {v}" for k, v in env["versions"].items()
                      if v and k in ("flask-socketio", "python-socketio", "eventlet", "gevent",
                                     "uvicorn", "aiohttp"))
    template = CLIENT_TEMPLATE.read_text().splitlines(keepends=True)
    while template and template[0].startswith("#"):  # the note for emitcheck's readers
        template.pop(0)
    client = textwrap.indent("".join(template).lstrip("\n"), "    ")
    header = HEADER.format(
        cell=cell.id, why=exp.why, verdict=exp.verdict, url=exp.url, version=__version__,
        python=f"Python {env['versions']['python']}", stack=stack, name=name,
        extra="".join(f" {v.package}" for v in cell.variants() if v.package),
        # An asyncio cell's server is python-socketio's AsyncServer: no Flask.
        library="" if cell.value_of("mode").asyncio else "flask-socketio ",
        interval=Timing().interval, transports=cell.value_of("transport").transports,
        client=client)
    return header + script(cell.value_of("mode").script).read_text()


def write(cell: Cell, path: Path) -> Path:
    """Write the script, creating the folder it goes in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(cell, path.name))
    return path
