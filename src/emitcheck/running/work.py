"""What a cell's server runs, and what its window watches for.

``OurWork`` is emitcheck's own: server_child.py, whose background work emits a
numbered ``tick`` every interval and logs it. The user's app is the other
kind (``families/app.py``: ``UserApp``). The server values (families/servers.py,
gunicorn.py) start whatever the cell's work says; the probe watches the
target, triggers and cadence it gives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from emitcheck.matrix.cell import variant
from emitcheck.model.results import Emit, Observation, Target
from emitcheck.scripts import script
from emitcheck.system.process import (
    CHILD_SCRIPT,
    ManagedProcess,
    ServerFiles,
    child_env,
    die_with_parent_prefix,
)


def server_script(cell_id: str) -> Path:
    """The script that serves our work in the cell's mode (``ModeVariant.script``)."""
    return script(variant("mode", cell_id.split("-")[0]).script)


class OurWork:
    """server_child.py: the cell's own spawn and wait, emitting ``tick``."""

    #: Every Socket.IO server answers this GET (an Engine.IO handshake); ours
    #: also has /health, which is cheaper and opens no session.
    health_path = "/health"

    def server_argv(self, cell_id: str, interval: float, files: ServerFiles, port: int,
                    queue_url: str | None) -> list[str]:
        """The command (after the interpreter) that serves the cell as its mode's
        script does (server_child.py: socketio.run)."""
        return [str(server_script(cell_id)), cell_id, str(files.emits), str(interval), str(port),
                *([queue_url] if queue_url else [])]

    def gunicorn_app(self, cell_id: str, interval: float, files: ServerFiles,
                     queue_url: str | None) -> str:
        """What gunicorn loads: the mode's script's ``gunicorn_app(...)`` (a WSGI
        app from server_child.py, an ASGI app from async_server_child.py)."""
        args = ", ".join(repr(a) for a in (cell_id, str(files.emits), interval, queue_url))
        return f"emitcheck.scripts.{server_script(cell_id).stem}:gunicorn_app({args})"

    def target(self, url: str, transport: str) -> Target:
        return Target(url, transport=transport, health_path=self.health_path)

    def triggers(self) -> Sequence[Callable]:
        return ()

    def cadence(self, files: ServerFiles) -> Callable[[], list[float]] | None:
        """None: the cadence is ours (Timing.interval), the window fixed."""
        return None

    def emits(self, files: ServerFiles) -> list[Emit]:
        """What the work logged: ``seq time`` per emit."""
        found = []
        for line in Path(files.emits).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                found.append(Emit(int(parts[0]), float(parts[1])))
        return found

    def window_opens(self, files: ServerFiles) -> None:
        """A window on this server begins (a served app may be watched several times)."""

    def in_flight(self, files: ServerFiles) -> Callable[[Observation], bool] | None:
        """None: our ticks are small, a window never waits for them."""
        return None

    def facts(self, files: ServerFiles, stderr: str) -> dict[str, str]:
        """What the server's logs show beyond the events, for the evidence
        (``Observation.facts``): nothing, for our own work."""
        return {}

    def settle(self, obs: Observation) -> None:
        """Our ticks carry their seq and time: arrivals need no matching."""


def serve_ours(cell_id: str, interval: float, directory: Path, queue_url: str | None = None,
               env: dict[str, str] | None = None, python: str | None = None) -> ManagedProcess:
    """The server of one of our cells: its mode's script, fresh (``env``: added
    to its environment; ``python``: its interpreter, default ours)."""
    return ManagedProcess.serve(directory, cell_id, lambda files, port: [
        python or sys.executable,
        *OurWork().server_argv(cell_id, interval, files, port, queue_url)], env=env)


def emitter(cell_id: str, interval: float, directory: Path, emits: Path,
            queue_url: str, python: str | None = None) -> ManagedProcess:
    """The work of a ``process`` cell, in a process of its own that emits
    through the queue. It logs its emits to ``emits`` (the server's file)
    and listens on nothing (its ``port`` is 0). ``python``: its interpreter
    (the run's ``others_python``; default: ours)."""
    argv = [*die_with_parent_prefix(), python or sys.executable, str(CHILD_SCRIPT), cell_id,
            str(emits), str(interval), "emitter", queue_url]
    return ManagedProcess(argv, ServerFiles(directory), 0, child_env())
