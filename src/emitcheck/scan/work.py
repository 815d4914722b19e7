"""What one function does, as the matrix's factors see it: the emits it makes
(and whether it awaits them), how it waits (``time.sleep`` and other blocking
calls; a server's ``sleep``, ``eventlet.sleep``, ``await asyncio.sleep``:
yielding), its CPU loops that never yield, and the names it calls (program.py
follows them into the functions they name)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from emitcheck.scan.names import Aliases, keyword, value

#: Calls that block their thread as ``time.sleep`` does: under an unpatched hub
#: or an event loop, the whole server waits with them (the ``time_sleep`` cells).
BLOCKING = frozenset({
    "time.sleep", "requests.get", "requests.post", "requests.put", "requests.delete",
    "requests.patch", "requests.head", "requests.request", "urllib.request.urlopen",
    "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
    "os.system", "socket.create_connection", "input",
})
#: What a CPU loop may call and still never yield: pure builtins and modules.
_CPU_CALLS = frozenset({
    "abs", "all", "any", "bool", "bytes", "dict", "divmod", "enumerate", "float", "hash",
    "int", "isinstance", "len", "list", "max", "min", "pow", "range", "repr", "reversed",
    "round", "set", "sorted", "str", "sum", "tuple", "zip", "json.dumps", "json.loads",
    "time.perf_counter", "time.time", "time.monotonic", "time.process_time",
})
_CPU_MODULES = ("math.", "random.", "hashlib.", "statistics.", "itertools.", "operator.")
#: Methods of builtin containers and strings (never a queue's get or a thread's join).
_CPU_METHODS = frozenset({
    "append", "extend", "insert", "pop", "format", "split", "strip", "items", "keys",
    "values", "copy", "add", "discard", "lower", "upper", "replace", "encode", "decode",
    "hexdigest", "digest",
})
#: The methods of a server that send (an AsyncServer's are coroutines).
EMIT_METHODS = frozenset({"emit", "send"})


@dataclass(frozen=True)
class Emit:
    line: int
    receiver: str        # the dotted name the method is called on: "socketio", "sio"
    how: str             # awaited, bare (a statement, not awaited), asyncio_run,
    #                      threadsafe, or passed (to create_task, gather, ...)
    loop: str | None = None  # run_coroutine_threadsafe's loop, as a name
    namespace: object = None  # its namespace= (a string), None, or ... (unknown)
    method: str = "emit"      # emit or send


@dataclass(frozen=True)
class Wait:
    line: int
    call: str            # the dotted name called: "time.sleep", "socketio.sleep"
    blocking: bool       # blocks its thread (time.sleep, requests.get, ...)


@dataclass
class FunctionFacts:
    name: str            # "work", "Worker.run", "<module>"
    line: int
    is_async: bool
    emits: list[Emit] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)   # lines of loops that never yield
    calls: list[str] = field(default_factory=list)  # dotted names called


_OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _own_nodes(body: list[ast.stmt]):
    """The nodes of a body, not those of the functions and classes it defines."""
    stack: list[ast.AST] = [n for n in reversed(body) if not isinstance(n, _OWNERS)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _OWNERS))


def analyze(name: str, node: ast.AST, body: list[ast.stmt], aliases: Aliases,
            constants: dict[str, object]) -> FunctionFacts:
    facts = FunctionFacts(name, getattr(node, "lineno", 1),
                          isinstance(node, ast.AsyncFunctionDef))
    own = list(_own_nodes(body))
    wrapped = _wrapped_emits(own, aliases)
    for sub in own:
        if isinstance(sub, ast.Call):
            called = aliases.dotted(sub.func)
            if called is None:
                continue
            facts.calls.append(called)
            receiver, _, method = called.rpartition(".")
            if method in EMIT_METHODS and receiver:
                how, loop = wrapped.get(id(sub), ("passed", None))
                namespace = value(keyword(sub, "namespace"), constants)
                facts.emits.append(Emit(sub.lineno, receiver, how, loop, namespace, method))
            elif called in BLOCKING:
                facts.waits.append(Wait(sub.lineno, called, True))
            elif method == "sleep" and receiver:
                facts.waits.append(Wait(sub.lineno, called, False))
        elif isinstance(sub, ast.While) and _never_yields(sub, aliases):
            facts.busy.append(sub.lineno)
    return facts


def _wrapped_emits(own: list[ast.AST], aliases: Aliases) -> dict[int, tuple[str, str | None]]:
    """How each emit call is used: awaited, a bare statement, or handed to
    asyncio.run / run_coroutine_threadsafe (by the id of its Call node)."""
    found: dict[int, tuple[str, str | None]] = {}
    for sub in own:
        if isinstance(sub, ast.Await) and isinstance(sub.value, ast.Call):
            found[id(sub.value)] = ("awaited", None)
        elif isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Call):
            found.setdefault(id(sub.value), ("bare", None))
        elif isinstance(sub, ast.Call) and sub.args:
            called = aliases.dotted(sub.func) or ""
            if called == "asyncio.run":
                found[id(sub.args[0])] = ("asyncio_run", None)
            elif called == "asyncio.run_coroutine_threadsafe":
                loop = sub.args[1] if len(sub.args) > 1 else next(
                    (k.value for k in sub.keywords if k.arg == "loop"), None)
                found[id(sub.args[0])] = ("threadsafe",
                                          aliases.dotted(loop) if loop is not None else None)
    return found


def _never_yields(loop: ast.While, aliases: Aliases) -> bool:
    """A ``while`` loop whose every call is pure CPU work (or an emit, which
    queues a packet and returns): it never gives the hub or the loop a turn.
    An ``await``, a sleep or any call we do not know makes it not one."""
    for sub in _own_nodes([loop]):
        if isinstance(sub, (ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(sub, ast.Call):
            called = aliases.dotted(sub.func)
            if called is None:
                return False
            method = called.rpartition(".")[2]
            if called in _CPU_CALLS or called.startswith(_CPU_MODULES):
                continue
            if "." in called and method in (_CPU_METHODS | EMIT_METHODS):
                continue
            return False
    return True
