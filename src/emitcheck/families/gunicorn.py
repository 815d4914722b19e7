"""``-gunicorn``: gunicorn serves the cell's app (work.py), one worker, with the worker
class Flask-SocketIO's deployment docs give for the mode (the mode's
``gunicorn_worker``): gevent mode the ``gevent`` worker, which monkey patches by
itself before it loads the app; threading mode ``gthread`` with 4 threads;
eventlet mode the ``eventlet`` worker, which gunicorn 26 removed. ``asgi`` mode
(python-socketio's AsyncServer in ``socketio.ASGIApp``) is served by uvicorn's
gunicorn worker, ``uvicorn_worker.UvicornWorker`` from the uvicorn-worker
package, or ``uvicorn.workers.UvicornWorker`` where only uvicorn's own
(deprecated since uvicorn 0.30) is installed: python-socketio 1263's setup, with
one worker.

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
DOC_ASYNCIO = "pitfall.md#asyncio-servers-under-gunicorn"


@functools.cache
def _workers() -> dict | None:
    if importlib.util.find_spec("gunicorn") is None:
        return None
    from gunicorn.workers import SUPPORTED_WORKERS  # a dict; imports no worker

    return dict(SUPPORTED_WORKERS)


#: A worker class given by its import path -> the older place of the same class.
_MOVED = {"uvicorn_worker.UvicornWorker": "uvicorn.workers.UvicornWorker"}
#: The package that brings a worker class given by its import path.
_PACKAGE = {"uvicorn_worker.UvicornWorker": "uvicorn-worker"}


def _module_installed(path: str) -> bool:
    """Is the module that ``path`` (``package.module.Class``) names installed?
    (``find_spec`` of a submodule imports its parents: the top one first.)"""
    module = path.rpartition(".")[0]
    return importlib.util.find_spec(module.partition(".")[0]) is not None \
        and importlib.util.find_spec(module) is not None


def worker_class(name: str) -> str | None:
    """The ``--worker-class`` value that gives ``name``: itself when installed
    (gunicorn's own, or an import path), else its older import path
    (``_MOVED``) when that is installed; None when none is."""
    if "." not in name:
        return name if name in (_workers() or {}) else None
    return next((path for path in (name, _MOVED.get(name)) if path and _module_installed(path)),
                None)


@functools.cache
def _has_control_socket_option() -> bool:
    """gunicorn 25+ opens a control socket in ~/.gunicorn unless told not to; cells
    that run side by side would fight over it."""
    from gunicorn.config import KNOWN_SETTINGS  # plain settings; imports no worker

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


@dataclass(eq=False)
class Gunicorn(ServerVariant):
    def conflict(self, cell):
        from emitcheck.matrix.cell import variant, variants

        if variant("mode", cell.mode).gunicorn_worker is None:
            served = ", ".join(f"{m.value}-" for m in variants("mode") if m.gunicorn_worker)
            return (f"{cell.mode} mode has no gunicorn worker class (under gunicorn the "
                    f"worker class decides the mode): use {served}...-gunicorn")
        return None

    def unavailable(self, cell):
        from emitcheck.matrix.cell import variant

        workers = _workers()
        if workers is None:
            return "gunicorn not installed (pip install 'emitcheck[gunicorn]')"
        options = variant("mode", cell.mode).gunicorn_worker
        assert options is not None  # conflict() rules out the modes without one
        worker = options[1]  # the --worker-class value
        if "." in worker and worker_class(worker) is None:
            package = _PACKAGE.get(worker, worker.partition(".")[0])
            return f"{package} not installed (pip install {package}): gunicorn's {worker}"
        if "." not in worker and worker not in workers:
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

        mode = variant("mode", cell.mode)
        patched = "patched" if self.patches_first and mode.patchable else cell.patch
        twin = expected(cell.replace(server="run", patch=patched))  # never gunicorn again
        if mode.asyncio:
            return Expectation(twin.verdict, "gunicorn's uvicorn worker serves the ASGI app "
                               "on an asyncio loop of its own, as uvicorn.run does (measured): "
                               f"{twin.why}", DOC_ASYNCIO)
        return Expectation(twin.verdict, "gunicorn's gevent and eventlet workers monkey "
                           "patch before they load the app, and gthread serves threading "
                           f"mode with OS threads: {twin.why}", DOC)

    def start(self, run, directory):
        from emitcheck.matrix.cell import variant
        from emitcheck.system.process import SERVER_BANNER, ManagedProcess

        declared = variant("mode", run.cell.mode).gunicorn_worker
        assert declared is not None  # conflict() rules out the modes without one
        options = [worker_class(option) or option if option == declared[1] else option
                   for option in declared]

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
                     "the installed gunicorn has it; asgi: -k uvicorn_worker.UvicornWorker)",
                     doc=DOC, forkable=False,
                     patches_first=True,
                     # a WebSocket-only client through gunicorn; Redis behind gunicorn
                     composed=(("websocket", "gunicorn"), ("redis", "gunicorn")),
                     reproducible=False,
                     remedy="serve the app with gunicorn and the worker class its mode needs "
                            "(threading: -k gthread --threads 4; gevent: -k gevent)")]
