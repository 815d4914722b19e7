"""``eventlet`` mode: green threads on eventlet's hub (deprecated upstream, still common)."""

from emitcheck.matrix.cell import ModeVariant

VARIANTS = [ModeVariant(
    "eventlet", "SocketIO(app, async_mode='eventlet'): green threads on eventlet's hub",
    package="eventlet", greenlet=True, patchable=True,
    preload=("engineio.async_drivers.eventlet", "eventlet.wsgi"),
    # gunicorn 26 removed this worker; releases before it have it.
    gunicorn_worker=("--worker-class", "eventlet"))]
