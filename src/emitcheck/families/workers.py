"""``-two_workers``: ``uvicorn.run("module:app", workers=2)``, two worker processes
on one port, no sticky sessions (python-socketio 437, 1263).

uvicorn's master binds the port and hands the socket to both workers; the
kernel gives each new connection to whichever worker accepts it first, so
where a client lands is a race, not a setting. Work that one request starts
runs in the worker that got that request; here it runs, always, in the worker
the client did not land on (scripts/async_server_child.py: the first worker
with a client claims it, the other starts the work), the case that fails in
production. Its emits reach that worker's clients only, unless a message
queue carries them to the other worker.

Its cells use a WebSocket-only client, whose whole session is one connection.
On long-polling, each request may go to either worker: one that does not
know the session answers 400 ("Invalid session"), and whether that happens
is the race again (measured: once in seven runs the upgrade went to the
other worker). docs/pitfall.md says what such clients see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emitcheck.families.cluster import Cluster

DOC = "pitfall.md#uvicorn-workers-and-several-servers"


@dataclass(eq=False)
class TwoWorkers(Cluster):
    #: The modes whose server script runs two workers (async_server_child.py).
    modes: tuple[str, ...] = ("asgi",)

    def conflict(self, cell):
        if cell.mode not in self.modes:
            return (f"{self.value} is uvicorn --workers 2: use "
                    f"{' or '.join(self.modes)}-unpatched-...-{self.value}")
        if cell.server != "run":
            return f"{self.value} is uvicorn.run(..., workers=2): leave out -{cell.server}"
        if cell.transport != "websocket":
            return (f"{self.value} cells are measured with a WebSocket-only client (on "
                    "long-polling, which worker answers each request is a race): use "
                    f"...-websocket[-redis]-{self.value}")
        return None

    def in_default(self, cell):
        return True  # its measured cells (conflict() allows no other)

    def expect(self, cell, expected, resolved=None):
        from emitcheck.model.expectation import Expectation

        if cell.queue == "none":
            return Expectation("lost", "the work runs in the other worker: its emits go to "
                               "that worker's clients only, and the client is not one of them",
                               DOC)
        twin = expected(cell.replace(cluster="single"))
        return Expectation(twin.verdict, "the work runs in the other worker, and the message "
                           f"queue carries its emits to the client's: {twin.why}", DOC)

    def after_window(self, run, obs):
        if run.server is None:
            return
        obs.facts["landed on"] = _landed(run.server.files.directory)


def _landed(directory: Path) -> str:
    """Which worker the client landed on, from the workers' connect log."""
    from emitcheck.scripts.async_server_child import WORKER_CONNECTS

    log = directory / WORKER_CONNECTS
    pids = [line.split()[2] for line in (log.read_text(errors="replace").splitlines()
                                         if log.exists() else []) if len(line.split()) == 3]
    if not pids:
        return "neither worker logged a connect"
    return "; then ".join(f"worker {pid}, not the one with the work" for pid in pids)


VARIANTS = [TwoWorkers("two_workers", "uvicorn --workers 2: two worker processes on one "
                       "port, the kernel handing each connection to either; the work in the "
                       "worker the client is not on; no sticky sessions", doc=DOC,
                       reproducible=False, grid="asyncio: ASGI and aiohttp")]
