"""What a name in a module stands for, from its imports: ``sleep`` after
``from time import sleep`` is ``time.sleep``, ``sio.Server`` after ``import
socketio as sio`` is ``socketio.Server``. Only imports are followed (no
assignment, no call): what the AST says, never what running it would."""

from __future__ import annotations

import ast
from collections.abc import Iterable


class Aliases:
    """The names a module's imports bind, anywhere in it (imports inside a
    function count for the whole module: a name means one thing in practice)."""

    def __init__(self, nodes: Iterable[ast.AST]):
        self.names: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.names[alias.asname] = alias.name
                    else:
                        top = alias.name.partition(".")[0]
                        self.names.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                for alias in node.names:
                    if alias.name != "*":
                        joined = f"{base}.{alias.name}" if base and not base.endswith(".") \
                            else f"{base}{alias.name}"
                        self.names[alias.asname or alias.name] = joined

    def dotted(self, node: ast.AST) -> str | None:
        """``a.b.c`` for a chain of attributes on a name, the name resolved
        through the imports (a local name stays as it is); None for anything
        else (a call, a subscript)."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.names.get(node.id, node.id))
        return ".".join(reversed(parts))

    def imports(self, module: str) -> bool:
        """Does the module import ``module`` (or something from it)?"""
        return any(v == module or v.startswith(module + ".") for v in self.names.values())


def call_name(aliases: Aliases, node: ast.AST) -> str | None:
    """The dotted name a call calls, or None (not a call, or not a plain name)."""
    return aliases.dotted(node.func) if isinstance(node, ast.Call) else None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def literal(node: ast.AST | None) -> object:
    """The value of a literal (a string, a number, None), or ``...`` when it is
    not one (a variable, a call): unknown statically."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return ...


def constants(tree: ast.Module) -> dict[str, object]:
    """Module-level names assigned a literal once (``async_mode = "eventlet"``, as
    the examples of Flask-SocketIO and python-socketio write it)."""
    found: dict[str, object] = {}
    twice: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in found:
                twice.add(name)
            found[name] = literal(node.value)
    return {k: v for k, v in found.items() if k not in twice and v is not ...}


def value(node: ast.AST | None, known: dict[str, object]) -> object:
    """``literal``, or the literal a module constant (``constants``) holds."""
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    return literal(node)
