"""The facts read from one module's AST: where a Socket.IO server is made (and
its ``async_mode``, ``message_queue`` or ``client_manager``), whether and where
it monkey patches (the first statement or not), how background work starts
(threads, timers, executors, APScheduler jobs, ``start_background_task``,
``run_in_executor``, processes, Celery tasks), a loop captured at import, the
worker count it asks a server for, the namespaces it serves (namespaces.py),
and what each of its functions does (work.py)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from emitcheck.scan import namespaces, starts
from emitcheck.scan.names import Aliases, call_name, constants, keyword, literal, value
from emitcheck.scan.work import FunctionFacts, analyze

#: The classes that make a server, and the library each is.
SERVER_CLASSES = {
    "flask_socketio.SocketIO": "flask_socketio",
    "socketio.Server": "python_socketio",
    "socketio.server.Server": "python_socketio",
    "socketio.AsyncServer": "async_server",
    "socketio.async_server.AsyncServer": "async_server",
}
#: python-socketio's client managers: made with write_only=True, an emitter for
#: another process (it has no clients of its own).
MANAGERS = frozenset({f"socketio.{m}" for m in (
    "RedisManager", "KombuManager", "KafkaManager", "ZmqManager", "AsyncRedisManager",
    "AsyncAioPikaManager")})
#: What monkey patches, and with which library.
PATCH_CALLS = {"eventlet.monkey_patch": "eventlet", "gevent.monkey.patch_all": "gevent",
               "eventlet.patcher.monkey_patch": "eventlet"}
#: What makes a loop at import that a server never runs.
IMPORT_LOOPS = frozenset({"asyncio.get_event_loop", "asyncio.new_event_loop"})


@dataclass
class ServerMade:
    line: int
    name: str | None         # the name it is bound to ("socketio", "sio")
    library: str             # flask_socketio, python_socketio, async_server
    async_mode: object       # a string, None (auto), or ... (not a literal)
    queue: bool              # message_queue= or client_manager= given
    has_app: bool            # serves an app (SocketIO(app) / init_app), not an emitter


@dataclass(frozen=True)
class Patch:
    line: int
    library: str
    first: bool              # the module's first statement (after its docstring)


@dataclass
class ModuleFacts:
    path: Path
    module: str                       # its dotted name from the scan's root
    aliases: Aliases
    servers: list[ServerMade] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    starts: list[starts.Start] = field(default_factory=list)
    functions: dict[str, FunctionFacts] = field(default_factory=dict)
    import_loops: dict[str, int] = field(default_factory=dict)  # name -> line
    workers: list[tuple[int, int, str]] = field(default_factory=list)  # line, count, how
    #: ``run_coroutine_threadsafe``/``call_soon_threadsafe`` calls: line, the loop's name
    threadsafe: list[tuple[int, str]] = field(default_factory=list)
    served: namespaces.Served = field(default_factory=namespaces.Served)
    is_main: bool = False             # has ``if __name__ == "__main__":``


def read(path: Path, module: str, tree: ast.Module) -> ModuleFacts:
    nodes = list(ast.walk(tree))  # once: every question below reads this list
    aliases = Aliases(nodes)
    facts = ModuleFacts(path, module, aliases)
    known = constants(tree)
    facts.functions["<module>"] = analyze("<module>", tree, tree.body, aliases, known)
    _functions(tree, aliases, facts, known)
    facts.patches = _patches(tree, nodes, aliases)
    bound = assignments(nodes, aliases)
    for node in nodes:
        if isinstance(node, ast.Call):
            _server(node, aliases, facts, bound.get(id(node)), known)
            _workers(node, aliases, facts)
            _threadsafe(node, aliases, facts)
        elif isinstance(node, ast.If) and _is_main_guard(node.test):
            facts.is_main = True
    facts.starts = starts.find(nodes, aliases)
    facts.served = namespaces.find(nodes, aliases, known,
                                   {s.name for s in facts.servers if s.name})
    for node in tree.body:  # module level only: a loop taken at import
        if isinstance(node, ast.Assign) and call_name(aliases, node.value) in IMPORT_LOOPS:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    facts.import_loops[target.id] = node.lineno
    return facts


def _functions(tree: ast.Module, aliases: Aliases, facts: ModuleFacts,
               known: dict[str, object]) -> None:
    """Every function, by its name and, for a method, ``Class.name`` too."""
    def visit(body: list[ast.stmt], owner: str | None) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = f"{owner}.{node.name}" if owner else node.name
                found = analyze(qualified, node, node.body, aliases, known)
                facts.functions[qualified] = found
                facts.functions.setdefault(node.name, found)
                visit(node.body, None)  # nested functions, by their own name
            elif isinstance(node, ast.ClassDef):
                visit(node.body, node.name)
            else:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        visit([child], owner)
    visit(tree.body, None)


def _server(node: ast.Call, aliases: Aliases, facts: ModuleFacts, name: str | None,
            known: dict[str, object]) -> None:
    called = call_name(aliases, node) or ""
    library = SERVER_CLASSES.get(called)
    if called in MANAGERS and literal(keyword(node, "write_only")) is True:
        facts.servers.append(ServerMade(node.lineno, name, "python_socketio", ..., True, False))
        return
    if library is None:
        if called.endswith(".init_app"):
            _init_app(node, called.rpartition(".")[0], facts)
        return
    has_app = bool(node.args) or keyword(node, "app") is not None
    if library != "flask_socketio":
        has_app = True  # a python-socketio server serves by itself (WSGIApp, ASGIApp)
    manager = keyword(node, "client_manager")
    write_only = manager is not None and _write_only(manager)
    facts.servers.append(ServerMade(
        node.lineno, name, library, value(keyword(node, "async_mode"), known),
        keyword(node, "message_queue") is not None or manager is not None,
        has_app and not write_only))


def _write_only(manager: ast.expr) -> bool:
    """``client_manager=RedisManager(url, write_only=True)``: an emitter."""
    return isinstance(manager, ast.Call) and literal(keyword(manager, "write_only")) is True


def _init_app(node: ast.Call, receiver: str, facts: ModuleFacts) -> None:
    """``socketio.init_app(app, async_mode=..., message_queue=...)`` completes the
    ``SocketIO()`` made without an app (a factory)."""
    for server in facts.servers:
        if server.name == receiver and server.library == "flask_socketio":
            server.has_app = True
            mode = literal(keyword(node, "async_mode"))
            if mode is not None:
                server.async_mode = mode
            server.queue = server.queue or keyword(node, "message_queue") is not None


def assignments(nodes: list[ast.AST], aliases: Aliases) -> dict[int, str]:
    """The name each assigned value is bound to, by the value's id
    (``sio = socketio.AsyncServer()``: "sio"; ``self.sio = ...``: "sio")."""
    bound: dict[int, str] = {}
    for node in nodes:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = aliases.dotted(target)
                if name:
                    bound[id(node.value)] = name.removeprefix("self.")
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            bound[id(node.context_expr)] = node.optional_vars.id
    return bound


def _patches(tree: ast.Module, nodes: list[ast.AST], aliases: Aliases) -> list[Patch]:
    """Every monkey patch; ``first`` when it is the module's first statement (a
    docstring, ``from __future__`` and the import of the patching library itself
    may come before it)."""
    first_line = None
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _imports_patcher(node):
            continue
        first_line = node.lineno
        break
    found = []
    for call in nodes:
        library = PATCH_CALLS.get(call_name(aliases, call) or "")
        if library and isinstance(call, ast.Call):
            found.append(Patch(call.lineno, library, call.lineno == first_line))
    return found


def _imports_patcher(node: ast.Import | ast.ImportFrom) -> bool:
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
        [a.name for a in node.names]
    return all(n.partition(".")[0] in ("eventlet", "gevent") for n in names)


def _workers(node: ast.Call, aliases: Aliases, facts: ModuleFacts) -> None:
    """``uvicorn.run(app, workers=2)`` and the like: several server processes."""
    called = call_name(aliases, node) or ""
    if called in ("uvicorn.run", "hypercorn.run"):
        count = literal(keyword(node, "workers"))
        if isinstance(count, int) and count > 1:
            facts.workers.append((node.lineno, count, f"{called}(..., workers={count})"))


def _threadsafe(node: ast.Call, aliases: Aliases, facts: ModuleFacts) -> None:
    called = call_name(aliases, node) or ""
    loop: ast.expr | None = None
    if called == "asyncio.run_coroutine_threadsafe":
        loop = node.args[1] if len(node.args) > 1 else keyword(node, "loop")
    elif called.endswith(".call_soon_threadsafe") and isinstance(node.func, ast.Attribute):
        loop = node.func.value
    name = aliases.dotted(loop) if loop is not None else None
    if name:
        facts.threadsafe.append((node.lineno, name))


def _is_main_guard(test: ast.expr) -> bool:
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and \
        test.left.id == "__name__" and any(
            isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
