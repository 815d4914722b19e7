"""An expected verdict: what we measured for a cell, why, and the docs section
that explains it (the table is matrix/expectations.py; each family's own
``expect`` gives the rest)."""

from __future__ import annotations

from dataclasses import dataclass

from emitcheck.model.docs import doc_url


@dataclass(frozen=True)
class Expectation:
    verdict: str
    why: str
    doc: str  # the docs section that explains the cell, relative to DOCS_URL

    @property
    def url(self) -> str:
        return doc_url(self.doc)
