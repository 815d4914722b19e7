"""uWSGI serves the cell's app (issue 12): being built."""

from __future__ import annotations

VARIANTS: list = []
