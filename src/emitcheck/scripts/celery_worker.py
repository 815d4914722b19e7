"""The Celery side of the ``celery`` and ``celery_app`` cells: a Celery app and
its one task, which emits ticks as server_child.py's work does.

The worker runs it as users run theirs (families/celery.py starts it)::

    python -m celery -A emitcheck.scripts.celery_worker -b BROKER worker --pool POOL ...

``python -m celery``, so that Celery's entry point monkey patches the worker
before anything else for the gevent and eventlet pools (its
``maybe_patch_concurrency`` reads ``--pool`` from the command line). The web
app sends the task by its name from a route (server_child.py), as ``.delay()``
would. Only the worker loads this module, and server_child.py with it.
"""

from celery import Celery

#: The broker is the worker's ``-b`` option.
app = Celery("emitcheck")
app.conf.update(
    # Retry the broker at start as Celery 5 does, without its warning that
    # Celery 6 will not unless told to.
    broker_connection_retry_on_startup=True,
    # No remote control: nothing but the task's own queue on the broker.
    worker_enable_remote_control=False,
    # What the worker imports as it starts (before it is ready, and before the
    # prefork pool forks), as a tasks module that imports the app would:
    # Flask-SocketIO and the web app's module. The web server never starts a worker.
    imports=("emitcheck.scripts.server_child",),
)


#: The modes whose server is python-socketio's AsyncServer (async_server_child.py):
#: their tasks emit as python-socketio's docs show, with its RedisManager.
ASYNCIO_MODES = ("asgi", "aiohttp")


@app.task(name="emitcheck.emit_ticks")
def emit_ticks(cell_id: str, emit_log_path: str, interval: float, emit_url: str,
               app_queue_url: str | None) -> None:
    """Emit numbered ticks forever, logging ``seq time`` to the web server's
    emit log, as server_child.py's work does (its own functions do it).

    ``celery``: with ``SocketIO(message_queue=emit_url)`` and no app, the way
    Flask-SocketIO documents for other processes (server_child.emitter); for
    an AsyncServer (``ASYNCIO_MODES``), with python-socketio's
    ``RedisManager(emit_url, write_only=True)``, the way its docs do.
    ``celery_app``: with the web app's own ``socketio`` object, made here by the
    web app's own ``create_app`` as the web server made it (with
    ``message_queue`` only when the web server has one: ``app_queue_url``);
    for a celery spawn it starts no work of its own.
    """
    from emitcheck.scripts import server_child  # imported as the worker started (conf.imports)

    mode, _patch, spawn, wait = cell_id.split("-")[:4]
    if mode in ASYNCIO_MODES:  # the web server is python-socketio's AsyncServer
        server_child.emit_with_manager(emit_log_path, interval, emit_url)
    elif spawn == "celery_app":
        _flask_app, socketio = server_child.create_app(cell_id, emit_log_path, interval,
                                                       app_queue_url)
        server_child.emit_forever(socketio.emit, server_child.make_waiter(socketio, wait),
                                  interval, emit_log_path)
    else:
        server_child.emitter(cell_id, emit_log_path, interval, emit_url)
