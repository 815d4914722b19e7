"""The user's app, served in a cell's process (``emitcheck app MODULE:ATTR``).

Usage: ``python app_child.py CONFIG_JSON PORT`` serves it with ``socketio.run``;
``python app_child.py CONFIG_JSON check`` only loads it and prints one JSON line
(``{"async_mode": ...}`` or ``{"error": ...}``); gunicorn loads
``emitcheck.app_child:gunicorn_app(CONFIG_JSON)``. CONFIG is
``{"app", "path", "mode", "patch", "emits"}``.

As server_child.py does for our own work, this process monkey patches first
(when the cell is patched), before anything is imported. Then, still before
the user's module is imported, it wraps ``SocketIO.emit`` (through which
``emit()``, ``send()`` and ``socketio.emit()`` all go) so that every emit the
app makes is logged with its time, and wraps ``SocketIO.init_app`` to force the
cell's async mode (``auto``: the app's own choice, untouched). The module is
imported, never run as ``__main__``, so the app's own ``socketio.run`` does not
start; this process serves it on 127.0.0.1 with what a non-interactive run
needs (no reloader, no debugger, Werkzeug allowed).
"""

import json
import sys

_CONFIG = json.loads(sys.argv[1]) if __name__ == "__main__" else None
if _CONFIG and _CONFIG["patch"] == "patched" and _CONFIG["mode"] == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _CONFIG and _CONFIG["patch"] == "patched" and _CONFIG["mode"] == "gevent":
    from gevent import monkey

    monkey.patch_all()

import importlib  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

BANNER = "async_mode="


class LoadError(Exception):
    """The app cannot be loaded as named; one line saying why and what is valid."""


def _instrument(config):
    """Log every emit; force the cell's async mode. Before the app is imported."""
    import flask_socketio

    log = open(config["emits"], "a", buffering=1)
    emit = flask_socketio.SocketIO.emit
    init_app = flask_socketio.SocketIO.init_app

    def logged_emit(self, event, *args, **kwargs):
        at = time.time()
        result = emit(self, event, *args, **kwargs)
        log.write(json.dumps({"event": event, "namespace": kwargs.get("namespace") or "/",
                              "at": at}) + "\n")
        return result

    def init_app_in_mode(self, app, **kwargs):
        if config["mode"] != "auto":
            kwargs["async_mode"] = config["mode"]
        return init_app(self, app, **kwargs)

    # Deliberate monkey patching of the class (mypy flags assigning to a method).
    flask_socketio.SocketIO.emit = logged_emit  # type: ignore[method-assign]
    flask_socketio.SocketIO.init_app = init_app_in_mode  # type: ignore[method-assign]


def _resolve(module, attr):
    """The object ``attr`` names in ``module``; ``name()`` calls a factory."""
    call = attr.endswith("()")
    name = attr[:-2] if call else attr
    if not hasattr(module, name):
        raise LoadError(f"module {module.__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    if call:
        try:
            value = value()
        except Exception as exc:  # the factory's own failure
            raise LoadError(f"{attr} raised {type(exc).__name__}: {exc}") from None
    return value


def load(config):
    """Import the user's module and return (flask_app, socketio)."""
    from flask import Flask
    from flask_socketio import SocketIO

    module_name, _, attr = config["app"].partition(":")
    sys.path.insert(0, config["path"])
    os.chdir(config["path"])
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise LoadError(f"importing {module_name!r} failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    value = _resolve(module, attr or "socketio")
    if isinstance(value, tuple):  # a factory returning (app, socketio)
        value = next((v for v in value if isinstance(v, Flask)), value[0])
    if isinstance(value, Flask):
        socketio = value.extensions.get("socketio")
        if socketio is None:
            raise LoadError(f"{config['app']} is a Flask app with no SocketIO "
                            "(SocketIO(app) or socketio.init_app(app) was never called)")
        return value, socketio
    if isinstance(value, SocketIO):
        apps = [v for v in vars(module).values()
                if isinstance(v, Flask) and v.extensions.get("socketio") is value]
        if not apps:
            raise LoadError(f"{config['app']} is a SocketIO with no Flask app in module "
                            f"{module_name!r}: name the Flask app or a factory instead")
        return apps[0], value
    raise LoadError(f"{config['app']} is a {type(value).__name__}, not a SocketIO object, "
                    "a Flask app or a factory returning one (MODULE:socketio, MODULE:app "
                    "or MODULE:create_app())")


def gunicorn_app(config_json):
    """The WSGI app for gunicorn (the worker patches by itself)."""
    config = json.loads(config_json)
    _instrument(config)
    app, socketio = load(config)
    print(f"emitcheck app {config['app']}: {BANNER}{socketio.async_mode}", flush=True)
    return app


def main(config, port):
    _instrument(config)
    try:
        app, socketio = load(config)
    except LoadError as exc:
        if port == "check":
            print(json.dumps({"error": str(exc)}), flush=True)
            os._exit(0)
        raise SystemExit(f"emitcheck: {exc}") from None
    if port == "check":
        print(json.dumps({"async_mode": socketio.async_mode}), flush=True)
        os._exit(0)  # the app may have started threads at import: do not wait for them
    print(f"emitcheck app {config['app']}: {BANNER}{socketio.async_mode}", flush=True)
    socketio.run(app, host="127.0.0.1", port=int(port), allow_unsafe_werkzeug=True,
                 use_reloader=False, debug=False, log_output=False)


if __name__ == "__main__":
    main(_CONFIG, sys.argv[2])
