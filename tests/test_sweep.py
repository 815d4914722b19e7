"""``emitcheck sweep`` and ``emitcheck cache``.

The first tests check the parts a sweep is made of, without the network: which
releases count, the binary search of ``--bisect`` (on a verdict function given
here: the search is what is tested), how changes are found, what the outputs
say. The last ones sweep real releases from the package index with uv, in real
environments, and skip with the reason when uv or the index is not there.
They use simple-websocket: its releases are small wheels, and resolving one
moves the rest of the stack (python-engineio requires simple-websocket>=0.10,
so 0.9.0 resolves to an older python-socketio that the Flask-SocketIO it gets
cannot import: a real change of verdict between two real releases).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.version import Version

from emitcheck.cli.main import main
from emitcheck.matrix.cells import parse
from emitcheck.model.results import CellResult
from emitcheck.sweep import index
from emitcheck.sweep.environments import EnvSpec, Python, extras_for, first_line
from emitcheck.sweep.releases import Row, bisect, changes
from emitcheck.sweep.report import Sweep, markdown
from emitcheck.system import cache
from emitcheck.system.cache import self_copy

from .helpers import emitcheck, interrupt_cli, processes_mentioning, runnable, wait_until

CELL = "threading-unpatched-thread-time_sleep-gunicorn"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def row(version: str, *verdicts: str | None, reason: str | None = None,
        cells: tuple[str, ...] = (CELL,)) -> Row:
    """A row with these outcomes (None: emitcheck failed in that cell), or with
    ``reason`` and none."""
    if reason is not None:
        return Row("3.11", version, [], reason)
    results = [CellResult(cell, "delivered", "why", "doc", verdict, f"{verdict} ev",
                          failure=None if verdict else "it broke",
                          versions={"python": "3.11.7", "flask-socketio": "5.3.6"})
               for cell, verdict in zip(cells, verdicts, strict=True)]
    return Row("3.11", version, results)


# -- which releases ---------------------------------------------------------------------

def test_releases_leave_out_pre_releases_yanked_files_and_names_that_do_not_parse():
    files = [("pkg-1.0.0.tar.gz", False), ("pkg-1.0.0-py3-none-any.whl", False),
             ("pkg-1.1.0rc1-py3-none-any.whl", False), ("pkg-1.2.0.dev3.tar.gz", False),
             ("pkg-1.3.0-py3-none-any.whl", True),                # yanked: its only file
             ("pkg-1.4.0-py3-none-any.whl", True), ("pkg-1.4.0.tar.gz", False),
             ("pkg-0.9.win32.exe", False), ("pkg-0.10.0.post1.tar.gz", False)]
    assert index.releases_in(files) == [Version("0.10.0.post1"), Version("1.0.0"),
                                        Version("1.4.0")]


def test_an_html_simple_page_marks_yanked_files():
    page = index._Anchors()
    page.feed('<a href="a">pkg-1.0.tar.gz</a><a href="b" data-yanked="">pkg-2.0.tar.gz</a>'
              '<a href="c" data-yanked="broken">pkg-3.0.tar.gz</a>')
    assert page.files == [("pkg-1.0.tar.gz", False), ("pkg-2.0.tar.gz", True),
                          ("pkg-3.0.tar.gz", True)]


def test_a_bad_specifier_is_one_line_that_shows_a_valid_one():
    with pytest.raises(ValueError, match=r"'>>1' is not a version specifier.*'>=24.1,<25'"):
        index.specifier(">>1")


def test_the_index_is_uv_s_setting_else_pip_s_which_uv_is_then_given(monkeypatch, tmp_path):
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL", "PIP_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(index, "_pip_config_files", lambda: [tmp_path / "pip.conf"])
    assert index.index() == index.Index(index.PYPI, "default")
    (tmp_path / "pip.conf").write_text("[global]\nindex-url = https://mirror.example/simple/\n")
    configured = index.index()
    assert configured.url == "https://mirror.example/simple"
    assert configured.uv_args() == ["--index-url", "https://mirror.example/simple"]
    monkeypatch.setenv("PIP_INDEX_URL", "https://pip.example/simple")
    assert index.index().uv_args() == ["--index-url", "https://pip.example/simple"]
    monkeypatch.setenv("UV_INDEX_URL", "https://uv.example/simple")
    assert index.index().url == "https://uv.example/simple"
    assert index.index().uv_args() == []  # uv reads its own setting


# -- bisect and changes -----------------------------------------------------------------

def _releases(n: int) -> list[str]:
    return [f"1.{i}.0" for i in range(n)]


@pytest.mark.parametrize("first_bad", range(1, 17))
def test_bisect_brackets_the_first_differing_release_in_about_log2_n_builds(first_bad):
    versions = _releases(17)
    built = []

    def evaluate(version: str) -> Row:
        built.append(version)
        bad = versions.index(version) >= first_bad
        return row(version, "delayed" if bad else "delivered")

    found = bisect(versions, evaluate, [CELL])
    assert (found.good.version, found.bad.version) == (versions[first_bad - 1],
                                                       versions[first_bad])
    assert built[:2] == [versions[0], versions[-1]]  # both ends first
    assert len(built) <= 2 + math.ceil(math.log2(len(versions) - 1))
    assert len(set(built)) == len(built)  # no release built twice


def test_bisect_steps_over_releases_that_cannot_be_installed_and_says_which():
    versions = _releases(9)
    broken = {"1.4.0", "1.3.0"}

    def evaluate(version: str) -> Row:
        if version in broken:
            return row(version, reason="cannot be installed: no wheel")
        return row(version, "lost" if versions.index(version) >= 6 else "delivered")

    found = bisect(versions, evaluate, [CELL])
    assert (found.good.version, found.bad.version) == ("1.5.0", "1.6.0")
    assert "1.4.0" in [r.version for r in found.skipped]
    assert all(r.inconclusive for r in found.skipped)


def test_bisect_when_every_release_between_is_broken_brackets_the_ends():
    versions = _releases(4)

    def evaluate(version: str) -> Row:
        if version in ("1.1.0", "1.2.0"):
            return row(version, reason="cannot be installed: conflict")
        return row(version, "lost" if version == "1.3.0" else "delivered")

    found = bisect(versions, evaluate, [CELL])
    assert (found.good.version, found.bad.version) == ("1.0.0", "1.3.0")
    assert [r.version for r in found.skipped] == ["1.1.0", "1.2.0"]


def test_bisect_of_a_range_without_change_builds_only_its_two_ends():
    built = []

    def evaluate(version):
        built.append(version)
        return row(version, "delivered")

    found = bisect(_releases(10), evaluate, [CELL])
    assert not found.changed and built == ["1.0.0", "1.9.0"]


def test_bisect_refuses_an_end_that_tells_nothing():
    with pytest.raises(RuntimeError, match="the good release 1.0.0 tells nothing: cannot be"):
        bisect(_releases(3), lambda v: row(v, "delivered") if v != "1.0.0"
               else row(v, reason="cannot be installed: x"), [CELL])
    with pytest.raises(RuntimeError, match="the bad release 1.2.0 tells nothing: emitcheck fail"):
        bisect(_releases(3), lambda v: row(v, "delivered" if v != "1.2.0" else None), [CELL])


def test_changes_compare_neighbours_and_step_over_rows_without_an_outcome():
    other = "threading-unpatched-task-time_sleep"
    rows = [row("1.0", "delivered", "delivered", cells=(CELL, other)),
            row("1.1", reason="cannot be installed: conflict"),
            row("1.2", None, "lost", cells=(CELL, other)),       # emitcheck failed in CELL
            row("1.3", "delayed", "lost", cells=(CELL, other))]
    found = [(c.cell, c.before.version, c.after.version) for c in changes(rows, [CELL, other])]
    assert found == [(other, "1.0", "1.2"), (CELL, "1.0", "1.3")]


# -- environments -----------------------------------------------------------------------

PY = Python("3.11", "/usr/bin/python3.11", "3.11.7")


def test_an_environment_pins_the_release_and_drops_emitcheck_s_own_requirement_on_it():
    spec = EnvSpec(PY, "Flask_SocketIO", "5.3.6", ("gunicorn<26",), ("gunicorn",))
    requirements = spec.requirements()
    assert requirements[:2] == ["Flask_SocketIO==5.3.6", "gunicorn<26"]
    names = [r.split(">")[0].split("<")[0].split("=")[0].split("[")[0] for r in requirements]
    assert names.count("gunicorn") == 1 and "flask-socketio" not in names
    assert "python-socketio" in names  # the rest of emitcheck's dependencies


def test_an_environment_s_place_depends_on_what_it_holds():
    base = EnvSpec(PY, "gevent", "24.2.1")
    assert base.folder.name.startswith("gevent-24.2.1-py3.11.7-")
    assert base.key == EnvSpec(PY, "gevent", "24.2.1").key
    assert base.key != EnvSpec(PY, "gevent", "24.2.1", ("greenlet<3",)).key
    assert base.key != EnvSpec(PY, "gevent", "24.10.1").key
    assert base.key != EnvSpec(Python("3.12", "/x/python3.12", "3.12.1"), "gevent", "24.2.1").key


def test_the_cells_bring_the_extras_they_need():
    cells = [parse("eventlet-patched-thread-time_sleep-redis"), parse(CELL)]
    assert extras_for(cells) == {"eventlet", "redis", "gunicorn"}


def test_uv_s_error_is_said_in_one_line():
    stderr = (b"Using CPython 3.11.7\n  \xc3\x97 No solution found when resolving dependencies:\n"
              b"  \xe2\x95\xb0\xe2\x94\x80\xe2\x96\xb6 Because flask-socketio==5.3.6 depends on "
              b"python-socketio>=5.0.2 and you require python-socketio<1, we can conclude that "
              b"your requirements are unsatisfiable.\n")
    said = first_line(stderr)
    assert said.startswith("No solution found when resolving dependencies: Because flask")
    assert "\n" not in said


def test_the_copy_of_emitcheck_holds_emitcheck_and_its_metadata_only(tmp_path, monkeypatch):
    import importlib.metadata

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    copy = self_copy()
    version = importlib.metadata.version("emitcheck")
    assert sorted(p.name for p in copy.iterdir()) == ["emitcheck",
                                                      f"emitcheck-{version}.dist-info"]
    assert (copy / "emitcheck" / "cli" / "main.py").is_file()
    assert not list(copy.rglob("__pycache__"))
    assert self_copy() == copy  # same content, same folder
    assert not list(copy.parent.glob(".*"))  # no build folder left


# -- outputs ----------------------------------------------------------------------------

def test_markdown_gives_both_sides_the_stack_and_how_to_reproduce():
    before, after = row("0.9.0", "crashed"), row("0.10.0", "delivered")
    after.results[0].versions = {"python": "3.11.7", "flask-socketio": "5.5.0"}
    sweep = Sweep("simple-websocket", [CELL], [before, after], "emitcheck sweep X",
                  {"with": ["gunicorn<26"]}, {"emitcheck": "0.1.0", "os": "Linux"},
                  changes([before, after], [CELL]))
    text = markdown(sweep)
    assert f"#### `{CELL}`: crashed with simple-websocket 0.9.0, delivered with 0.10.0" in text
    assert "| flask-socketio | **5.3.6** | **5.5.0** |" in text
    assert "| evidence | crashed ev | delivered ev |" in text
    assert "pip install simple-websocket==0.9.0 flask-socketio==5.3.6 'gunicorn<26'" in text
    assert "pip install simple-websocket==0.10.0 flask-socketio==5.5.0 'gunicorn<26'" in text
    assert f"emitcheck run {CELL}" in text and f"emitcheck repro {CELL}" in text


# -- bad input (no network) -------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["no-such-cell", "--package", "gevent"], "matches no cell"),
    ([CELL, "--package", "gevent", "--versions", "=>1"], "'=>1' is not a version specifier"),
    ([CELL, "--package", "gevent", "--with", "gunicorn<<26"], "'gunicorn<<26' is not a requi"),
    ([CELL, "--package", "gevent", "--bisect", "1..2", "--versions", ">1"], "leave out --vers"),
    ([CELL, "--package", "gevent", "--bisect", "1..2", "--python", "3.10,3.12"], "one Python"),
])
def test_bad_input_is_one_line_and_status_2(args, says):
    result = invoke("sweep", *args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output


# -- the cache --------------------------------------------------------------------------

def test_cache_shows_its_place_and_clear_removes_everything_saying_how_much(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "emitcheck"
    (root / "sweep" / "gevent-24.2.1-py3.11.7-abc").mkdir(parents=True)
    (root / "sweep" / "gevent-24.2.1-py3.11.7-abc" / "big").write_bytes(b"x" * 2_500_000)
    (root / "node-123").mkdir()
    (root / "node-123" / "probe").write_bytes(b"x" * 1000)
    shown = invoke("cache")
    assert shown.exit_code == 0
    assert f"emitcheck's cache: {root} (2.5 MB, 2 item(s))" in shown.output
    assert "sweep/gevent-24.2.1-py3.11.7-abc" in shown.output
    cleared = invoke("cache", "clear")
    assert cleared.exit_code == 0
    assert "removed 2 item(s), 2.5 MB" in cleared.output
    assert list(root.iterdir()) == []
    assert "nothing to remove" in invoke("cache", "clear").output
    assert cache.entries(root) == []


# -- real releases, real environments ---------------------------------------------------

@pytest.fixture(scope="module")
def sweepable():
    """uv and the package index, or a skip saying which is missing."""
    from emitcheck.sweep.environments import SweepError, find_uv

    try:
        find_uv()
    except SweepError as exc:
        pytest.skip(str(exc))
    try:
        index.releases("simple-websocket")
    except index.PackageIndexError as exc:
        pytest.skip(str(exc))


def _sweep(*args: str, timeout: float = 540):
    done = emitcheck("sweep", *args, "--json", "-", timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    return done, json.loads(done.stdout) if done.stdout.startswith("{") else None


def _nothing_left(document: dict) -> None:
    """No process runs in the environments, and none of their builds left a folder."""
    for listed in document["rows"]:
        folder = Path(listed["environment"])
        assert not processes_mentioning(str(folder))
        assert not list(folder.parent.glob(f".{folder.name}-*"))


@pytest.mark.timeout(600)
def test_bisect_over_real_releases_brackets_the_change_with_evidence(sweepable):
    done, document = _sweep(CELL, "--package", "simple-websocket", "--bisect", "0.9.0..1.0.0")
    assert done.returncode == 1, done.stderr  # a change was found
    found = document["bisect"]
    assert (found["good"], found["bad"], found["changed"]) == ("0.9.0", "0.10.0", True)
    assert found["tried"] == ["0.9.0", "1.0.0", "0.10.0"]  # 3 of the 4 releases
    verdicts = {r["version"]: r["results"][0]["verdict"] for r in document["rows"]}
    assert verdicts["0.9.0"] == "crashed"  # it cannot import Flask-SocketIO
    assert verdicts["0.10.0"] == verdicts["1.0.0"] == "delivered"
    for listed in document["rows"]:  # each row in an environment of its own release
        assert listed["reason"] is None
        assert listed["installed"]["simple-websocket"] == listed["version"]
        assert "emitcheck" not in listed["installed"]  # it runs from its copy
        assert [r["cell"] for r in listed["results"]] == [CELL]
    assert document["schema"] == 1 and document["kind"] == "sweep"
    _nothing_left(document)



@pytest.mark.timeout(300)
def test_a_release_uv_cannot_install_is_a_row_with_uv_s_reason_not_an_abort(sweepable):
    done, document = _sweep(CELL, "--package", "simple-websocket", "--versions", "==1.0.0",
                            "--with", "python-socketio<1")
    assert done.returncode == 3, done.stderr  # nothing ran: no answer (not "no change")
    assert "no release of simple-websocket could be installed (1 tried)" in done.stderr
    [listed] = document["rows"]
    assert listed["reason"].startswith("cannot be installed: No solution found")
    assert "python-socketio" in listed["reason"] and listed["results"] == []


@pytest.mark.timeout(120)
def test_an_unknown_package_or_release_is_one_line_and_status_2(sweepable):
    done = invoke("sweep", CELL, "--package", "no-such-package-emitcheck-xyz")
    assert done.exit_code == 2
    assert "no package 'no-such-package-emitcheck-xyz' on the package index" in done.stderr
    done = invoke("sweep", CELL, "--package", "simple-websocket", "--bisect", "0.9.0..9.9")
    assert done.exit_code == 2
    assert "9.9 is not a release of simple-websocket" in done.stderr


#: The other processes' releases in a mixed cell: python-socketio 5.8.0, and a
#: Flask-SocketIO that imports with it (server_child.py imports Flask-SocketIO;
#: 5.7.0 needs python-socketio 5.12's Server.reason).
OLD_OTHERS = ("python-socketio==5.8.0", "flask-socketio==5.3.6")


@pytest.mark.timeout(400)
@pytest.mark.parametrize("cell", ["threading-unpatched-process-time_sleep-redis",
                                  "threading-unpatched-celery-time_sleep-redis-solo"])
def test_other_processes_on_another_release_name_both_sides_releases(sweepable, cell):
    """The emitter (or the Celery worker) in an environment built with uv from this
    one with OLD_OTHERS instead; the web server on this one's releases."""
    runnable(cell)
    done = emitcheck("run", cell, "--json",
                     *(word for req in OLD_OTHERS for word in ("--others-with", req)),
                     timeout=380)
    assert "Traceback" not in done.stderr and done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    server = result["versions"]["python-socketio"]
    assert server != "5.8.0"  # the web server's: this environment's
    facts = result["observation"]["facts"]
    assert f"python-socketio {server}" in facts["web server ran"]
    assert "python-socketio 5.8.0" in facts["other processes ran"]
    assert "flask-socketio 5.3.6" in facts["other processes ran"]
    assert "; other processes ran: " in result["evidence"]


@pytest.fixture
def stand_ins(monkeypatch):
    """No network: the index (it lists the releases given), uv, the Python and the
    environments are stand-ins; ``row(python, version)`` stands for a built row."""
    import emitcheck.sweep.environments as sweep_env
    import emitcheck.sweep.releases as sweep_module

    def given(releases: list[str], built) -> None:
        monkeypatch.setattr(sweep_env, "find_uv", lambda: "uv")
        monkeypatch.setattr(sweep_env, "find_python",
                            lambda asked, uv: Python("3.11", sys.executable, "3.11.7"))
        monkeypatch.setattr(index, "index", lambda: index.Index(
            "https://index.invalid/simple", "default"))
        monkeypatch.setattr(index, "releases", lambda package, where=None:
                            [Version(version) for version in releases])
        monkeypatch.setattr(sweep_module.Sweeper, "row",
                            lambda self, python, version: built(python, version))

    return given


def test_a_sweep_where_no_release_installs_exits_3_saying_so_not_no_cell_changed(stand_ins,
                                                                                 tmp_path):
    """What the command says and its exit status when every row has uv's reason."""
    from emitcheck.sweep.releases import NOT_INSTALLED

    stand_ins(["1.0.0", "1.1.0"], lambda python, version: Row(
        python.asked, version, reason=f"{NOT_INSTALLED}: No solution found "
                                      "when resolving dependencies"))
    markdown_file = tmp_path / "sweep.md"
    result = CliRunner().invoke(main, ["sweep", CELL, "--package", "simple-websocket",
                                       "--markdown", str(markdown_file)])
    assert result.exit_code == 3, result.output
    assert "no release of simple-websocket could be installed (2 tried), so no verdict was " \
           "compared; cannot be installed: No solution found" in result.output
    assert "no cell changed" not in result.output.lower()
    assert "no cell changed" not in markdown_file.read_text().lower()
    assert "No release ran" in markdown_file.read_text()


def test_versions_and_newest_choose_the_releases_swept_oldest_first(stand_ins):
    """No network: which releases a sweep builds, from the index's list."""
    stand_ins(["0.9.0", "0.10.0", "0.10.1", "1.0.0", "1.1.0"],
              lambda python, version: row(version, "delivered"))
    result = CliRunner().invoke(main, ["sweep", CELL, "--package", "simple-websocket",
                                       "--versions", ">=0.10,<1.1", "--newest", "2",
                                       "--json", "-"])
    assert result.exit_code == 0, result.output  # both delivered: no change
    document = json.loads(result.stdout)
    assert [listed["version"] for listed in document["rows"]] == ["0.10.1", "1.0.0"]


def test_uv_missing_is_one_line_saying_how_to_install_it(monkeypatch):
    import emitcheck.sweep.environments as sweep_env

    monkeypatch.setattr(sweep_env.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "uv", None)  # import uv fails
    result = invoke("sweep", CELL, "--package", "simple-websocket")
    assert result.exit_code == 1
    assert "uv not found" in result.output and "pip install uv" in result.output


def _installing(sweep_root: Path) -> bool:
    """Is uv installing into (or byte-compiling) a new environment under ``sweep_root``?"""
    import psutil

    for proc in processes_mentioning(str(sweep_root / ".simple-websocket-")):
        try:
            words = " ".join(proc.cmdline())
        except psutil.Error:  # gone meanwhile
            continue
        if " install " in words or "compileall" in words:
            return True
    return False


@pytest.mark.timeout(180)
def test_ctrl_c_while_an_environment_builds_leaves_no_process_and_no_half_build(sweepable,
                                                                              tmp_path):
    from emitcheck.sweep.environments import find_uv

    uv_cache = subprocess.run([find_uv(), "cache", "dir"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    # An empty emitcheck cache (this build is new), uv's own cache as it is (quick).
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), UV_CACHE_DIR=uv_cache)
    sweep_root = tmp_path / "emitcheck" / "sweep"
    cli, err = interrupt_cli(["sweep", CELL, "--package", "simple-websocket",
                              "--versions", "==1.0.0"], env,
                             lambda: _installing(sweep_root),
                             "uv to install into a new environment")
    assert cli.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    wait_until(lambda: not processes_mentioning(str(tmp_path)), 5,
               "uv and its byte-compiler to be gone after Ctrl-C")
    assert not list(sweep_root.glob(".*"))  # the half-built environment is gone
    assert not list(sweep_root.glob("simple-websocket-*"))  # and nothing looks complete


# -- emitcheck report: the sweeps of several CI jobs as one ------------------------------

#: Two real sweep documents, one job each (eventlet 0.37.0 and 0.38.0 on Python 3.13,
#: recorded by .github/workflows/sweep.yml's job script on 2026-11-26).
JOBS = sorted((Path(__file__).parent / "data" / "sweeps").glob("eventlet-*.json"))


def test_report_merges_the_sweeps_of_several_jobs_and_finds_the_change_between_them(
        monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = invoke("report", *map(str, reversed(JOBS)))
    assert result.exit_code == 1, result.output  # a verdict changed: the finding
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ 0.3")]
    assert [row.split()[1] for row in rows] == ["0.37.0", "0.38.0"]  # version order
    assert "crashed with eventlet 0.37.0 -> delivered with eventlet 0.38.0" in result.stdout
    assert "start_joinable_thread" in result.stdout  # the evidence of the side that crashed


def test_report_refuses_sweeps_mixed_with_matrix_results_in_one_line():
    matrix = Path(__file__).parent / "data" / "results" / "matrix-sample.json"
    result = invoke("report", str(JOBS[0]), str(matrix))
    assert result.exit_code == 2
    assert "give either sweep documents (emitcheck sweep --json) or matrix results" \
        in result.stderr and "Traceback" not in result.output


def test_report_refuses_to_merge_sweeps_of_two_packages(tmp_path):
    other = json.loads(JOBS[0].read_text())
    other["package"] = "gevent"
    (tmp_path / "gevent.json").write_text(json.dumps(other))
    result = invoke("report", str(JOBS[1]), str(tmp_path / "gevent.json"))
    assert result.exit_code == 2 and "different packages (eventlet, gevent)" in result.stderr
