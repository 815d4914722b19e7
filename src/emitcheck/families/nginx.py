"""nginx in front of the server (issue 12): being built.

The ``proxy`` factor: what stands between the client and the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Variant


@dataclass(eq=False)
class Proxy(Variant):
    factor: ClassVar[str] = "proxy"


VARIANTS = [Proxy("none", "the client connects to the server directly")]
