"""The scripts emitcheck runs by path (``python .../server_child.py``), each in
a process of its own: a server of ours, a zygote, the user's app, a Celery
worker, a repro's client. They import nothing of emitcheck's library (a
patched server must patch before anything else), so the library hands them
what they need on their command line; constants they share live in them and
are read from here.

Their names end in ``_child`` or name their role, so that this folder, first
on the path of a script run from it, shadows no module of a user's app.
"""

from pathlib import Path

FOLDER = Path(__file__).parent


def script(name: str) -> Path:
    """The path of the script ``name`` (``"server_child"``)."""
    return FOLDER / f"{name}.py"
