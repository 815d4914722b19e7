"""Python tracebacks in a server's stderr, read as tracebacks, not as text.

A server's log interleaves tracebacks with log records (Werkzeug's access
lines, engineio's "message handler error", gunicorn's "[ERROR] ..."), so a
traceback is only what follows a ``Traceback (most recent call last):`` line
at the start of a line: its ``File "...", line N, in F`` frames and the first
line after them that reads as an exception (``KeyError: 'ROOM'``, a dotted
``socketio.exceptions.ConnectionRefusedError: ...``, or a bare ``SystemExit``).
A line that is not a traceback never counts as one.

Standard library only: the classifier and the report use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
#: An exception line: a dotted class name or one with a capital letter, then ": message" or
#: nothing. Log records such as ``INFO:engineio.server:...`` have no space after
#: their colon; access lines start with an address or a bracket.
_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(?P<rest>: .*|:)?$")


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str


@dataclass(frozen=True)
class Traceback:
    """One traceback: its frames, outermost first, and its exception line."""
    exception: str
    frames: tuple[Frame, ...]

    def innermost(self, keep) -> Frame | None:
        """The innermost frame whose file ``keep(file)`` accepts (the app's own)."""
        return next((f for f in reversed(self.frames) if keep(f.file)), None)


def _is_exception(line: str) -> bool:
    found = _EXCEPTION.match(line)
    name = found.group("name") if found else ""
    return "." in name or any(c.isupper() for c in name)  # greenlet.error; KeyError


def parse(text: str) -> list[Traceback]:
    """Every complete traceback in ``text``, in order."""
    found: list[Traceback] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].rstrip() != HEADER:
            index += 1
            continue
        frames: list[Frame] = []
        index += 1
        while index < len(lines):
            line = lines[index].rstrip()
            frame = _FRAME.match(line)
            if frame:
                frames.append(Frame(frame.group("file"), int(frame.group("line")),
                                    frame.group("func") or "?"))
            elif line.rstrip() == HEADER:
                break  # a new traceback before this one's exception line: incomplete
            elif line and not line[0].isspace() and _is_exception(line):
                found.append(Traceback(line.strip()[:200], tuple(frames)))
                index += 1
                break
            index += 1
    return found


def last_exception(text: str) -> str | None:
    """The exception line of the last complete traceback in ``text``."""
    tracebacks = parse(text)
    return tracebacks[-1].exception if tracebacks else None
