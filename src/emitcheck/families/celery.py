"""Work that runs as a Celery task in a real Celery worker (issue 12): being built.

The ``pool`` factor: the worker's pool, for ``celery`` spawns; ``none`` for
every other cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Variant


@dataclass(eq=False)
class Pool(Variant):
    factor: ClassVar[str] = "pool"


VARIANTS = [Pool("none", "no Celery worker")]
