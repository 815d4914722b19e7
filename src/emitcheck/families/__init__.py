"""The registry: every factor value of a cell, declared in one module per family.

Modelled on python-engineio's ``async_drivers/``: a family is a module of this
folder, looked up by name, whose ``VARIANTS`` list declares the values it
brings. A value (a ``Variant``) says everything the rest of emitcheck needs
to know about it: its factor and id fragment, whether it can run here (and
why not), which other values it cannot combine with, whether its servers may
be forked from a zygote, whether ``emitcheck repro`` can write it as one
script, which processes it starts around the server, and how it changes the
verdict we expect. The runner, the report, the CLI, the plugin and repro ask
this registry; none of them names a family.

Adding a family: a new module here with its ``VARIANTS``, its name in
``MODULES``, its measured expectations (its own ``expect``), and a section in
docs/pitfall.md. A new factor also goes at the end of ``FACTORS``.

Modules here import only the standard library at import time (the pytest
plugin and the classifier load this registry); what a value needs to run is
imported when it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, overload

from .base import ClientVariant, ModeVariant, ServerVariant, TransportVariant, Variant

__all__ = ["FACTORS", "Factor", "Variant", "variant", "variants", "MODULES"]


@dataclass(frozen=True)
class Factor:
    """One dimension of the matrix. Suffix factors (with a ``default``) are left
    out of a cell id at their default, so ids made before they existed keep
    their meaning."""
    name: str
    help: str
    default: str | None = None

    @property
    def is_suffix(self) -> bool:
        return self.default is not None


#: The factors, in the order their values appear in a cell id. Never reorder:
#: cell ids are public.
FACTORS: tuple[Factor, ...] = (
    Factor("mode", "async_mode passed to SocketIO(app, async_mode=...); auto = SocketIO(app)"),
    Factor("patch", "whether the server process monkey patches as its first statement"),
    Factor("spawn", "how the background work is started"),
    Factor("wait", "how the work waits between two emits"),
    Factor("transport", "how the probe's client connects", default="default"),
    Factor("queue", "the message queue every emit goes through", default="none"),
    Factor("server", "what serves the app", default="run"),
    Factor("client", "the probe's client", default="python"),
    Factor("pool", "the Celery worker's pool, for work that runs as a Celery task",
           default="none"),
    Factor("proxy", "what stands between the client and the server", default="none"),
    Factor("cluster", "how many server processes serve the app, and how a proxy spreads "
           "clients over them", default="single"),
)

#: The family modules, in listing order (each declares ``VARIANTS``).
MODULES = ("threading", "eventlet", "gevent", "auto", "patching", "spawns", "waits", "cpu",
           "transports", "queues", "redis", "emitters", "celery", "servers", "gunicorn", "uwsgi",
           "clients", "node", "nginx", "cluster", "app")


def _load() -> dict[tuple[str, str], Variant]:
    found: dict[tuple[str, str], Variant] = {}
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for value in module.VARIANTS:
            key = (value.factor, value.value)
            if key in found:
                raise RuntimeError(f"{value.factor} value {value.value!r} is declared twice")
            value.module = name
            found[key] = value
    return found


_REGISTRY = _load()


# The factors whose values share a Variant subclass: their hooks and fields are typed.
@overload
def variant(factor: Literal["mode"], value: str) -> ModeVariant: ...
@overload
def variant(factor: Literal["transport"], value: str) -> TransportVariant: ...
@overload
def variant(factor: Literal["server"], value: str) -> ServerVariant: ...
@overload
def variant(factor: Literal["client"], value: str) -> ClientVariant: ...
@overload
def variant(factor: str, value: str) -> Variant: ...
def variant(factor: str, value: str) -> Variant:
    """The declaration of one factor value (KeyError when there is none)."""
    return _REGISTRY[(factor, value)]


@overload
def variants(factor: Literal["mode"]) -> list[ModeVariant]: ...
@overload
def variants(factor: str) -> list[Variant]: ...
def variants(factor: str) -> list[Any]:  # list is invariant: the overloads say what it holds
    """Every value of a factor, in declaration order."""
    return [v for (f, _), v in _REGISTRY.items() if f == factor]
