"""The processes of one cell, run as a script in their own process.

Usage:
  ``python server_child.py CELL_ID EMIT_LOG INTERVAL PORT [QUEUE_URL]``: the server;
  ``python server_child.py CELL_ID EMIT_LOG INTERVAL emitter QUEUE_URL``: the work
  of a ``process`` or ``process_manager`` cell, emitting through the queue;
  gunicorn loads ``gunicorn_app(...)`` from this file for ``-gunicorn`` cells
  (the cell id then comes from the ``EMITCHECK_CELL`` environment variable);
  uWSGI calls ``uwsgi_app()`` for ``-uwsgi`` cells (its parameters all come
  from the environment).

It is written the way users write their servers: monkey patching (when the
cell asks for it) is the very first thing the process does, the background
work is started before ``socketio.run(app, host="127.0.0.1", ...)``, and the
work loops forever, emitting a numbered ``tick`` event carrying the server time,
then waiting. After each emit it appends ``seq time`` to EMIT_LOG, so the probe
can tell "the work never ran" from "the work emitted but nothing arrived".

The port is picked by the parent (a port the kernel gave it a moment before).
``emitcheck repro`` embeds this file whole in the scripts it writes. This file
is run by path, not with ``-m``, so that nothing (not even the emitcheck
package) is imported before patching.
"""

import os
import sys

_CELL = sys.argv[1] if __name__ == "__main__" else os.environ.get("EMITCHECK_CELL", "")
_MODE, _PATCH = (_CELL.split("-") + ["", ""])[:2]
#: The suffix of cells served by python-socketio's own Server instead of Flask-SocketIO.
PYTHON_SOCKETIO = "python_socketio"
#: Where the work of an ``-other_namespace`` cell emits: a namespace no handler
#: serves and no client is on (families/namespaces.py); other cells emit to ``/``.
OTHER_NAMESPACE = "/other"
if _PATCH == "patched" and _MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _PATCH == "patched" and _MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import logging  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

EVENT = "tick"
ACK_EVENT = "probe"


def make_waiter(socketio, wait):
    """How the work waits between two emits, one function per ``wait`` value."""
    def busy(interval):
        # CPU-bound and never yields: nothing else in this thread (or hub) runs meanwhile.
        end = time.perf_counter() + interval
        while time.perf_counter() < end:
            pass

    def busy_yield(interval, slice_s=0.005):
        # The same loop, giving the hub a turn with socketio.sleep(0) every 5 ms:
        # the documented remedy for CPU-bound work under eventlet and gevent.
        end = last = time.perf_counter()
        end += interval
        while (now := time.perf_counter()) < end:
            if now - last >= slice_s:
                socketio.sleep(0)
                last = time.perf_counter()

    def event_wait(interval):
        # Waits on a threading primitive: blocks its OS thread unless patched.
        threading.Event().wait(interval)

    waiters = {
        "time_sleep": time.sleep,
        "socketio_sleep": socketio.sleep,
        "event_wait": event_wait,
        "busy": busy,
        "busy_yield": busy_yield,
    }
    return waiters[wait]


def make_starter(socketio, spawn):
    """How the work is started, one function per ``spawn`` value."""
    def start_thread(work):
        threading.Thread(target=work, daemon=True).start()

    starters = {
        "thread": start_thread,
        "task": socketio.start_background_task,
    }
    return starters[spawn]


def emit_forever(emit, wait_between, interval, emit_log_path):
    """The work: emit a numbered tick, log it, wait; forever."""
    emit_log = open(emit_log_path, "a", buffering=1)
    seq = 0
    while True:
        seq += 1
        now = time.time()
        emit(EVENT, {"seq": seq, "t": now})
        emit_log.write(f"{seq} {now:.6f}\n")
        wait_between(interval)


def create_app(cell_id, emit_log_path, interval, queue_url=None, async_mode=None):
    """The Flask app and its SocketIO, with the work started (unless another
    process does the work: spawn process or process_manager). ``async_mode``:
    the mode to ask for instead of the cell's (uWSGI's gevent loop: gevent_uwsgi)."""
    mode, _patch, spawn, wait = cell_id.split("-")[:4]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if PYTHON_SOCKETIO in cell_id.split("-")[4:]:
        return create_wsgi_app(cell_id, emit_log_path, interval, mode, spawn, wait)

    app = Flask(__name__)
    options = {"message_queue": queue_url} if queue_url else {}
    if mode == "auto":  # as most apps do: the mode is whatever is installed
        socketio = SocketIO(app, **options)
    else:
        socketio = SocketIO(app, async_mode=async_mode or mode, **options)

    @app.route("/health")
    def health():
        return "ok"

    @socketio.on(ACK_EVENT)
    def probe(data):
        return {"echo": data, "t": time.time()}

    if os.environ.get(SECOND_SERVER):
        serve_only(socketio, os.environ[SECOND_SERVER])
    elif spawn in ("thread", "task"):
        wait_between = make_waiter(socketio, wait)
        namespace = OTHER_NAMESPACE if "other_namespace" in cell_id.split("-")[4:] else "/"
        make_starter(socketio, spawn)(lambda: emit_forever(
            lambda event, data: socketio.emit(event, data, namespace=namespace),
            wait_between, interval, emit_log_path))
    elif spawn in ("celery", "celery_app"):
        add_celery_route(app, cell_id, emit_log_path, interval, queue_url)
    # init_app sets async_mode; types-Flask-SocketIO does not declare it.
    print(f"emitcheck server {cell_id}: async_mode={socketio.async_mode}",  # type: ignore[attr-defined]
          flush=True)
    return app, socketio


# --- python-socketio's own Server (families/libraries.py), without Flask ---
def create_wsgi_app(cell_id, emit_log_path, interval, mode, spawn, wait):
    """``socketio.Server`` in ``socketio.WSGIApp``, as python-socketio's docs
    write it; ``/health`` is the app beside it."""
    import socketio as python_socketio

    sio = python_socketio.Server(**({} if mode == "auto" else {"async_mode": mode}))

    @sio.on(ACK_EVENT)
    def probe(sid, data):
        return {"echo": data, "t": time.time()}

    def health(environ, start_response):
        found = environ.get("PATH_INFO") == "/health"
        start_response("200 OK" if found else "404 Not Found", [("Content-Type", "text/plain")])
        return [b"ok" if found else b""]

    wait_between = make_waiter(sio, wait)
    make_starter(sio, spawn)(lambda: emit_forever(sio.emit, wait_between, interval, emit_log_path))
    print(f"emitcheck server {cell_id}: async_mode={sio.async_mode}", flush=True)
    return python_socketio.WSGIApp(sio, health), sio


def serve_wsgi_app(app, async_mode, port):
    """Serve it as python-socketio's WSGI example does, by the mode it runs in
    (app_child.py serves a user's ``socketio.Server`` with it too)."""
    if async_mode == "eventlet":
        import eventlet.wsgi

        eventlet.wsgi.server(eventlet.listen(("127.0.0.1", port)), app, log_output=False)
    elif async_mode == "gevent":
        from gevent import pywsgi

        try:
            from geventwebsocket.handler import WebSocketHandler  # type: ignore[import-not-found]
            options = {"handler_class": WebSocketHandler}
        except ImportError:  # python-engineio falls back to simple-websocket
            options = {}
        pywsgi.WSGIServer(("127.0.0.1", port), app, log=None, **options).serve_forever()
    else:
        from werkzeug.serving import run_simple

        run_simple("127.0.0.1", port, app, threaded=True)
# --- end of python-socketio's Server ---


# --- cluster (families/cluster.py): a second server process that runs no work ---
#: Set in the environment of the second server of a ``two_*`` cell, to the file
#: where it logs the clients that connect to it. It runs no work: the work runs
#: in the first server, and its events reach this one's clients through the
#: message queue, or not at all.
SECOND_SERVER = "EMITCHECK_SECOND_SERVER"


def serve_only(socketio, connect_log_path):
    """Run no work; log each Socket.IO connect (``time transport``), so that the
    cell can tell on which server its client landed (nginx logs a WebSocket only
    once it closes, and the cell stops nginx first)."""
    from flask import request

    @socketio.on("connect")
    def connected(auth=None):
        try:
            transport = socketio.server.transport(request.sid)  # type: ignore[attr-defined]
        except KeyError:  # older python-socketio (5.1.0) wanted the Engine.IO session id
            transport = "unknown"
        with open(connect_log_path, "a") as log:
            log.write(f"{time.time():.6f} {transport}\n")
# --- end of cluster ---


# --- Celery (families/celery/): the web app starts the work as a Celery task ---
#: The web app's route that sends the task (the cell asks it once the server listens).
CELERY_ROUTE = "/celery/start"


def add_celery_route(app, cell_id, emit_log_path, interval, queue_url):
    """``celery`` and ``celery_app`` cells: the work is a Celery task (celery_worker.py)
    that the web app starts from a route, as apps do: ``GET /celery/start?broker=URL``
    sends it (the cell calls it once, when the server listens). It is sent by
    name, ``send_task``, which is what ``.delay()`` does underneath, so that
    this file imports nothing of emitcheck (``emitcheck repro`` embeds it). The
    broker comes with the request because only the cell knows it: without
    ``-redis`` the web server has no queue of its own."""
    from celery import Celery
    from flask import request

    @app.route(CELERY_ROUTE)
    def start_celery_task():
        broker = request.args["broker"]
        task = Celery(broker=broker).send_task(
            "emitcheck.emit_ticks", args=(cell_id, emit_log_path, interval, broker, queue_url))
        return task.id
# --- end of Celery ---


# --- uWSGI (families/uwsgi.py): uWSGI loads the app from this file ---
#: uWSGI calls ``uwsgi_app()`` with no arguments (``--module 'server_child:uwsgi_app()'``),
#: so the cell's parameters come from the environment, next to EMITCHECK_CELL.
UWSGI_EMIT_LOG, UWSGI_INTERVAL = "EMITCHECK_EMIT_LOG", "EMITCHECK_INTERVAL"


def uwsgi_app():
    """The WSGI app for uWSGI. Under uWSGI's gevent loop engine the cell's
    gevent mode is Flask-SocketIO's ``gevent_uwsgi`` (WebSocket through uWSGI's
    own API), as its deployment docs say; threading mode is threading."""
    # uWSGI points sys.stdout at its log (stderr); the banner goes to stdout.
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    env = os.environ
    return create_app(_CELL, env[UWSGI_EMIT_LOG], float(env[UWSGI_INTERVAL]),
                      async_mode="gevent_uwsgi" if _MODE == "gevent" else None)[0]
# --- end of uWSGI ---


def gunicorn_app(cell_id, emit_log_path, interval, queue_url=None):
    """The WSGI app for gunicorn (``'server_child:gunicorn_app("CELL", ...)'``)."""
    return create_app(cell_id, emit_log_path, interval, queue_url)[0]


def emitter(cell_id, emit_log_path, interval, queue_url):
    """The work in another process, as in a Celery worker: no app, no server,
    only the queue. ``process`` uses Flask-SocketIO as its docs show for
    external processes; ``process_manager`` uses python-socketio's manager as
    python-socketio's docs show (with its own default channel)."""
    mode, _patch, spawn, wait = cell_id.split("-")[:4]
    if spawn == "process_manager":
        emit_with_manager(emit_log_path, interval, queue_url)
    else:
        options = {} if mode == "auto" else {"async_mode": mode}
        socketio = SocketIO(message_queue=queue_url, **options)
        emit_forever(socketio.emit, make_waiter(socketio, wait), interval, emit_log_path)


def emit_with_manager(emit_log_path, interval, queue_url):
    """Emit through python-socketio's ``RedisManager(URL, write_only=True)``, as
    its docs show for other processes (its default channel, ``socketio``)."""
    import socketio as python_socketio

    manager = python_socketio.RedisManager(queue_url, write_only=True)
    emit_forever(manager.emit, time.sleep, interval, emit_log_path)


def main(cell_id, emit_log_path, interval, port, queue_url=None):
    app, socketio = create_app(cell_id, emit_log_path, interval, queue_url)
    if PYTHON_SOCKETIO in cell_id.split("-")[4:]:
        return serve_wsgi_app(app, socketio.async_mode, port)
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    if sys.argv[4] == "emitter":
        emitter(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[5])
    else:
        main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
