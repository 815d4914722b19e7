"""Issue 20, "nothing lies": every input validated up front, every output path
checked before the run.

In-process, on recorded files (tests/data/results, baselines/, tests/data/sweeps):
the readers' schema (the type of every field, verdicts among VERDICTS, a
baseline with verdicts), the check of a path before writing to it, the streams
that escape what the terminal cannot encode, and which ``-k`` pieces are
errors. What the commands do with them: tests/test_cli.py, tests/test_report.py.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path

import pytest

from emitcheck.matrix import baselines, cells
from emitcheck.model.results import CellResult, SchemaError, read_document
from emitcheck.outputs import files, grid
from emitcheck.sweep.report import check_document

ROOT = Path(__file__).parent.parent
RESULT_FILES = sorted((ROOT / "tests" / "data" / "results").glob("*.json"))
BASELINES = sorted((ROOT / "baselines").glob("*.json"))
SWEEPS = sorted((ROOT / "tests" / "data" / "sweeps").glob("*.json"))
SAMPLE = ROOT / "tests" / "data" / "results" / "matrix-sample.json"


def sample() -> dict:
    return json.loads(SAMPLE.read_text())


def first_ran(document: dict) -> dict:
    """The first result of the document that has a verdict and an observation."""
    return next(r for r in document["results"] if r["verdict"] and r["observation"])


def written(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    return path


def refusal(path: Path) -> str:
    """The one-line error ``emitcheck report``'s reader gives for ``path``."""
    with pytest.raises(SchemaError) as caught:
        grid.load([path])
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


# -- the files emitcheck wrote still read (schema 1 is kept) -----------------------------

@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: p.name)
def test_every_recorded_results_file_still_reads_unchanged(path):
    """Each result reads into a CellResult that writes back what the file holds
    (an observation recorded before ``facts`` existed gains an empty one)."""
    results, environment = read_document(path)
    document = json.loads(path.read_text())
    written = [r.to_json() for r in results]
    for back, given in zip(written, document["results"], strict=True):
        if "facts" not in (given.get("observation") or {"facts": None}):
            assert back["observation"].pop("facts") == {}
    assert written == document["results"]
    assert environment == document["environment"]


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.name)
def test_every_committed_baseline_still_loads_unchanged(path):
    assert baselines.load(path) == json.loads(path.read_text())


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_recorded_sweep_document_still_reads_unchanged(path):
    document = json.loads(path.read_text())
    assert check_document(copy.deepcopy(document), str(path)) == document


# -- results: the type of every field ----------------------------------------------------

@pytest.mark.parametrize("field, value, says", [
    ("latency_ms", {"p50": "12", "p95": None, "max": None},
     "'latency_ms.p50' is the string '12', expected a number or null"),
    ("emitted", "9", "'emitted' is the string '9', expected an integer or null"),
    ("emitted", True, "'emitted' is true, expected an integer or null"),
    ("matches", "yes", "'matches' is the string 'yes', expected true or false"),
    ("versions", ["flask"], "'versions' is a list, expected an object"),
    ("evidence", None, "'evidence' is null, expected a string"),
    ("remedies", "patch", "'remedies' is the string 'patch', expected a list"),
    ("connect_ms", float("inf"), "'connect_ms' is inf, expected a finite number"),
])
def test_a_result_field_of_the_wrong_type_names_the_file_the_result_and_the_field(
        tmp_path, field, value, says):
    document = sample()
    first_ran(document)[field] = value
    index = document["results"].index(first_ran(document))
    path = written(tmp_path, document)
    assert refusal(path) == f"{path}: result {index}: {says}"


def test_an_observation_field_of_the_wrong_type_is_named_by_its_path(tmp_path):
    document = sample()
    first_ran(document)["observation"]["acks"][0]["ms"] = [1]
    message = refusal(written(tmp_path, document))
    assert message.endswith("'observation.acks[0].ms' is a list, expected a number or null")


def test_a_verdict_that_is_not_one_of_ours_is_refused(tmp_path):
    document = sample()
    first_ran(document)["verdict"] = "teleported"
    message = refusal(written(tmp_path, document))
    assert "'verdict' is 'teleported', expected one of delivered, delayed, lost" in message


def test_an_expected_verdict_that_is_not_one_of_ours_is_refused(tmp_path):
    document = sample()
    first_ran(document)["expected"] = "fine"
    assert "'expected' is 'fine', expected one of delivered" in \
        refusal(written(tmp_path, document))


def test_a_result_without_a_verdict_must_say_why(tmp_path):
    document = sample()
    first_ran(document)["verdict"] = None
    assert "'verdict' is null, yet neither 'skipped' nor 'failure' says why" in \
        refusal(written(tmp_path, document))


def test_a_result_with_a_verdict_and_a_skip_reason_is_refused(tmp_path):
    document = sample()
    first_ran(document)["skipped"] = "not installed"
    assert "a result has a verdict or a reason, not both" in refusal(written(tmp_path, document))


def test_fields_the_grid_works_out_are_not_taken_from_a_file(tmp_path):
    document = sample()
    first_ran(document)["twin_verdict"] = "lost"
    assert "has 'twin_verdict': not a field of a file" in refusal(written(tmp_path, document))


def test_an_environment_that_is_not_an_object_is_refused(tmp_path):
    document = sample()
    document["environment"] = ["CPython"]
    path = written(tmp_path, document)
    assert refusal(path) == f"{path}: 'environment' is a list, expected an object"


def test_a_file_nested_too_deep_for_the_json_reader_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    assert "is not a readable JSON file" in refusal(path)


def test_a_line_break_in_a_quoted_value_stays_on_one_line(tmp_path):
    document = sample()
    document["results"][0]["versions"] = {"flask\nsocketio": 3}
    assert "flask" in refusal(written(tmp_path, document))


def test_the_result_reader_of_sweeps_and_workers_checks_the_same():
    result = first_ran(sample())
    with pytest.raises(SchemaError, match="'verdict' is 'teleported'"):
        CellResult.from_json({**result, "verdict": "teleported"})


# -- baselines ----------------------------------------------------------------------------

def saved(tmp_path: Path, **changes) -> Path:
    data = {**json.loads(BASELINES[0].read_text()), **changes}
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("environment, says", [
    ([1], "'environment' is a list, expected an object"),
    ("CPython", "'environment' is the string 'CPython', expected an object"),
    ({"versions": ["gevent"]}, "'environment.versions' is a list, expected an object"),
    ({"versions": {"gevent": 24}}, "'environment.versions.gevent' is the number 24"),
    ({"os": None}, "'environment.os' is null, expected a string"),
])
def test_a_baseline_whose_environment_is_not_an_object_of_strings_is_refused_when_loaded(
        tmp_path, environment, says):
    path = saved(tmp_path, environment=environment)
    with pytest.raises(baselines.BaselineError) as caught:
        baselines.load(path)
    assert str(caught.value).startswith(f"baseline {path}: {says}")


def test_a_baseline_without_an_environment_still_compares():
    loaded = {"schema": 1, "verdicts": {"threading-unpatched-thread-time_sleep": "lost"}}
    result = CellResult("threading-unpatched-thread-time_sleep", "lost", "why", "doc",
                        verdict="delivered")
    for recorded in (loaded, {**loaded, "environment": None}):
        assert baselines.compare(recorded, [result], {}).changed == \
            ["threading-unpatched-thread-time_sleep: lost -> delivered"]


def test_a_baseline_with_no_verdicts_is_refused_because_it_checks_nothing(tmp_path):
    path = saved(tmp_path, verdicts={})
    with pytest.raises(baselines.BaselineError, match="has no verdicts, so it checks nothing"):
        baselines.load(path)


def test_a_baseline_error_is_a_schema_error_in_one_line(tmp_path):
    path = saved(tmp_path, verdicts={"threading-unpatched-thread-time_sleep": "x\n" * 50})
    with pytest.raises(SchemaError) as caught:
        baselines.load(path)
    assert "\n" not in str(caught.value) and "valid verdicts: delivered" in str(caught.value)


# -- output paths, checked before anything runs --------------------------------------------

def test_a_writable_path_passes_and_nothing_is_left_behind(tmp_path):
    for path in (tmp_path / "r.json", tmp_path / "new" / "folder" / "r.json"):
        assert files.cannot_write(path) is None
    assert list(tmp_path.iterdir()) == []  # no empty file, no folder


def test_an_existing_writable_file_passes_and_is_left_as_it_was(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("kept")
    assert files.cannot_write(path) is None and path.read_text() == "kept"


@pytest.mark.parametrize("where, says", [
    ("a-file/r.json", "a-file is a file, not a folder"),
    ("a-file/deeper/r.json", "a-file is a file, not a folder"),
    ("a-folder", "is a folder; give a file name inside it"),
])
def test_a_path_that_cannot_be_written_says_why_in_one_line(tmp_path, where, says):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    problem = files.cannot_write(tmp_path / where)
    assert problem is not None and says in problem and "\n" not in problem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder"]


def test_a_read_only_file_or_folder_is_not_writable(tmp_path, monkeypatch):
    """os.access is what tells (root may write anywhere but a read-only mount)."""
    (tmp_path / "r.json").write_text("")
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    assert files.cannot_write(tmp_path / "r.json") == \
        f"{tmp_path / 'r.json'} exists and is not writable"
    assert files.cannot_write(tmp_path / "s.json") == \
        f"{tmp_path / 's.json'}: the folder {tmp_path} is not writable"


# -- text the terminal cannot encode -----------------------------------------------------

def test_tolerant_streams_escape_what_the_encoding_cannot_take(monkeypatch):
    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    files.tolerant_streams()
    print("event “é”")
    ascii_out.flush()
    assert raw.getvalue() == b"event \\u201c\\xe9\\u201d\n"


# -- -k: every piece must select something -------------------------------------------------

GOOD = "threading-unpatched-thread-time_sleep"


def test_a_misspelt_id_in_a_list_is_an_error_naming_it_and_the_valid_values():
    with pytest.raises(cells.CellError) as caught:
        cells.select(f"{GOOD},threading-unpatched-thread-time_slep")
    message = str(caught.value)
    assert message.startswith("pattern 'threading-unpatched-thread-time_slep' (in ")
    assert "matches no cell" in message and "unknown wait 'time_slep'" in message
    assert "valid wait values: time_sleep, socketio_sleep" in message


def test_a_piece_of_a_list_that_matches_nothing_is_an_error_naming_it():
    with pytest.raises(cells.CellError, match=r"^pattern 'trio' \(in 'eventlet,trio'\) "
                                              "matches no cell"):
        cells.select("eventlet,trio")


@pytest.mark.parametrize("piece, conflict", [
    ("auto-unpatched-thread-time_sleep-gunicorn", "auto mode has no gunicorn worker class"),
    ("threading-unpatched-process-time_sleep", "add a queue suffix"),
    ("gevent-unpatched-task-time_sleep-polling-polling", "two transport values"),
])
def test_a_whole_id_that_is_not_a_cell_names_the_conflict(piece, conflict):
    for pattern in (piece, f"{GOOD},{piece}"):
        with pytest.raises(cells.CellError) as caught:
            cells.select(pattern)
        assert "is not a cell: " in str(caught.value) and conflict in str(caught.value)
        assert "matches no cell" not in str(caught.value)


def test_a_part_of_an_id_cut_short_still_selects_the_cells_containing_it():
    assert cells.select("gevent-patched-task-time_sle") == \
        [c for c in cells.all_cells() if "gevent-patched-task-time_sle" in c.id]


# -- the pytest plugin: an output path it cannot write stops it at configure time ----------

@pytest.mark.parametrize("option", ["--emitcheck-json", "--emitcheck-markdown",
                                    "--emitcheck-save-baseline", "--emitcheck-html"])
def test_the_plugin_refuses_an_output_path_it_cannot_write_before_any_test(pytester, option):
    pytester.makefile(".txt", **{"a-file": ""})
    pytester.makepyfile(test_one="def test_cell(emitcheck_cell):\n    raise AssertionError\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--emitcheck-cells", GOOD,
                                f"{option}={pytester.path / 'a-file.txt' / 'out.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if option in line]
    assert len(lines) == 1 and "a-file.txt is a file, not a folder" in lines[0], \
        result.errlines
    assert lines[0].startswith(f"ERROR: {option}: ")
    assert "Traceback" not in "\n".join(result.outlines + result.errlines)
    assert not (pytester.path / "out.json").exists()


# -- sweep documents (emitcheck report merges those of several CI jobs) -------------------

def test_a_sweep_document_whose_result_has_the_wrong_type_is_one_line_naming_the_row(tmp_path):
    from click.testing import CliRunner

    from emitcheck.cli.main import main

    document = json.loads(SWEEPS[0].read_text())
    document["rows"][0]["results"][0]["latency_ms"] = {"p50": "fast", "p95": None, "max": None}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["report", str(SWEEPS[1]), str(bad)])
    assert result.exit_code == 2, result.output
    assert f"cannot read the sweeps: {bad}: row 0: result 0: 'latency_ms.p50' is the string " \
           "'fast', expected a number or null" in result.output


def test_every_field_of_an_observation_has_a_type_the_reader_checks():
    """The observation's spec comes from its annotations: a field added with an
    annotation the schema cannot read would go unchecked (ANY); this says which."""
    from emitcheck.model.results import ANY, Observation, spec_of

    def unchecked(spec, path: str) -> list[str]:
        from emitcheck.model.results import Fields, ListOf, MapOf

        if spec is ANY:
            return [path]
        if isinstance(spec, tuple):
            return [p for s in spec for p in unchecked(s, path)]
        if isinstance(spec, ListOf):
            return unchecked(spec.item, f"{path}[]")
        if isinstance(spec, MapOf):
            return unchecked(spec.value, f"{path}.*")
        if isinstance(spec, Fields):
            return [p for name, s in (spec.required | spec.optional).items()
                    for p in unchecked(s, f"{path}.{name}")]
        return []

    assert unchecked(spec_of(Observation), "observation") == []
