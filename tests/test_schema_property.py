"""Any mutation of a valid results file or baseline, read by emitcheck's readers,
gives the same document back or a one-line error, never another exception.

Hypothesis mutates small valid documents cut from recorded files
(tests/data/results/matrix-sample.json, baselines/threading.json): it drops a
field, changes a value's type, puts a random string where a verdict is, nests
garbage, adds fields, or truncates the text. The readers are those of
``emitcheck report`` (the command itself, in-process: reading, merging and the
grid) and of ``--check-baseline`` (``baseline.load``, then ``compare``).

Seeded (``derandomize``) and bounded (200 examples a property, no deadline: a
slow machine is not a bug). Seeded is not fixed: Hypothesis also draws constants
from the modules of ours already imported, so which examples run depends on the
tests that ran before in the same process (a pytest-xdist worker); a property
must hold for every example, not only for those of one order.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emitcheck.cli.main import main
from emitcheck.matrix import baselines
from emitcheck.matrix.cell import CellError
from emitcheck.model.results import (
    RESULT_FIELDS,
    VERDICTS,
    CellResult,
    Observation,
    SchemaError,
    read_document,
    result_spec,
    spec_of,
)
from emitcheck.outputs import grid

DATA = Path(__file__).parent / "data" / "results" / "matrix-sample.json"
BASELINE = Path(__file__).parent.parent / "baselines" / "threading.json"

#: Seeded and bounded: the same 200 examples on every machine; no example database
#: is written into the work tree.
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: The results kept from the sample: an auto cell (its row names the resolved mode),
#: one whose server reported no mode, a skipped one, and one with a second client.
KEPT = ("auto-unpatched-thread-time_sleep", "eventlet-patched-thread-busy",
        "eventlet-unpatched-thread-time_sleep-gunicorn",
        "threading-unpatched-thread-time_sleep-node", "threading-unpatched-thread-time_sleep")


def _trimmed(result: dict) -> dict:
    """The result with two items at most in each list of its observation (still valid)."""
    result = copy.deepcopy(result)
    observation = result["observation"]
    if observation:
        for name, value in observation.items():
            if isinstance(value, list):
                observation[name] = value[:2]
        observation["log_tail"] = observation["log_tail"][-80:]
    return result


def results_seed() -> dict:
    document = json.loads(DATA.read_text())
    document["results"] = [_trimmed(r) for r in document["results"] if r["cell"] in KEPT]
    assert [r["cell"] for r in document["results"]] and len(document["results"]) == len(KEPT)
    return document


def baseline_seed() -> dict:
    document = json.loads(BASELINE.read_text())
    document["verdicts"] = dict(list(document["verdicts"].items())[:4])
    return document


RESULTS_SEED = results_seed()
BASELINE_SEED = baseline_seed()

#: Keys a mutation may add: the fields the readers know, and some they do not.
KEYS = st.sampled_from([*RESULT_FIELDS, "remedies", "twin", "twin_verdict", "waited_s", "cadence_s",
                        "environment", "versions", "verdicts", "results", "p50", "facts",
                        "kind", "zzz"]) | st.text(max_size=6)
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
GARBAGE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(KEYS, inner, max_size=3), max_leaves=10)
VERDICT_LIKE = st.sampled_from([*VERDICTS, "teleported", "", "Delivered", "lost "]) \
    | st.text(max_size=12)


def _paths(node, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _at(node, path: tuple):
    for step in path:
        node = node[step]
    return node


def _verdict_paths(document) -> list[tuple]:
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        return [("results", i, "verdict") for i, r in enumerate(document["results"])
                if isinstance(r, dict) and "verdict" in r]
    if isinstance(document, dict) and isinstance(document.get("verdicts"), dict):
        return [("verdicts", cell) for cell in document["verdicts"]]
    return []


def _like(value) -> st.SearchStrategy:
    """Another value of the same JSON type (any text: line breaks, escapes, emoji);
    null, a list or an object is kept."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-2**40, 2**40)
    if isinstance(value, float):
        return st.floats(-1e12, 1e12)
    if isinstance(value, str):
        return st.text(max_size=20)
    return st.just(value)  # null, a list, an object: kept


#: Every mutation; and those that keep most documents readable, for the grid to draw.
MUTATIONS = ("drop", "retype", "same type", "verdict", "a verdict", "garbage", "add",
             "truncate")
BENIGN = ("same type", "same type", "a verdict")


@st.composite
def mutated(draw, seed: dict, mutations: tuple[str, ...] = MUTATIONS) -> str:
    """The seed's JSON text after one to three mutations (the last may truncate it)."""
    document = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)[::-1]  # the root last: Hypothesis favours the first
        shallow = [p for p in paths if len(p) <= 3]  # the fields of a result, of a baseline
        path = draw(st.sampled_from(shallow) | st.sampled_from(paths)) if shallow else ()
        how = draw(st.sampled_from(mutations))
        if how == "a verdict":  # where a verdict is: a result's, or a baseline's
            path = draw(st.sampled_from(_verdict_paths(document) or [path]))
            how = "verdict"
        if how == "truncate":
            text = json.dumps(document)
            return text[:draw(st.integers(0, max(0, len(text) - 1)))]
        if how == "add":
            target = _at(document, path)
            if isinstance(target, dict):
                target[draw(KEYS)] = draw(GARBAGE)
                continue
            how = "garbage"
        if not path:
            document = draw(GARBAGE)
            continue
        parent, last = _at(document, path[:-1]), path[-1]
        if how == "drop":
            del parent[last]
        elif how == "same type":  # a value the reader accepts, mostly: the grid must draw it
            parent[last] = draw(_like(parent[last]))
        else:
            parent[last] = draw({"retype": SCALARS, "verdict": VERDICT_LIKE,
                                 "garbage": GARBAGE}[how])
    return json.dumps(document)


def _one_line(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message, repr(message)


def _written(text: str, folder: str) -> Path:
    path = Path(folder) / "mutated.json"
    path.write_text(text, encoding="utf-8")
    return path


def _same(a, b) -> bool:
    """Equal as JSON (NaN, which equals nothing, as its text)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


#: The fields a reader knows, of a result and of its observation: those they
#: must have, and the optional ones.
KNOWN = {(): {*result_spec().required, *result_spec().optional},
         ("observation",): {*spec_of(Observation).required, *spec_of(Observation).optional}}


def _changed(written, given, path: tuple = ()) -> tuple | None:
    """Where a result read back (``written``: its ``to_json()``) does not hold
    what the file said (``given``): the first path that differs and both values
    there, or None. Every field both have is the same, at every depth, but
    ``matches``, which a result works out from its verdict; fields the file adds
    are not read, optional ones it lacks are written at their default."""
    if isinstance(written, dict) and isinstance(given, dict):
        for key in sorted(written.keys() & given.keys() - {"matches"}):
            if found := _changed(written[key], given[key], (*path, key)):
                return found
        return None
    if isinstance(written, list) and isinstance(given, list):
        if len(written) != len(given):
            return path, f"{len(written)} items", f"{len(given)} items"
        return next(filter(None, map(_changed, written, given,
                                     [(*path, i) for i in range(len(given))])), None)
    return None if _same(written, given) else (path, written, given)


def _lost(written: dict, given: dict) -> tuple | None:
    """What a result read from a file lost of it: a field the file has (in the
    result or its observation) that the reader knows and did not write back, or
    else the first value ``_changed``."""
    for where, known in KNOWN.items():
        ours, theirs = written.get(where[0]) if where else written, \
            given.get(where[0]) if where else given
        if isinstance(ours, dict) and isinstance(theirs, dict):
            dropped = sorted(known & theirs.keys() - ours.keys())
            if dropped:
                return (*where, dropped[0]), "(not written)", theirs[dropped[0]]
    return _changed(written, given)


# -- the seeds are valid: a property over mutations of invalid files would prove nothing ------

def test_the_seeds_are_read_back_unchanged(tmp_path):
    results, environment = read_document(_written(json.dumps(RESULTS_SEED), str(tmp_path)))
    assert len(results) == len(RESULTS_SEED["results"])
    assert not any(map(_lost, (r.to_json() for r in results), RESULTS_SEED["results"]))
    assert environment == RESULTS_SEED["environment"]
    assert baselines.load(_written(json.dumps(BASELINE_SEED), str(tmp_path))) == BASELINE_SEED
    done = CliRunner().invoke(main, ["report", str(tmp_path / "mutated.json")])
    assert done.exit_code == 2 and "no results found" not in done.output  # it is a baseline
    (tmp_path / "mutated.json").write_text(json.dumps(RESULTS_SEED))
    done = CliRunner().invoke(main, ["report", str(tmp_path / "mutated.json")])
    as_measured = all(r["matches"] for r in RESULTS_SEED["results"])
    assert done.exit_code == (0 if as_measured else 1), done.output
    assert "auto-unpatched as eventlet" in done.output, done.output


# -- the properties --------------------------------------------------------------------------

def _seed_with(cell: str, path: tuple, value) -> str:
    """The text of RESULTS_SEED with one value of a cell's result changed."""
    document = copy.deepcopy(RESULTS_SEED)
    result = next(r for r in document["results"] if r["cell"] == cell)
    _at(result, path[:-1])[path[-1]] = value
    return json.dumps(document)


# Mutations that once broke the reader, tried on every run (random examples
# depend on the modules already imported: see the module's docstring).
# A null async_mode beside an observation naming one read back as the observation's.
@example(text=_seed_with("eventlet-patched-thread-busy", ("observation", "async_mode"),
                         "eventlet"))
# A null 'emitted' beside measured metrics: the reader dropped them (now refused).
@example(text=_seed_with("eventlet-patched-thread-busy", ("emitted",), None))
# An app's cadence without the window it waited: the reader dropped it.
@example(text=_seed_with("threading-unpatched-thread-time_sleep", ("cadence_s",), 0.5))
# Facts in an observation (the seed's were recorded before them): read, written back.
@example(text=_seed_with("threading-unpatched-thread-time_sleep", ("observation", "facts"),
                         {"transport": "polling"}))
@PROPERTY
@given(text=mutated(RESULTS_SEED))
def test_the_results_reader_gives_the_document_back_or_one_line(text):
    with tempfile.TemporaryDirectory() as folder:
        path = _written(text, folder)
        try:
            results, environment = read_document(path)
        except SchemaError as error:
            _one_line(error)
            return
        document = json.loads(text)
        assert len(results) == len(document["results"])
        for result, given in zip(results, document["results"], strict=True):
            assert (lost := _lost(result.to_json(), given)) is None, (result.cell, lost)
        assert _same(environment, document.get("environment"))


@PROPERTY
@given(text=mutated(RESULTS_SEED) | mutated(RESULTS_SEED, BENIGN))
def test_emitcheck_report_on_a_mutated_file_prints_a_grid_or_one_usage_error(text):
    """The command itself: reading, merging, the grid and the notes under it (half
    the examples change values within their types, so that most are drawn)."""
    with tempfile.TemporaryDirectory() as folder:
        path = _written(text, folder)
        try:
            grid.load([path])
        except (SchemaError, CellError) as error:  # what the command turns into exit 2
            _one_line(error)
        done = CliRunner().invoke(main, ["report", str(path)], env={"COLUMNS": "160"})
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    assert done.exit_code in (0, 1, 2, 3), done.output
    if done.exit_code == 2:
        errors = [line for line in done.output.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, done.output


@PROPERTY
@given(text=mutated(BASELINE_SEED))
def test_the_baseline_reader_gives_the_baseline_back_or_one_line(text):
    with tempfile.TemporaryDirectory() as folder:
        try:
            loaded = baselines.load(_written(text, folder))
        except baselines.BaselineError as error:  # a SchemaError: the usage error of the CLI
            _one_line(error)
            return
    assert _same(loaded, json.loads(text))
    results = [CellResult(cell, "delivered", "why", "doc", verdict="delivered")
               for cell in BASELINE_SEED["verdicts"]]
    comparison = baselines.compare(loaded, results, BASELINE_SEED["environment"])
    assert all("\n" not in line for line in comparison.lines())


@pytest.mark.parametrize("seed", [RESULTS_SEED, BASELINE_SEED], ids=["results", "baseline"])
def test_the_mutations_reach_both_outcomes(seed):
    """The property is not vacuous: some mutations are read back, others refused."""
    read = refused = 0

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(text=mutated(seed))
    def tally(text):
        nonlocal read, refused
        with tempfile.TemporaryDirectory() as folder:
            path = _written(text, folder)
            try:
                read_document(path) if seed is RESULTS_SEED else baselines.load(path)
                read += 1
            except SchemaError:
                refused += 1

    tally()
    assert read and refused, (read, refused)
