"""Where emitcheck writes, checked before it runs, and text any terminal can take.

A run of the matrix takes minutes; a file it cannot write must be said before
the first cell starts, not after the last one ended (its results would be lost).
``cannot_write`` says why a path cannot be written without writing anything
(no empty file is left behind); the command line's options and the pytest
plugin's ask it at parse or configure time.

``tolerant_streams`` is the one place that makes standard output and standard
error write what the terminal's encoding cannot encode with a backslash escape
(``PYTHONIOENCODING=ascii`` and an event named ``é``) instead of raising once
every cell ran.

The standard library only: the pytest plugin imports it when an output option
is given, and stays light otherwise.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

#: How text the output's encoding cannot take is written.
REPLACEMENT = "backslashreplace"


def cannot_write(path: Path) -> str | None:
    """Why ``path`` cannot be written, in one line (None: it can). Its folder
    may be missing if it can be created (the writers create it): the nearest
    folder that exists must then be writable. Nothing is created."""
    if path.is_dir():
        return f"{path} is a folder; give a file name inside it"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} exists and is not writable"
    folder = path.absolute().parent
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        if folder.is_file():
            return f"{path}: {folder} is a file, not a folder"
        return f"{path}: {folder} is not a folder (a broken link?)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{path}: the folder {folder} is not writable"
    return None


def checked(ctx: object, param: object, value: Path | str | None) -> Path | str | None:
    """A click callback for an option naming a file to write (``-``, standard
    output, passes): a path that cannot be written is a usage error (exit 2)
    before the command runs."""
    if value is None or str(value) == "-":
        return value
    problem = cannot_write(Path(value))
    if problem is not None:
        import click  # here, not above: the pytest plugin imports this module

        raise click.BadParameter(problem)
    return value


def tolerant_streams() -> None:
    """Make standard output and standard error write what their encoding cannot
    encode as backslash escapes (``\\xe9``) rather than raise. Streams that are
    not text files of ``io`` (a test's capture) are left as they are."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            try:
                stream.reconfigure(errors=REPLACEMENT)
            except (ValueError, OSError):  # closed, or not reconfigurable: keep it
                pass
