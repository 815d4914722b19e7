"""Where the code does what a rule's cells do (rules.py lists the rules).

A matcher yields a ``Match``: where, what it saw, and the cell of the app's own
row, most specific first (with the app's queue and library as suffixes, then
without the ones our matrix has no such cell for): findings.py takes the first
that is a cell and judges it by our measured verdict. A matcher never judges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emitcheck.scan.program import GREEN, Mode, Program, Work
from emitcheck.scan.source import ModuleFacts, ServerMade
from emitcheck.scan.work import FunctionFacts

SYNC = ("flask_socketio", "python_socketio")


@dataclass(frozen=True)
class Match:
    path: Path
    line: int
    cells: tuple[str, ...]        # candidates, most specific first
    detail: str                   # what the code does here, in words
    resolved: str | None = None   # what an auto cell resolves to


def _cells(mode: str, patch: str, spawn: str, wait: str, server: ServerMade,
           *extra: str) -> tuple[str, ...]:
    base = "-".join((mode, patch, spawn, wait, *extra))
    queue = "-redis" if server.queue else ""
    library = "-python_socketio" if server.library == "python_socketio" else ""
    return tuple(dict.fromkeys((base + queue + library, base + queue, base + library, base)))


def _where(module: ModuleFacts, line: int) -> str:
    return f"{module.path.name}:{line}"


def _row(program: Program, server: ServerMade) -> tuple[Mode, str] | None:
    """The server's mode and the patch value of its cells, or None (unknown mode)."""
    mode = program.mode(server)
    if mode is None:
        return None
    patched = program.patched() and mode.value in GREEN
    return mode, "patched" if patched else "unpatched"


def _patching(patch: str) -> str:
    return "monkey patched" if patch == "patched" else "with nothing monkey patched"


def _emits_to_server(program: Program, work: Work) -> tuple[ModuleFacts, int] | None:
    for module, emit in work.emits():
        if program.server_named(module, emit.receiver):
            return module, emit.line
    return None


def _sync_works(program: Program, kinds: tuple[str, ...]) -> Iterator[tuple[Work, ServerMade]]:
    for work in program.works():
        if work.start.kind in kinds and work.server and work.server[1].library in SYNC:
            yield work, work.server[1]


def thread_emits_unpatched(program: Program) -> Iterator[Match]:
    if program.patched():
        return
    for work, server in _sync_works(program, ("thread",)):
        row, emit = _row(program, server), _emits_to_server(program, work)
        if row is None or row[0].value not in GREEN or emit is None:
            continue
        mode, patch = row
        yield Match(work.module.path, work.start.line,
                    _cells(mode.value, patch, "thread", work.wait_value(), server),
                    f"{work.start.how} runs {work.start.target}, which emits at "
                    f"{_where(*emit)}, in {mode.value} mode with nothing monkey patched "
                    f"({mode.why})")


def blocking_wait_in_task(program: Program) -> Iterator[Match]:
    for work, server in _sync_works(program, ("task",)):
        row = _row(program, server)
        if row is None:
            continue
        mode, patch = row
        for module, wait in work.waits():
            if wait.blocking:
                yield Match(module.path, wait.line,
                            _cells(mode.value, patch, "task", "time_sleep", server),
                            f"{wait.call} in work started with {work.start.how} at "
                            f"{_where(work.module, work.start.line)}, in {mode.value} mode "
                            f"{_patching(patch)} ({mode.why})")


def cpu_loop(program: Program) -> Iterator[Match]:
    unpatched = not program.patched()
    for work, server in _sync_works(program, ("task", "thread")):
        row = _row(program, server)
        if row is None or (work.start.kind == "thread" and unpatched and
                           row[0].value in GREEN):
            continue  # an unpatched OS thread that emits: ECK101 says it
        mode, patch = row
        for module, line in work.busy():
            yield Match(module.path, line,
                        _cells(mode.value, patch, work.start.kind, "busy", server),
                        f"a loop that never yields, in work started with {work.start.how} "
                        f"at {_where(work.module, work.start.line)}, in {mode.value} mode "
                        f"{_patching(patch)}")
    for module, facts, server, mode in _coroutines(program):
        for line in facts.busy:
            yield Match(module.path, line, _cells(mode.value, "unpatched", "task", "busy", server),
                        f"a loop that never awaits, in the coroutine {facts.name}, in "
                        f"{mode.value} mode")


def patch_not_first(program: Program) -> Iterator[Match]:
    for module, patch in program.patches():
        if patch.first:
            continue
        for work, server in _sync_works(program, ("thread", "task")):
            mode = program.mode(server)
            value = mode.value if mode and mode.value in GREEN else patch.library
            yield Match(module.path, patch.line,
                        _cells(value, "unpatched", work.start.kind, work.wait_value(), server),
                        f"{patch.library} monkey patches at line {patch.line}, after other "
                        f"statements: the work started with {work.start.how} at "
                        f"{_where(work.module, work.start.line)} is then as if unpatched")


def other_process_app_server(program: Program) -> Iterator[Match]:
    for work, server in _sync_works(program, ("celery", "process")):
        row = _row(program, server)
        if row is None or server.queue or not server.has_app:
            continue
        mode, patch = row
        what = "a Celery task" if work.start.kind == "celery" else work.start.how
        yield Match(work.module.path, work.start.line,
                    _cells(mode.value, patch, "celery_app", "time_sleep", server, "prefork"),
                    f"{what} ({work.start.target}) runs in another process and emits with the "
                    f"app's server, made without message_queue at "
                    f"{_where(*_made(program, server))}")


def emitter_without_queue(program: Program) -> Iterator[Match]:
    emitters = [(m, s) for m, s in program.servers() if s.queue and not s.has_app]
    if not emitters:
        return
    for module, server in program.servers():
        row = _row(program, server)
        if row is None or server.queue or not server.has_app:
            continue
        mode, patch = row
        cells = _cells(mode.value, patch, "celery", "time_sleep", server, "prefork")
        if server.library == "async_server":  # measured under uvicorn (aiohttp: the same loop)
            cells += ("asgi-unpatched-celery-time_sleep-prefork",)
        yield Match(module.path, server.line, cells,
                    f"{_where(emitters[0][0], emitters[0][1].line)} emits through a message "
                    "queue, but this server has no message_queue: it never hears those emits")


def auto_mode_green(program: Program) -> Iterator[Match]:
    if program.patched():
        return
    for work, server in _sync_works(program, ("thread", "task")):
        mode = program.mode(server)
        if mode is None or not mode.auto or mode.value not in GREEN:
            continue
        module = _made(program, server)[0]
        yield Match(module.path, server.line,
                    _cells("auto", "unpatched", work.start.kind, work.wait_value(), server),
                    f"{mode.why}; the work started with {work.start.how} at "
                    f"{_where(work.module, work.start.line)} then runs in {mode.value} mode",
                    resolved=mode.value)


def workers_without_manager(program: Program) -> Iterator[Match]:
    web = [(m, s) for m, s in program.servers() if s.has_app and not s.queue]
    if not web:
        return
    module, server = web[0]
    row = _row(program, server)
    if row is None:
        return
    mode, patch = row
    evidence = "asgi" if server.library == "async_server" else "threading"
    cells = (*_cells(mode.value, patch, "task", "socketio_sleep", server, "two_ip_hash"),
             f"{evidence}-unpatched-task-socketio_sleep-two_ip_hash")
    places = [(d.path, d.line, d.text) for d in program.deployments if d.what == "workers"]
    places += [(m.path, line, how) for m in program.modules for line, _, how in m.workers]
    for path, line, text in places:
        yield Match(path, line, cells, f"{text!r} runs several server processes, and the "
                    f"server made at {_where(module, server.line)} has no message queue")


def emit_not_awaited(program: Program) -> Iterator[Match]:
    yield from _async_emits(program, "bare", "unawaited-socketio_sleep",
                            "{receiver}.emit(...) is not awaited: a coroutine that never runs")


def asyncio_run_emit(program: Program) -> Iterator[Match]:
    yield from _async_emits(program, "asyncio_run", "thread_asyncio_run-time_sleep",
                            "asyncio.run({receiver}.emit(...)) sends from a loop of its own")


def _async_emits(program: Program, how: str, cell: str, said: str) -> Iterator[Match]:
    for module in program.modules:
        for facts in _unique(module):
            for emit in facts.emits:
                found = program.server_named(module, emit.receiver) if emit.how == how else None
                if found is None or found[1].library != "async_server":
                    continue
                mode = program.mode(found[1])
                if mode is not None:
                    yield Match(module.path, emit.line, (f"{mode.value}-unpatched-{cell}",),
                                said.format(receiver=emit.receiver) + f" ({mode.value} mode)")


def import_loop(program: Program) -> Iterator[Match]:
    server = _async_server(program)
    if server is None:
        return
    for module in program.modules:
        for line, loop in module.threadsafe:
            made = _import_loop_of(program, module, loop)
            if made is None:
                continue
            yield Match(module.path, line,
                        (f"{server[1].value}-unpatched-thread_import_loop-time_sleep",),
                        f"hands coroutines to {loop}, the loop taken at import at "
                        f"{_where(*made)}, which the {server[1].value} server never runs")


def blocking_in_coroutine(program: Program) -> Iterator[Match]:
    for module, facts, server, mode in _coroutines(program):
        for wait in facts.waits:
            if wait.blocking:
                yield Match(module.path, wait.line,
                            _cells(mode.value, "unpatched", "task", "time_sleep", server),
                            f"{wait.call} in the coroutine {facts.name} blocks the event loop "
                            f"({mode.value} mode)")


def emit_to_unserved_namespace(program: Program) -> Iterator[Match]:
    served = program.namespaces()
    if served is None:
        return
    works = {(m.path, e.line): w for w in program.works() for m, e in w.emits()}
    for module in program.modules:
        for facts in _unique(module):
            for emit in facts.emits:
                found = program.server_named(module, emit.receiver) \
                    if isinstance(emit.namespace, str) and emit.namespace not in served else None
                row = _row(program, found[1]) if found else None
                if found is None or row is None:
                    continue
                (mode, patch), server = row, found[1]
                work = works.get((module.path, emit.line))
                own = _cells(mode.value, patch, work.start.kind, work.wait_value(), server,
                             "other_namespace") \
                    if work and work.start.kind in ("thread", "task") else ()
                yield Match(module.path, emit.line,
                            (*own, f"{mode.value}-{patch}-task-socketio_sleep-other_namespace"),
                            f"{emit.receiver}.{emit.method}(..., namespace={emit.namespace!r}) "
                            f"goes to a namespace the project has no handler for (it serves "
                            f"{', '.join(sorted(served))}): no client can be there")


# -- helpers ---------------------------------------------------------------------------

def _unique(module: ModuleFacts) -> list[FunctionFacts]:
    return list({id(f): f for f in module.functions.values()}.values())


def _made(program: Program, server: ServerMade) -> tuple[ModuleFacts, int]:
    for module, made in program.servers():
        if made is server:
            return module, made.line
    raise LookupError(server)


def _async_server(program: Program) -> tuple[ServerMade, Mode] | None:
    for _, server in program.servers():
        if server.library == "async_server" and server.has_app:
            mode = program.mode(server)
            if mode is not None:
                return server, mode
    return None


def _coroutines(program: Program) -> Iterator[tuple[ModuleFacts, FunctionFacts, ServerMade, Mode]]:
    """Every coroutine of a project that serves an AsyncServer (they share its loop)."""
    found = _async_server(program)
    if found is None:
        return
    server, mode = found
    for module in program.modules:
        for facts in _unique(module):
            if facts.is_async:
                yield module, facts, server, mode


def _import_loop_of(program: Program, module: ModuleFacts, loop: str
                    ) -> tuple[ModuleFacts, int] | None:
    if loop in module.import_loops:
        return module, module.import_loops[loop]
    resolved = module.aliases.names.get(loop)
    if resolved is None:
        return None
    where, _, name = resolved.rpartition(".")
    for other in program.modules:
        if name in other.import_loops and other.module.endswith(where.lstrip(".")):
            return other, other.import_loops[name]
    return None
