"""``threading`` mode: OS threads, Werkzeug's (or simple-websocket's) server."""

from emitcheck.matrix.cell import ModeVariant

VARIANTS = [ModeVariant(
    "threading", "SocketIO(app, async_mode='threading'): OS threads, no hub",
    doc="pitfall.md#threading-mode-delivered",
    preload=("engineio.async_drivers.threading", "werkzeug.serving", "simple_websocket"),
    gunicorn_worker=("--worker-class", "gthread", "--threads", "4"),
    remedy="use async_mode='threading' (OS threads: no hub to block)")]
