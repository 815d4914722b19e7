"""The facts of every module of a project together: which server a name
stands for across modules, what a started function reaches through the calls
it makes, whether the project monkey patches, and the async mode each server
resolves to. The rules (rules.py) ask these questions; they read no AST."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from emitcheck.scan.project import Declared, Deployment, installed, resolve_auto
from emitcheck.scan.source import ModuleFacts, Patch, ServerMade
from emitcheck.scan.starts import Start
from emitcheck.scan.work import Emit, FunctionFacts, Wait

#: How deep a started function's calls are followed.
DEPTH = 4
GREEN = ("eventlet", "gevent")


@dataclass(frozen=True)
class Mode:
    """The async mode a server runs in, and how we know it."""
    value: str            # a concrete mode: threading, eventlet, gevent, asgi, aiohttp
    auto: bool            # left to auto-detection
    why: str              # "async_mode='eventlet'", "auto: eventlet is in requirements.txt"


@dataclass
class Work:
    """Background work: where it starts, what it reaches, which server it emits to."""
    module: ModuleFacts
    start: Start
    reached: list[tuple[ModuleFacts, FunctionFacts]]
    server: tuple[ModuleFacts, ServerMade] | None

    def emits(self) -> Iterator[tuple[ModuleFacts, Emit]]:
        for module, facts in self.reached:
            for emit in facts.emits:
                yield module, emit

    def waits(self) -> Iterator[tuple[ModuleFacts, Wait]]:
        for module, facts in self.reached:
            for wait in facts.waits:
                yield module, wait

    def busy(self) -> Iterator[tuple[ModuleFacts, int]]:
        for module, facts in self.reached:
            for line in facts.busy:
                yield module, line

    def wait_value(self) -> str:
        """The matrix's ``wait`` for this work: busy, time_sleep (a blocking
        call), or socketio_sleep (a yielding sleep, or none we can see)."""
        if any(True for _ in self.busy()):
            return "busy"
        if any(w.blocking for _, w in self.waits()):
            return "time_sleep"
        return "socketio_sleep"


@dataclass
class Program:
    modules: list[ModuleFacts]
    declared: Declared | None
    deployments: list[Deployment] = field(default_factory=list)
    have: Callable[[str], bool] = installed

    # -- servers ------------------------------------------------------------------

    def servers(self) -> Iterator[tuple[ModuleFacts, ServerMade]]:
        for module in self.modules:
            for server in module.servers:
                yield module, server

    def server_named(self, module: ModuleFacts, receiver: str
                     ) -> tuple[ModuleFacts, ServerMade] | None:
        """The server ``receiver`` names in ``module``: one made there, or one
        of that name made in a module of the project it imports from."""
        head, _, rest = receiver.partition(".")
        resolved = module.aliases.names.get(head, head) + (f".{rest}" if rest else "")
        last = resolved.rpartition(".")[2]
        own = [(module, s) for s in module.servers if s.name == receiver]
        if own:
            return own[-1]
        if resolved == receiver and "." not in receiver:
            return None  # a local name this module never bound to a server
        found = [(m, s) for m, s in self.servers() if s.name == last]
        return found[-1] if found else None

    def mode(self, server: ServerMade) -> Mode | None:
        """The concrete mode a server runs in; None when not a literal."""
        if isinstance(server.async_mode, str):
            return Mode(server.async_mode, False, f"async_mode={server.async_mode!r}")
        if server.async_mode is not None:
            return None
        if self.declared is not None:
            value = resolve_auto(server.library, self._declares)
            named = ", ".join(self.declared.sources)
            why = f"its dependencies ({named}) have {value}" if value in self.declared.names \
                else f"its dependencies ({named}) have neither eventlet nor gevent"
        else:
            value = resolve_auto(server.library, self.have)
            why = f"{value} is installed here (no dependency file found)" \
                if value != "threading" else "neither eventlet nor gevent is installed here"
        return Mode(value, True, f"async_mode left to auto resolves to {value}: {why}")

    def namespaces(self) -> set[str] | None:
        """Every namespace the project serves (``/`` always), or None when one of
        them cannot be read from the source (scan/namespaces.py)."""
        if any(m.served.unknown is not None for m in self.modules):
            return None
        return {"/"}.union(*(m.served.names for m in self.modules))

    def _declares(self, name: str) -> bool:
        return bool(self.declared and name in self.declared.names)

    # -- patching -----------------------------------------------------------------

    def patches(self) -> list[tuple[ModuleFacts, Patch]]:
        return [(m, p) for m in self.modules for p in m.patches]

    def patched(self) -> bool:
        """Something patches the process: a monkey patch (first or not: a late one
        is its own finding), or a green gunicorn worker."""
        return bool(self.patches()) or any(d.what == "green" for d in self.deployments)

    # -- work ---------------------------------------------------------------------

    def function(self, module: ModuleFacts, name: str
                 ) -> tuple[ModuleFacts, FunctionFacts] | None:
        name = name.removeprefix("self.")
        if name in module.functions:
            return module, module.functions[name]
        resolved = module.aliases.names.get(name.partition(".")[0])
        if resolved is None:
            return None
        dotted = resolved + name[len(name.partition(".")[0]):]
        where, _, func = dotted.rpartition(".")
        for other in self.modules:
            if other.module == where.lstrip(".") or other.module.endswith("." + where.lstrip(".")):
                if func in other.functions:
                    return other, other.functions[func]
        return None

    def reach(self, module: ModuleFacts, name: str) -> list[tuple[ModuleFacts, FunctionFacts]]:
        """The function ``name`` and those it calls, DEPTH calls deep."""
        first = self.function(module, name)
        if first is None:
            return []
        found = [first]
        seen = {(first[0].module, first[1].name)}
        frontier = [first]
        for _ in range(DEPTH):
            nxt = []
            for where, facts in frontier:
                for called in facts.calls:
                    hit = self.function(where, called)
                    if hit and (hit[0].module, hit[1].name) not in seen:
                        seen.add((hit[0].module, hit[1].name))
                        nxt.append(hit)
            found.extend(nxt)
            frontier = nxt
        return found

    def works(self) -> list[Work]:
        found = []
        for module in self.modules:
            for start in module.starts:
                reached = self.reach(module, start.target) if start.target else []
                server = self.server_named(module, start.receiver) if start.receiver else None
                work = Work(module, start, reached, server)
                if work.server is None:
                    work.server = next((hit for m, e in work.emits()
                                        if (hit := self.server_named(m, e.receiver))), None)
                found.append(work)
        return found
