"""The user's app, served in a cell's process (``emitcheck app MODULE:ATTR``).

Usage: ``python app_child.py CONFIG_JSON PORT`` serves it with ``socketio.run``;
``python app_child.py CONFIG_JSON check`` only loads it and prints one JSON line
(what ``user_app.check`` reads: the mode, whether the app patches itself, the
namespaces it handles, ... or ``{"error": ...}``); gunicorn loads
``emitcheck.scripts.app_child:gunicorn_app(CONFIG_JSON)``. CONFIG is
``{"app", "path", "mode", "patch", "emits", "env", "setup"}``.

Nothing of the stack is imported here before the app's own first statement: an
app that monkey patches itself (Flask-SocketIO's docs say to, first thing) must
find eventlet or gevent unimported, or its patch comes too late. So this
process only sets the environment (``--env``), monkey patches when the cell is
patched, and installs import hooks (``_AfterImport``): when the app imports
python-socketio, its ``Server.emit`` (through which Flask-SocketIO's ``emit()``,
``send()`` and ``socketio.emit()`` all go) is wrapped to log every emit, and
the connect handler's outcome (refused, raised) is logged too; when it imports
Flask-SocketIO, ``init_app`` is wrapped to force the cell's async mode
(``auto``: the app's own choice, untouched); when it imports eventlet or
gevent's monkey module, the place of its own patch call is recorded. The module
is imported, never run as ``__main__``, so the app's own ``socketio.run`` does
not start; this process serves it on 127.0.0.1 with what a non-interactive run
needs (no reloader, no debugger, Werkzeug allowed).
"""

import _thread
import json
import os
import sys

#: The OS thread's identity, whatever monkey patching does to ``_thread`` later:
#: an emit from another OS thread than the main one is an OS thread's emit.
_OS_IDENT = _thread.get_ident
_MAIN_OS_THREAD = _OS_IDENT()

_CONFIG = json.loads(sys.argv[1]) if __name__ == "__main__" else None
if _CONFIG:
    os.environ.update(_CONFIG.get("env") or {})
if _CONFIG and _CONFIG["patch"] == "patched" and _CONFIG["mode"] == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif _CONFIG and _CONFIG["patch"] == "patched" and _CONFIG["mode"] == "gevent":
    from gevent import monkey

    monkey.patch_all()

import importlib  # noqa: E402
import importlib.abc  # noqa: E402
import inspect  # noqa: E402
import time  # noqa: E402

BANNER = "async_mode="


class LoadError(Exception):
    """The app cannot be loaded as named; one line saying why and what is valid."""


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hooks[name](module)`` right after module ``name`` is first executed,
    so that nothing is imported before the app imports it itself."""

    def __init__(self, hooks):
        self.hooks = dict(hooks)

    def find_spec(self, name, path, target=None):
        hook = self.hooks.pop(name, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_hook(module):
            exec_module(module)
            hook(module)

        loader.exec_module = exec_and_hook  # type: ignore[method-assign]  # this spec only
        return spec


def _size(value, depth=0):
    """About how many bytes ``value`` takes on the wire (the strings and bytes
    in it, a few levels deep; 8 for anything else): cheap, never serialized."""
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        return len(value)
    if depth < 3 and isinstance(value, dict):
        return sum(len(str(k)) + _size(v, depth + 1) for k, v in list(value.items())[:1000])
    if depth < 3 and isinstance(value, (list, tuple)):
        return sum(_size(v, depth + 1) for v in value[:1000])
    return 8


def _caller(depth=2):
    """``file:line`` of the code that called the function calling this one."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _where(function):
    """``file:line (name)`` of a handler, through decorators' ``__wrapped__``."""
    function = inspect.unwrap(function) if callable(function) else function
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function)
    return f"{code.co_filename}:{code.co_firstlineno} ({function.__name__})"


class _Log:
    """The cell's emit log: one JSON object a line (user_app.py reads it)."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)
        self.patched_at = None
        #: Where the app called ``socketio.run`` while it was being loaded.
        self.ran_at = None
        self.ran_with = None
        #: Set once this process serves the app itself: its own run goes through.
        self.serving = False

    def write(self, **entry):
        self.file.write(json.dumps(entry) + "\n")


#: Every python-socketio ``Server`` and ``AsyncServer`` the app made, in order:
#: what an ASGI or aiohttp app routes to, when its routes do not show it.
_SERVERS = []
#: The sync modes a ``socketio.Server`` can be forced into (a cell's row).
SYNC_MODES = ("threading", "eventlet", "gevent")


def _emit_logger(log, emit):
    """``emit``, logging each call. An ``AsyncServer``'s emit returns its
    coroutine at once: the emit is logged when it is made, awaited or not (an
    emit never awaited is then logged and never sent: the app's bug)."""
    def logged_emit(self, event, *args, **kwargs):
        at = time.time()
        result = emit(self, event, *args, **kwargs)
        log.write(event=event, namespace=kwargs.get("namespace") or "/", at=at,
                  os_thread=_OS_IDENT() != _MAIN_OS_THREAD,
                  bytes=_size(kwargs.get("data", args[0] if args else None)))
        return result

    return logged_emit


def _connect_handler(server, namespace):
    handler = server.handlers.get(namespace, {}).get("connect") or \
        getattr(server.namespace_handlers.get(namespace), "on_connect", None)
    return _where(handler) if handler else "?"


def _connect_outcome(log, where, namespace, exc=None, result=None):
    """Log a connect handler that refused (returned False) or raised."""
    if exc is not None:
        exceptions = sys.modules.get("socketio.exceptions")
        refused = exceptions is not None and isinstance(exc, exceptions.ConnectionRefusedError)
        log.write(kind="connect", namespace=namespace, handler=where, at=time.time(),
                  refused=refused, outcome=f"raised {type(exc).__name__}: {exc}"[:200])
    elif result is False:
        log.write(kind="connect", namespace=namespace, handler=where, at=time.time(),
                  refused=True, outcome="returned False")


def _recorded_init(init, force=None):
    """``__init__`` recording the server in ``_SERVERS``, with the cell's mode
    (``force``) instead of the app's own when the row names one."""
    def recording_init(self, *args, **kwargs):
        if force:
            kwargs["async_mode"] = force
        init(self, *args, **kwargs)
        _SERVERS.append(self)

    return recording_init


def _instrument(config):
    """Install the import hooks; nothing is imported here."""
    log = _Log(config["emits"])
    force = config["mode"] if config["mode"] in SYNC_MODES else None

    def server_hooks(module):
        server = module.Server
        trigger = server._trigger_event

        def traced_trigger(self, event, namespace, *args):
            if event != "connect":
                return trigger(self, event, namespace, *args)
            where = _connect_handler(self, namespace)
            try:
                result = trigger(self, event, namespace, *args)
            except Exception as exc:
                _connect_outcome(log, where, namespace, exc)
                raise
            _connect_outcome(log, where, namespace, result=result)
            return result

        server.__init__ = _recorded_init(server.__init__, force)
        server.emit = _emit_logger(log, server.emit)
        server._trigger_event = traced_trigger

    def async_server_hooks(module):
        server = module.AsyncServer
        trigger = server._trigger_event

        async def traced_trigger(self, event, namespace, *args):
            if event != "connect":
                return await trigger(self, event, namespace, *args)
            where = _connect_handler(self, namespace)
            try:
                result = await trigger(self, event, namespace, *args)
            except Exception as exc:
                _connect_outcome(log, where, namespace, exc)
                raise
            _connect_outcome(log, where, namespace, result=result)
            return result

        server.__init__ = _recorded_init(server.__init__)
        server.emit = _emit_logger(log, server.emit)
        server._trigger_event = traced_trigger

    def init_app_in_mode(module):
        init_app = module.SocketIO.init_app

        def init_app_forced(self, app, **kwargs):
            if config["mode"] != "auto":
                kwargs["async_mode"] = config["mode"]
            return init_app(self, app, **kwargs)

        module.SocketIO.init_app = init_app_forced
        _run_unless_loading(log, module.SocketIO, "run", "socketio.run")

    def patch_site(module, name):
        patch = getattr(module, name)

        def recorded(*args, **kwargs):
            log.patched_at = log.patched_at or _caller()
            return patch(*args, **kwargs)

        setattr(module, name, recorded)

    sys.meta_path.insert(0, _AfterImport({
        "socketio.server": server_hooks,
        "socketio.async_server": async_server_hooks,
        "flask_socketio": init_app_in_mode,
        "uvicorn.main": lambda module: _run_unless_loading(log, module, "run", "uvicorn.run"),
        "aiohttp.web": lambda module: _run_unless_loading(log, module, "run_app",
                                                           "web.run_app"),
        "eventlet": lambda module: patch_site(module, "monkey_patch"),
        "gevent.monkey": lambda module: patch_site(module, "patch_all"),
    }))
    return log


def _run_unless_loading(log, owner, name, said):
    """An app that serves at import (no ``__main__`` guard: ``socketio.run``,
    ``uvicorn.run``, ``web.run_app``) would serve on its own port: while it
    loads, the call is noted and returns; this process serves it."""
    run = getattr(owner, name)

    def run_unless_loading(*args, **kwargs):
        if log.serving:
            return run(*args, **kwargs)
        log.ran_at = log.ran_at or _caller()
        log.ran_with = log.ran_with or said
        return None

    setattr(owner, name, run_unless_loading)


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


def _import(config):
    module_name, _, _ = config["app"].partition(":")
    sys.path.insert(0, config["path"])
    os.chdir(config["path"])
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise LoadError(f"importing {module_name!r} failed: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    except SystemExit as exc:
        raise LoadError(f"importing {module_name!r} called sys.exit({exc.code!r})") from None


def _not_flask_socketio(value, target):
    """A one-line LoadError for a python-socketio server given to ``emitcheck app``."""
    kind = f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"  # socketio.Server
    return LoadError(f"{target} is a {kind}, not a Flask-SocketIO app: emitcheck app "
                     "serves Flask-SocketIO apps; run your server as you do and check it "
                     "with: emitcheck probe http://127.0.0.1:PORT --event NAME")


def load(config):
    """Import the user's module, run the set-up, and return (flask_app, socketio)."""
    module = _import(config)
    _, _, attr = config["app"].partition(":")
    value = _resolve(module, attr or "socketio")
    from flask import Flask
    from flask_socketio import SocketIO

    if isinstance(value, tuple):  # a factory returning (app, socketio)
        value = next((v for v in value if isinstance(v, Flask)), value[0])
    if isinstance(value, Flask):
        socketio = value.extensions.get("socketio")
        if socketio is None:
            raise LoadError(f"{config['app']} is a Flask app with no SocketIO "
                            "(SocketIO(app) or socketio.init_app(app) was never called)")
        app = value
    elif isinstance(value, SocketIO):
        apps = [v for v in vars(module).values()
                if isinstance(v, Flask) and v.extensions.get("socketio") is value]
        if not apps:
            raise LoadError(f"{config['app']} is a SocketIO with no Flask app in module "
                            f"{module.__name__!r}: name the Flask app or a factory instead")
        app, socketio = apps[0], value
    elif type(value).__module__.split(".")[0] in ("socketio", "aiohttp", "fastapi",
                                                  "starlette"):
        raise _not_flask_socketio(value, config["app"])
    else:
        raise LoadError(f"{config['app']} is a {type(value).__name__}, not a SocketIO "
                        "object, a Flask app or a factory returning one (MODULE:socketio, "
                        "MODULE:app or MODULE:create_app())")
    _setup(config, app)
    return app, socketio


def _setup(config, app):
    """Call ``--setup MODULE:FUNCTION``: with no argument, or with the Flask app
    when it takes one."""
    if not config.get("setup"):
        return
    module_name, _, name = config["setup"].partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise LoadError(f"--setup {config['setup']}: {type(exc).__name__}: {exc}") from None
    try:
        wanted = [p for p in inspect.signature(function).parameters.values()
                  if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                         p.POSITIONAL_OR_KEYWORD)]
        function(*([app] if wanted else []))
    except Exception as exc:
        raise LoadError(f"--setup {config['setup']} raised {type(exc).__name__}: "
                        f"{exc}") from None


def _patched_by_itself():
    """"eventlet" or "gevent" when the process is monkey patched (the socket
    module), else None. Reads the libraries' own flags; imports neither."""
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("socket"):
        return "eventlet"
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        return "gevent"
    return None


def _external_connections():
    """TCP connections the process has open after loading (a Redis listener, a
    database): a service that every cell of the app would share."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - a dependency of emitcheck
        return []
    try:
        connections = psutil.Process().net_connections(kind="tcp")
    except psutil.Error:
        return []
    return sorted({f"{c.raddr.ip}:{c.raddr.port}" for c in connections if c.raddr})


#: Client libraries of message brokers: an app that uses one may subscribe every
#: cell to one channel, and its cells would then see each other's messages.
BROKER_CLIENTS = ("redis", "valkey", "kombu", "pika", "aio_pika", "kafka", "aiokafka",
                  "confluent_kafka", "nats", "paho", "zmq", "celery")


def _broker_clients(root):
    """The broker clients that modules of the app's own folder import."""
    root = os.path.realpath(root) + os.sep
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None) or ""
        if not os.path.realpath(file).startswith(root):
            continue
        for value in list(vars(module).values()):
            name = getattr(value, "__name__", "") if isinstance(value, type(sys)) else \
                getattr(value, "__module__", "") or ""
            top = name.split(".")[0]
            if top in BROKER_CLIENTS:
                found.add(top)
    return sorted(found)


def describe(socketio, log, root=".", patched_before=False):
    """What ``check`` reports about the loaded app. ``patched_before``: this
    process was patched before the app was imported (a patched cell, a gunicorn
    worker), so a patched socket says nothing of the app's own patching."""
    server = socketio.server
    namespaces = set(getattr(server, "handlers", {}) or {}) | \
        set(getattr(server, "namespace_handlers", {}) or {})
    manager = type(getattr(server, "manager", None)).__name__
    return {"async_mode": socketio.async_mode,
            "patches": None if patched_before else _patched_by_itself(),
            "patched_at": log.patched_at, "namespaces": sorted(namespaces) or ["/"],
            "queue": None if manager in ("Manager", "AsyncManager", "NoneType") else manager,
            "connections": _external_connections(), "brokers": _broker_clients(root),
            "ran_at": log.ran_at}


def _original_ident():
    """The OS thread's ``get_ident`` in a process that was patched before this
    module was imported (a gunicorn gevent or eventlet worker)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("thread"):
        return monkey.get_original("_thread", "get_ident")
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return patcher.original("_thread").get_ident
    return _thread.get_ident


def gunicorn_app(config_json):
    """The WSGI app for gunicorn (the worker patches by itself, before this module
    is imported: the OS thread's identity is read from the originals)."""
    global _OS_IDENT, _MAIN_OS_THREAD
    _OS_IDENT = _original_ident()
    _MAIN_OS_THREAD = _OS_IDENT()
    config = json.loads(config_json)
    os.environ.update(config.get("env") or {})
    log = _instrument(config)
    app, socketio = load(config)
    log.write(kind="served", **describe(socketio, log, config["path"], patched_before=True))
    print(f"emitcheck app {config['app']}: {BANNER}{socketio.async_mode}", flush=True)
    return app


def main(config, port):
    log = _instrument(config)
    try:
        app, socketio = load(config)
    except LoadError as exc:
        if port == "check":
            print(json.dumps({"error": str(exc)}), flush=True)
            os._exit(0)
        raise SystemExit(f"emitcheck: {exc}") from None
    if port == "check":
        print(json.dumps(describe(socketio, log, config["path"])), flush=True)
        os._exit(0)  # the app may have started threads at import: do not wait for them
    log.write(kind="served", **describe(socketio, log, config["path"],
                                        patched_before=config["patch"] == "patched"))
    print(f"emitcheck app {config['app']}: {BANNER}{socketio.async_mode}", flush=True)
    log.serving = True
    socketio.run(app, host="127.0.0.1", port=int(port), allow_unsafe_werkzeug=True,
                 use_reloader=False, debug=False, log_output=False)


if __name__ == "__main__":
    main(_CONFIG, sys.argv[2])
