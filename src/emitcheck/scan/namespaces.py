"""The Socket.IO namespaces a module serves, read from its source: the
``namespace=`` of its handlers (``@sio.on(..., namespace=...)``,
``sio.on_event(...)``, ``@sio.event(namespace=...)``), the namespace of each
class-based namespace it registers (``on_namespace(MyNamespace("/chat"))``,
``register_namespace(...)``), and a server's ``namespaces=[...]`` option (which
accepts connections without a handler). ``/`` is always served.

Anything we cannot read as a string (a variable, ``namespaces="*"``, a namespace
object made elsewhere) makes the module's namespaces unknown: a rule must then
find nothing, rather than guess.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from emitcheck.scan.names import Aliases, call_name, keyword, value

#: A server method that registers a handler, and where its namespace is given.
_HANDLERS = ("on", "on_event", "event")
#: The servers whose ``namespaces=`` option accepts namespaces without a handler.
_SERVERS = frozenset({"flask_socketio.SocketIO", "socketio.Server", "socketio.AsyncServer"})
#: A server method that registers a class-based namespace (an instance).
_REGISTERS = ("on_namespace", "register_namespace")


@dataclass
class Served:
    names: dict[str, int] = field(default_factory=dict)  # namespace -> line registered
    unknown: int | None = None   # the line of the first one we cannot read

    def add(self, value: object, line: int) -> None:
        if isinstance(value, str) and value != "*":
            self.names.setdefault(value, line)
        elif self.unknown is None:
            self.unknown = line


def find(nodes: list[ast.AST], aliases: Aliases, constants: dict[str, object],
         server_names: set[str]) -> Served:
    """What the module serves; ``server_names``: the names its servers are bound
    to (a handler is only a server's when its receiver is one of them, or when
    the module makes no server: it may register on one made elsewhere)."""
    served = Served()
    made = _instances(nodes, constants)
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        called = call_name(aliases, node) or ""
        receiver, _, method = called.rpartition(".")
        if method in _HANDLERS and _a_server(receiver, server_names):
            given = keyword(node, "namespace")
            if given is not None:
                served.add(value(given, constants), node.lineno)
        elif method in _REGISTERS and node.args:
            served.add(_namespace_of(node.args[0], made, constants), node.lineno)
        elif called in _SERVERS and (option := keyword(node, "namespaces")) is not None:
            listed = value(option, constants)
            for each in listed if isinstance(listed, (list, tuple)) else [listed]:
                served.add(each, node.lineno)
    return served


def _a_server(receiver: str, server_names: set[str]) -> bool:
    name = receiver.removeprefix("self.")
    return bool(name) and (not server_names or name in server_names)


def _instances(nodes: list[ast.AST], constants: dict[str, object]) -> dict[str, object]:
    """``chat = ChatNamespace("/chat")``: the namespace each such name holds."""
    found: dict[str, object] = {}
    for node in nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = _namespace_of(node.value, {}, constants)
    return found


def _namespace_of(node: ast.expr, made: dict[str, object],
                  constants: dict[str, object]) -> object:
    """The namespace of a Namespace instance: its first argument or ``namespace=``."""
    if isinstance(node, ast.Name):
        return made.get(node.id, ...)
    if isinstance(node, ast.Call):
        given = node.args[0] if node.args else keyword(node, "namespace")
        return value(given, constants) if given is not None else "/"  # Namespace()
    return ...

