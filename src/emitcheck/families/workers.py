"""``-two_workers``: ``uvicorn.run("module:app", workers=2)``, two worker
processes on one port, no message queue, no sticky sessions (python-socketio
437, 1263).

uvicorn's master binds the port and hands the socket to both workers; the
kernel gives each new connection to whichever worker accepts it first. The
work runs in one worker only (scripts/async_server_child.py: the first worker
to claim it), as work started by a request runs in the worker that got it; the
other serves only. Each worker logs its clients' connects with its role, so
the evidence says where the client landed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emitcheck.families.cluster import Cluster

DOC = "deployments.md#several-workers-on-one-port"


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
        return None

    def expect(self, cell, expected, resolved=None):
        from emitcheck.model.expectation import Expectation
        return Expectation("lost", "proto", DOC)

    def after_window(self, run, obs):
        if run.server is None:
            return
        obs.facts["landed on"] = _landed(run.server.files.directory)


def _landed(directory: Path) -> str:
    """On which worker the client's connect landed, from the workers' connect log."""
    from emitcheck.scripts.async_server_child import WORKER_CONNECTS

    log = directory / WORKER_CONNECTS
    roles = [line.split()[2] for line in (log.read_text(errors="replace").splitlines()
                                          if log.exists() else []) if len(line.split()) == 3]
    if not roles:
        return "neither worker logged a connect"
    where = {"work": "the worker with the work", "serve-only": "the worker without the work"}
    return "; then ".join(f"{where.get(role, role)}" for role in roles)


VARIANTS = [TwoWorkers("two_workers", "uvicorn --workers 2: two worker processes on one "
                       "port, the kernel handing each connection to either; no message "
                       "queue, no sticky sessions", doc=DOC, reproducible=False,
                       grid="asyncio: ASGI and aiohttp")]
