"""The user's app, served in a cell's process (``emitcheck app MODULE:ATTR``).

Usage: ``python app_child.py CONFIG_JSON PORT`` serves it;
``python app_child.py CONFIG_JSON check`` only loads it and prints one JSON line
(what ``user_app.check`` reads: the mode, whether the app patches itself, the
namespaces it handles, ... or ``{"error": ...}``); gunicorn loads
``emitcheck.scripts.app_child:gunicorn_app(CONFIG_JSON)``. CONFIG is
``{"app", "path", "mode", "patch", "emits", "env", "setup"}``.

The app is any python-socketio server (``classify``): a Flask-SocketIO app,
served with ``socketio.run``; a ``socketio.Server`` (or a ``socketio.WSGIApp``,
or a Flask app whose ``wsgi_app`` is one), served as python-socketio's
examples serve its mode; a ``socketio.AsyncServer`` in an ASGI app (its
``socketio.ASGIApp``, or FastAPI mounting one) under ``uvicorn.run``, or
attached to an aiohttp app under ``web.run_app``.

Nothing of the stack is imported here before the app's own first statement: an
app that monkey patches itself (Flask-SocketIO's docs say to, first thing) must
find eventlet or gevent unimported, or its patch comes too late. So this
process only sets the environment (``--env``), monkey patches when the cell is
patched, and installs import hooks (``_AfterImport``): when the app imports
python-socketio, ``Server.emit`` and ``AsyncServer.emit`` (through which
Flask-SocketIO's ``emit()``, ``send()`` and ``socketio.emit()``, and every
namespace's emit, go) are wrapped to log every emit when it is made (an
``AsyncServer``'s too, awaited or not), the connect handler's outcome (refused,
raised) is logged, and a ``socketio.Server`` made in a sync row gets the row's
async mode; when it imports Flask-SocketIO, ``init_app`` is wrapped to force
the cell's async mode (``auto``: the app's own choice, untouched); when it
imports eventlet or gevent's monkey module, the place of its own patch call is
recorded; when it imports asyncio, ``run_coroutine_threadsafe`` is wrapped to
log the coroutines handed to a loop that is not the serving one
(``app_child_loops.handoffs``). The module is imported, never run as
``__main__``, so the app's own ``socketio.run``, ``uvicorn.run`` or
``web.run_app`` does not start; this process serves it on 127.0.0.1 with what
a non-interactive run needs (no reloader, no debugger, Werkzeug allowed). An
asyncio app's serving loop is watched (``app_child_loops.watch``): where a
coroutine blocks it is logged.
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
        #: The event loop that serves an asyncio app, once it runs (app_child_loops).
        self.serving_loop = None
        #: Set once this process serves the app itself: its own run goes through.
        self.serving = False

    def write(self, **entry):
        self.file.write(json.dumps(entry) + "\n")


#: Every python-socketio ``Server`` and ``AsyncServer`` the app made, in order:
#: what an ASGI or aiohttp app routes to, when its routes do not show it.
_SERVERS: list = []
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
    """Install the import hooks; nothing is imported here. Python's warning for
    a coroutine never awaited is shown, as it is where the app runs as its
    authors run it (our processes run with PYTHONWARNINGS=ignore): it names an
    AsyncServer emit that sends nothing (causes.py)."""
    import warnings

    warnings.filterwarnings("default", message="coroutine .* was never awaited",
                            category=RuntimeWarning)
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
        "asyncio": lambda module: _loops().handoffs(module, log, config["path"]),
        "eventlet": lambda module: patch_site(module, "monkey_patch"),
        "gevent.monkey": lambda module: patch_site(module, "patch_all"),
    }))
    return log


def _loops():
    """app_child_loops.py, beside this file: imported by name when this file
    runs as a script (its folder is first on the path), else from its package."""
    return importlib.import_module(f"{__package__}.app_child_loops" if __package__
                                   else "app_child_loops")


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


class Loaded:
    """The app as loaded: what is served (a Flask app, a WSGI app, an ASGI app,
    an aiohttp ``web.Application``), the python-socketio server behind it, and
    how it is served (``kind``: ``flask_socketio`` with ``socketio.run``;
    ``wsgi``, a ``socketio.Server``, as python-socketio's examples serve it;
    ``asgi`` under uvicorn; ``aiohttp`` with ``web.run_app``)."""
    ASYNCIO = ("asgi", "aiohttp")

    def __init__(self, kind, app, server, socketio=None, note=None):
        self.kind, self.app, self.server, self.socketio = kind, app, server, socketio
        #: What emitcheck serves instead of the object named, and why.
        self.note = note

    @property
    def asyncio(self):
        return self.kind in self.ASYNCIO

    @property
    def async_mode(self):
        return self.socketio.async_mode if self.socketio is not None else \
            self.server.async_mode


def _of_class(value, module, name):
    """Is ``value`` an instance of ``module.name``, the module imported by the app?"""
    found = sys.modules.get(module)
    cls = getattr(found, name, None) if found is not None else None
    return cls is not None and isinstance(value, cls)


def _wsgi_server(value):
    """The ``socketio.Server`` a WSGI app dispatches to: a ``socketio.WSGIApp``,
    or an app whose ``wsgi_app`` is one (Flask, as python-socketio's example
    writes it), through middlewares' ``.app``; else None."""
    for _ in range(5):
        if _of_class(value, "engineio", "WSGIApp") and \
                _of_class(value.engineio_app, "socketio", "Server"):
            return value.engineio_app
        value = getattr(value, "wsgi_app", None) or getattr(value, "app", None)
        if value is None:
            return None
    return None


def _asgi_server(value, depth=0):
    """The ``AsyncServer`` an ASGI app dispatches to: a ``socketio.ASGIApp``, or
    one mounted among its routes (FastAPI's and Starlette's ``app.mount``)."""
    if _of_class(value, "engineio", "ASGIApp"):
        return value.engineio_server
    if depth < 4:
        for route in getattr(value, "routes", None) or ():
            found = _asgi_server(getattr(route, "app", None), depth + 1)
            if found is not None:
                return found
    return None


def _aiohttp_server(app):
    """The ``AsyncServer`` attached to an aiohttp app (its routes' handler)."""
    handlers = {getattr(route.handler, "__self__", None) for route in app.router.routes()}
    return next((s for s in _SERVERS if getattr(s, "eio", None) in handlers), None)


def _in_module(module, predicate):
    return next((v for v in list(vars(module).values()) if predicate(v)), None)


def _python_socketio(value, module, target):
    """``value`` as a Loaded python-socketio app, or None when it is none."""
    if _of_class(value, "socketio", "Server"):
        app = _in_module(module, lambda v: _wsgi_server(v) is value)
        return Loaded("wsgi", app or sys.modules["socketio"].WSGIApp(value), value)
    if (server := _wsgi_server(value)) is not None:
        return Loaded("wsgi", value, server)
    if _of_class(value, "socketio", "AsyncServer"):
        return _async_server_app(value, module, target)
    if _of_class(value, "aiohttp.web", "Application"):
        server = _aiohttp_server(value)
        if server is None:
            raise LoadError(f"{target} is an aiohttp app with no python-socketio server "
                            "attached (sio.attach(app) was never called)")
        return Loaded("aiohttp", value, server)
    if (server := _asgi_server(value)) is not None:
        return Loaded("asgi", value, server)
    wrapper = _in_module(module, lambda v: _of_class(v, "engineio", "ASGIApp")
                         and v.other_asgi_app is value)
    if wrapper is not None:
        return Loaded("asgi", wrapper, wrapper.engineio_server,
                      note=f"{target} is the other_asgi_app of a socketio.ASGIApp in its "
                           "module: emitcheck serves that ASGIApp")
    return None


def _async_server_app(server, module, target):
    """An ``AsyncServer`` named itself: the app of its module that serves it,
    else the app python-socketio's docs write around it."""
    if server.async_mode == "aiohttp":
        app = _in_module(module, lambda v: _of_class(v, "aiohttp.web", "Application")
                         and _aiohttp_server(v) is server)
        if app is None:
            from aiohttp import web

            app = web.Application()
            server.attach(app)
        return Loaded("aiohttp", app, server)
    if server.async_mode == "asgi":
        app = _in_module(module, lambda v: not isinstance(v, type) and callable(v)
                         and _asgi_server(v) is server)
        return Loaded("asgi", app or sys.modules["socketio"].ASGIApp(server), server)
    raise LoadError(f"{target} is an AsyncServer in {server.async_mode} mode: emitcheck app "
                    "serves asgi (uvicorn) and aiohttp; check your server with: emitcheck "
                    "probe http://127.0.0.1:PORT --event NAME")


def _flask_socketio(value, module, target):
    """``value`` as a Loaded Flask-SocketIO app, or None when it is none."""
    flask = sys.modules.get("flask")
    flask_socketio = sys.modules.get("flask_socketio")
    if flask is None or flask_socketio is None:
        return None
    if isinstance(value, flask.Flask) and "socketio" in value.extensions:
        socketio = value.extensions["socketio"]
        return Loaded("flask_socketio", value, socketio.server, socketio)
    if isinstance(value, flask_socketio.SocketIO):
        apps = [v for v in vars(module).values()
                if isinstance(v, flask.Flask) and v.extensions.get("socketio") is value]
        if not apps:
            raise LoadError(f"{target} is a SocketIO with no Flask app in module "
                            f"{module.__name__!r}: name the Flask app or a factory instead")
        return Loaded("flask_socketio", apps[0], value.server, value)
    return None


def classify(value, module, target):
    """What the object named is, as a Loaded; LoadError saying what is valid."""
    if isinstance(value, tuple):  # a factory returning (app, socketio)
        value = next((v for v in value if _of_class(v, "flask", "Flask")), value[0])
    loaded = _flask_socketio(value, module, target) or _python_socketio(value, module, target)
    if loaded is not None:
        return loaded
    if _of_class(value, "flask", "Flask"):
        raise LoadError(f"{target} is a Flask app with no SocketIO (SocketIO(app) or "
                        "socketio.init_app(app) was never called, and its wsgi_app is no "
                        "socketio.WSGIApp)")
    if callable(value) and any(s.async_mode == "asgi" for s in _SERVERS):
        raise LoadError(f"{target} does not route to the app's python-socketio AsyncServer: "
                        "name the socketio.ASGIApp that serves it (or mount it: "
                        "app.mount('/', socketio.ASGIApp(sio)))")
    raise LoadError(f"{target} is a {type(value).__name__}, not a SocketIO object, a Flask app "
                    "or a factory returning one, nor a python-socketio app: a socketio.Server "
                    "or WSGIApp, an AsyncServer or ASGIApp, an ASGI app that mounts one, an "
                    "aiohttp app with one attached (MODULE:socketio, MODULE:app or "
                    "MODULE:create_app())")


def check_row(loaded, config):
    """A LoadError when the cell's row cannot serve this kind of app."""
    mode, target = config["mode"], config["app"]
    if loaded.asyncio and mode not in ("auto", loaded.async_mode):
        raise LoadError(f"{target} is python-socketio's AsyncServer (async_mode="
                        f"{loaded.async_mode}): serve it in auto-unpatched or "
                        f"{loaded.async_mode}-unpatched, not {mode}")
    if not loaded.asyncio and mode not in ("auto", *SYNC_MODES):
        raise LoadError(f"{target} is a WSGI app ({loaded.kind}): serve it in a sync mode "
                        f"({', '.join(SYNC_MODES)}) or auto, not {mode}")


def load(config):
    """Import the user's module, run the set-up, and return a Loaded; a factory's
    coroutine (as ``web.run_app`` accepts) is returned as ``(module, coroutine)``
    for the serving loop to await."""
    module = _import(config)
    _, _, attr = config["app"].partition(":")
    value = _resolve(module, attr or "socketio")
    if inspect.isawaitable(value):
        return module, value
    loaded = classify(value, module, config["app"])
    check_row(loaded, config)
    _setup(config, loaded.app)
    return loaded


async def made(config, module, coroutine):
    """The Loaded app that a factory's coroutine makes, awaited on the serving
    loop: an aiohttp app (``web.run_app`` awaits such a factory; uvicorn does not)."""
    loaded = classify(await coroutine, module, config["app"])
    if loaded.kind != "aiohttp":
        raise LoadError(f"{config['app']} is a coroutine that makes an app for {loaded.kind}: "
                        "only aiohttp's web.run_app awaits a factory; make it a plain function")
    check_row(loaded, config)
    _setup(config, loaded.app)
    return loaded


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


def describe(loaded, log, root=".", patched_before=False):
    """What ``check`` reports about the loaded app. ``patched_before``: this
    process was patched before the app was imported (a patched cell, a gunicorn
    worker), so a patched socket says nothing of the app's own patching."""
    server = loaded.server
    namespaces = set(getattr(server, "handlers", {}) or {}) | \
        set(getattr(server, "namespace_handlers", {}) or {})
    manager = type(getattr(server, "manager", None)).__name__
    return {"async_mode": loaded.async_mode, "app_kind": loaded.kind, "asyncio": loaded.asyncio,
            "note": loaded.note,
            "patches": None if patched_before else _patched_by_itself(),
            "patched_at": log.patched_at, "namespaces": sorted(namespaces) or ["/"],
            "queue": None if manager in ("Manager", "AsyncManager", "NoneType") else manager,
            "connections": _external_connections(), "brokers": _broker_clients(root),
            "ran_at": log.ran_at, "ran_with": log.ran_with}


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
    loaded = load(config)
    if isinstance(loaded, tuple) or loaded.asyncio:
        raise LoadError(f"{config['app']} is an asyncio app: gunicorn serves WSGI apps")
    _served(loaded, log, config, patched_before=True)
    return loaded.app


def _served(loaded, log, config, patched_before):
    log.write(kind="served", **describe(loaded, log, config["path"], patched_before))
    print(f"emitcheck app {config['app']}: {BANNER}{loaded.async_mode}", flush=True)
    log.serving = True


# --- serving: as the app's own stack serves it ---
def serve_wsgi(app, async_mode, port):
    """A ``socketio.Server``'s WSGI app, served as python-socketio's examples
    serve it in its mode (eventlet's and gevent's WSGI servers, Werkzeug with a
    thread per request), as our own server does: server_child.py, beside this
    file (it patches nothing when imported without EMITCHECK_CELL)."""
    from server_child import serve_wsgi_app  # type: ignore[import-not-found]

    serve_wsgi_app(app, async_mode, port)


def serve(loaded, log, config, port):
    """Serve the loaded app on 127.0.0.1:port as its stack does."""
    if isinstance(loaded, tuple):  # an aiohttp factory's coroutine: web.run_app awaits it
        module, coroutine = loaded

        async def app():
            made_app = await made(config, module, coroutine)
            _served(made_app, log, config, config["patch"] == "patched")
            return made_app.app

        _loops().watch(log, config["path"])
        log.serving = True
        from aiohttp import web

        return web.run_app(app(), host="127.0.0.1", port=port, print=None)
    _served(loaded, log, config, patched_before=config["patch"] == "patched")
    if loaded.kind == "flask_socketio":
        return loaded.socketio.run(loaded.app, host="127.0.0.1", port=port,
                                   allow_unsafe_werkzeug=True, use_reloader=False,
                                   debug=False, log_output=False)
    if loaded.kind == "wsgi":
        return serve_wsgi(loaded.app, loaded.async_mode, port)
    _loops().watch(log, config["path"])
    if loaded.kind == "aiohttp":
        from aiohttp import web

        return web.run_app(loaded.app, host="127.0.0.1", port=port, print=None)
    import uvicorn

    return uvicorn.run(loaded.app, host="127.0.0.1", port=port, log_level="warning")
# --- end of serving ---


def main(config, port):
    log = _instrument(config)
    try:
        loaded = load(config)
        if port == "check" and isinstance(loaded, tuple):
            import asyncio

            loaded = asyncio.new_event_loop().run_until_complete(made(config, *loaded))
    except LoadError as exc:
        if port == "check":
            print(json.dumps({"error": str(exc)}), flush=True)
            os._exit(0)
        raise SystemExit(f"emitcheck: {exc}") from None
    if port == "check":
        print(json.dumps(describe(loaded, log, config["path"])), flush=True)
        os._exit(0)  # the app may have started threads at import: do not wait for them
    try:
        serve(loaded, log, config, int(port))
    except LoadError as exc:  # a factory's coroutine, awaited by web.run_app
        raise SystemExit(f"emitcheck: {exc}") from None


if __name__ == "__main__":
    main(_CONFIG, sys.argv[2])
