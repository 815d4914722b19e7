"""Where a result's "why" link points: a docs page of emitcheck, never a guess.

A cell's doc is a page and anchor of docs/ (``pitfall.md#gunicorn``). When the
installed emitcheck declares a ``Documentation`` project URL (pyproject.toml's
``[project.urls]``), links are made from it; until then they cite the page by
its path in emitcheck's source (``docs/pitfall.md#gunicorn``), which exists.
"""

from __future__ import annotations

import functools
import importlib.metadata


@functools.cache
def docs_base() -> str:
    """The published docs' URL ending in '/', or 'docs/' (the source path)."""
    try:
        urls = importlib.metadata.metadata("emitcheck").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation" and url.strip():
            return url.strip().rstrip("/") + "/"
    return "docs/"


def doc_url(doc: str) -> str:
    """The link for a docs page and anchor such as ``pitfall.md#gunicorn``."""
    return docs_base() + doc


#: The page about the user's own app (``emitcheck app``, its fixtures, its cells).
OWN_APP = "own-app.md"
