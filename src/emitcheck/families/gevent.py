"""``gevent`` mode: greenlets on gevent's hub; WebSocket through simple-websocket."""

from emitcheck.matrix.cell import ModeVariant

VARIANTS = [ModeVariant(
    "gevent", "SocketIO(app, async_mode='gevent'): greenlets on gevent's hub",
    package="gevent", greenlet=True, patchable=True, reported_as=("gevent_uwsgi",),
    preload=("engineio.async_drivers.gevent", "gevent.pywsgi", "simple_websocket"),
    gunicorn_worker=("--worker-class", "gevent"))]
