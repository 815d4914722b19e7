"""``-gunicorn``: gunicorn serves the cell's app (work.py), one worker, with the worker
class Flask-SocketIO's deployment docs give for the mode (the mode's
``gunicorn_worker``): gevent mode the ``gevent`` worker, which monkey patches by
itself before it loads the app; threading mode ``gthread`` with 4 threads;
eventlet mode the ``eventlet`` worker, which gunicorn 26 removed.

Nothing here imports gunicorn's workers (the gevent one imports gevent): the
list of worker classes is a plain dict in ``gunicorn.workers``.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass

from emitcheck.matrix.cell import Expect, ServerVariant

DOC = "pitfall.md#gunicorn"


@functools.cache
def _workers() -> dict | None:
    if importlib.util.find_spec("gunicorn") is None:
        return None
    from gunicorn.workers import SUPPORTED_WORKERS  # a dict; imports no worker

    return dict(SUPPORTED_WORKERS)


@functools.cache
def _has_control_socket_option() -> bool:
    """gunicorn 25+ opens a control socket in ~/.gunicorn unless told not to; cells
    that run side by side would fight over it."""
    from gunicorn.config import KNOWN_SETTINGS  # plain settings; imports no worker

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


@dataclass(eq=False)
class Gunicorn(ServerVariant):
    def conflict(self, cell):
        from emitcheck.matrix.cell import variant

        if variant("mode", cell.mode).gunicorn_worker is None:
            return (f"{cell.mode} mode has no gunicorn worker class (under gunicorn the "
                    "worker class decides the mode): use threading-, eventlet- or "
                    "gevent-...-gunicorn")
        return None

    def unavailable(self, cell):
        from emitcheck.matrix.cell import variant

        workers = _workers()
        if workers is None:
            return "gunicorn not installed (pip install 'emitcheck[gunicorn]')"
        options = variant("mode", cell.mode).gunicorn_worker
        assert options is not None  # conflict() rules out the modes without one
        worker = options[1]  # the --worker-class value
        if worker not in workers:
            from importlib.metadata import version

            return (f"gunicorn {version('gunicorn')} has no {worker} "
                    f"worker (it has: {', '.join(workers)})")
        if worker == "gevent" and importlib.util.find_spec("packaging") is None:
            return "gunicorn's gevent worker needs packaging: pip install 'gunicorn[gevent]'"
        return None

    def expect(self, cell, expected: Expect, resolved=None):
        """The gevent and eventlet workers monkey patch before they load the app,
        so a cell served by them is its patched twin (measured: every cell)."""
        from emitcheck.matrix.cell import variant
        from emitcheck.model.expectation import Expectation

        patched = "patched" if self.patches_first and variant("mode", cell.mode).patchable \
            else cell.patch
        twin = expected(cell.replace(server="run", patch=patched))  # never gunicorn again
        return Expectation(twin.verdict, "gunicorn's gevent and eventlet workers monkey "
                           "patch before they load the app, and gthread serves threading "
                           f"mode with OS threads: {twin.why}", DOC)

    def start(self, run, directory):
        from emitcheck.matrix.cell import variant
        from emitcheck.system.process import SERVER_BANNER, ManagedProcess

        options = variant("mode", run.cell.mode).gunicorn_worker
        assert options is not None  # conflict() rules out the modes without one

        def command(files, port):
            return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                    "--workers", "1", *options, "--graceful-timeout", "1",
                    "--log-level", "warning",
                    *(["--no-control-socket"] if _has_control_socket_option() else []),
                    run.work.gunicorn_app(run.cell.id, run.timing.interval, files,
                                          run.queue_url)]

        # gunicorn's master listens before its worker has loaded the app:
        # readiness also waits for what server_child.py prints once it is loaded.
        return ManagedProcess.serve(directory, run.cell.id, command, banner=SERVER_BANNER)


VARIANTS = [Gunicorn("gunicorn", "gunicorn with the worker class the mode needs (gevent: -k "
                     "gevent; threading: -k gthread --threads 4; eventlet: -k eventlet where "
                     "the installed gunicorn has it)", doc=DOC, forkable=False,
                     patches_first=True,
                     # a WebSocket-only client through gunicorn; Redis behind gunicorn
                     composed=(("websocket", "gunicorn"), ("redis", "gunicorn")),
                     reproducible=False,
                     remedy="serve the app with gunicorn and the worker class its mode needs "
                            "(threading: -k gthread --threads 4; gevent: -k gevent)")]
