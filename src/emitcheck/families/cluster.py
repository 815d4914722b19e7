"""More than one server process behind nginx (issue 12): being built.

The ``cluster`` factor: how many server processes serve the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Variant


@dataclass(eq=False)
class Cluster(Variant):
    factor: ClassVar[str] = "cluster"


VARIANTS = [Cluster("single", "one server process")]
