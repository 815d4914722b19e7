"""The cells remembered on disk (matrix/listing.py): read back while emitcheck's
declarations are unchanged, found again when they change, never half-written."""

import json

from emitcheck.matrix import cells, listing


def _fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("EMITCHECK_CACHE_DIR", str(tmp_path))


def test_the_cells_are_found_once_then_read_back(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    found = [("a", "b"), ("c", "d")]
    assert listing.remembered("possible", lambda: found) == found
    assert listing.remembered("possible", lambda: 1 / 0) == found  # not found again
    [kept] = (tmp_path / "cells").iterdir()
    assert json.loads(kept.read_text()) == [["a", "b"], ["c", "d"]]


def test_a_changed_declaration_finds_them_again_and_drops_the_old_file(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    listing.remembered("default", lambda: [("old",)])
    monkeypatch.setattr(listing, "key", lambda: "another")
    assert listing.remembered("default", lambda: [("new",)]) == [("new",)]
    assert [p.name for p in (tmp_path / "cells").iterdir()] == ["default-another.json"]


def test_a_broken_file_is_found_again_and_rewritten_whole(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    (tmp_path / "cells").mkdir()
    broken = tmp_path / "cells" / f"possible-{listing.key()}.json"
    broken.write_text('[["trunc')
    assert listing.remembered("possible", lambda: [("x",)]) == [("x",)]
    assert json.loads(broken.read_text()) == [["x"]]
    assert [p.name for p in (tmp_path / "cells").iterdir()] == [broken.name]


def test_a_cache_that_cannot_be_written_is_passed_by(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    (tmp_path / "cells").write_text("a file where the folder would be")
    assert listing.remembered("default", lambda: [("y",)]) == [("y",)]
    assert listing.remembered("default", lambda: [("z",)]) == [("z",)]  # nothing kept


def test_the_key_follows_the_family_sources(monkeypatch, tmp_path):
    family = tmp_path / "families"
    family.mkdir()
    (family / "new.py").write_text("VARIANTS = []\n")
    monkeypatch.setattr(listing, "DECLARATIONS", (family,))
    listing.key.cache_clear()
    before = listing.key()
    (family / "new.py").write_text("VARIANTS = [1]\n")
    listing.key.cache_clear()
    try:
        assert listing.key() != before
    finally:
        listing.key.cache_clear()


def test_the_cells_read_back_are_the_ones_found_now():
    """Cells from the file skip validation: they must be the valid ones a search
    finds with the declarations as they are."""
    found = cells._search()
    assert [c._values for c in cells.possible_cells()] == found
    assert [c._values for c in cells.default_cells()] == \
        [values for values in found if cells._in_default(cells._valid_cell(values))]
