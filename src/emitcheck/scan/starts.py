"""Where a module starts background work, and what runs it: the ``spawn``
factor of the matrix, read from the source.

- ``thread``: an OS thread: ``threading.Thread``, ``threading.Timer``, a
  ``Thread`` subclass's ``run``, a ``ThreadPoolExecutor``'s ``submit``/``map``,
  an APScheduler job (its default executor is a thread pool);
- ``task``: ``start_background_task`` on a server (a greenlet, a thread or a
  coroutine, as the server's mode makes it);
- ``executor``: ``loop.run_in_executor`` or ``asyncio.to_thread`` (an OS
  thread handed out by the event loop);
- ``process``: ``multiprocessing.Process``, a process pool;
- ``celery``: a Celery task (runs in a worker process).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from emitcheck.scan.names import Aliases, keyword

_EXECUTORS = {"concurrent.futures.ThreadPoolExecutor": "thread",
              "concurrent.futures.thread.ThreadPoolExecutor": "thread",
              "concurrent.futures.ProcessPoolExecutor": "process",
              "concurrent.futures.process.ProcessPoolExecutor": "process",
              "multiprocessing.Pool": "process", "multiprocessing.pool.ThreadPool": "thread"}
#: APScheduler's schedulers whose jobs run in a thread pool (Flask-APScheduler's
#: APScheduler wraps a BackgroundScheduler).
_SCHEDULERS = frozenset({"apscheduler.schedulers.background.BackgroundScheduler",
                         "apscheduler.schedulers.blocking.BlockingScheduler",
                         "flask_apscheduler.APScheduler"})
_THREADS = {"threading.Thread": ("target", 1), "threading.Timer": ("function", 1),
            "multiprocessing.Process": ("target", 1)}


@dataclass(frozen=True)
class Start:
    line: int
    kind: str                 # thread, task, executor, process, celery
    how: str                  # what the source calls: "threading.Thread", ...
    target: str | None        # the function it runs, as a dotted name
    receiver: str | None = None  # start_background_task's server name


def find(nodes: list[ast.AST], aliases: Aliases) -> list[Start]:
    made = _made(nodes, aliases)
    found: list[Start] = []
    for node in nodes:
        if isinstance(node, ast.Call):
            start = _call(node, aliases, made)
            if start:
                found.append(start)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.extend(_decorated(node, aliases, made))
        elif isinstance(node, ast.ClassDef) and _is_thread_class(node, aliases):
            found.append(Start(node.lineno, "thread", f"{node.name}(threading.Thread)",
                               f"{node.name}.run"))
    return found


def _made(nodes: list[ast.AST], aliases: Aliases) -> dict[str, str]:
    """Names bound to an executor or a scheduler, and what runs their work."""
    made: dict[str, str] = {}
    for node in nodes:
        value, names = None, []
        if isinstance(node, ast.Assign):
            value, names = node.value, [aliases.dotted(t) for t in node.targets]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            value, names = node.context_expr, [aliases.dotted(node.optional_vars)]
        if not isinstance(value, ast.Call):
            continue
        called = aliases.dotted(value.func) or ""
        kind = _EXECUTORS.get(called) or ("scheduler" if called in _SCHEDULERS else None)
        for name in names:
            if kind and name:
                made[name.removeprefix("self.")] = kind
    return made


def _call(node: ast.Call, aliases: Aliases, made: dict[str, str]) -> Start | None:
    called = aliases.dotted(node.func)
    if called is None:  # ThreadPoolExecutor().submit(work): the executor made in place
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            kind = _EXECUTORS.get(aliases.dotted(node.func.value.func) or "")
            if kind and node.func.attr in ("submit", "map") and node.args:
                return Start(node.lineno, kind, f"executor.{node.func.attr}",
                             _target(node.args[0], aliases))
        return None
    if called in _THREADS:
        name, index = _THREADS[called]
        target = keyword(node, name) or (node.args[index] if len(node.args) > index else None)
        kind = "process" if called.startswith("multiprocessing") else "thread"
        return Start(node.lineno, kind, called, _target(target, aliases)) if target else None
    receiver, _, method = called.rpartition(".")
    owner = made.get(receiver.removeprefix("self."))
    first = node.args[0] if node.args else None
    if method == "start_background_task" and receiver and first is not None:
        return Start(node.lineno, "task", called, _target(first, aliases), receiver)
    if owner in ("thread", "process") and method in ("submit", "map", "apply_async") and first:
        return Start(node.lineno, owner, called, _target(first, aliases))
    if owner == "scheduler" and method == "add_job":
        job = keyword(node, "func") or first
        return Start(node.lineno, "thread", called, _target(job, aliases)) if job else None
    if method == "run_in_executor" and len(node.args) > 1:
        return Start(node.lineno, "executor", called, _target(node.args[1], aliases))
    if called == "asyncio.to_thread" and first is not None:
        return Start(node.lineno, "executor", called, _target(first, aliases))
    return None


def _decorated(node: ast.FunctionDef | ast.AsyncFunctionDef, aliases: Aliases,
               made: dict[str, str]) -> list[Start]:
    """``@scheduler.scheduled_job(...)``/``@scheduler.task(...)`` jobs and Celery
    tasks (``@app.task``, ``@shared_task``)."""
    found = []
    for decorator in node.decorator_list:
        func = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = aliases.dotted(func) or ""
        receiver, _, method = name.rpartition(".")
        if made.get(receiver) == "scheduler" and method in ("scheduled_job", "task"):
            found.append(Start(node.lineno, "thread", name, node.name))
        elif (method == "task" or name.endswith("shared_task")) and (
                aliases.imports("celery") or "celery" in name.lower()):
            found.append(Start(node.lineno, "celery", name or "task", node.name))
    return found


def _is_thread_class(node: ast.ClassDef, aliases: Aliases) -> bool:
    return any(aliases.dotted(base) == "threading.Thread" for base in node.bases) and any(
        isinstance(f, ast.FunctionDef) and f.name == "run" for f in node.body)


def _target(node: ast.expr | None, aliases: Aliases) -> str | None:
    """The function a start runs: a name, ``functools.partial(f, ...)``'s f, or
    the function a lambda calls."""
    if node is None:
        return None
    if isinstance(node, ast.Call) and aliases.dotted(node.func) == "functools.partial" \
            and node.args:
        return _target(node.args[0], aliases)
    if isinstance(node, ast.Lambda):
        call = next((n for n in ast.walk(node.body) if isinstance(n, ast.Call)), None)
        return _target(call.func, aliases) if call is not None else None
    name = aliases.dotted(node)
    return name.removeprefix("self.") if name else None
