"""The fixtures for users' CI, through the example file users copy
(docs/examples/test_socketio_events.py), run by pytester against the sample
apps in tests/apps: the corrected one passes, the buggy one fails in the mode
where our matrix says it fails, naming the verdict and what to change."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from .helpers import share_the_cache_folder

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "test_socketio_events.py"
APPS = Path(__file__).parent / "apps"


@pytest.fixture(autouse=True)
def _one_cache_folder(monkeypatch):
    """Autouse: set up before pytester, whose HOME it must not read."""
    share_the_cache_folder(monkeypatch)


def _project(pytester: pytest.Pytester, sample: str, modes: list[str]) -> None:
    """A user's project: their app as myapp.py, the example test, their modes."""
    shutil.copy(APPS / f"{sample}.py", pytester.path / "myapp.py")
    shutil.copy(EXAMPLE, pytester.path / "test_socketio_events.py")
    pytester.makeini("[pytest]\nemitcheck_modes =\n" + "".join(f"    {m}\n" for m in modes))


def test_the_example_passes_on_the_corrected_app_in_every_mode_listed(pytester):
    _project(pytester, "ticker_task", ["threading-unpatched"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_background_events_reach_clients*threading-unpatched*"
                                 "PASSED*"])


def test_the_example_fails_on_the_buggy_app_where_the_matrix_says_so(pytester):
    if importlib.util.find_spec("gevent") is None:
        pytest.skip("gevent not installed: the buggy app fails only under gevent or eventlet")
    _project(pytester, "ticker_thread", ["threading-unpatched", "gevent-unpatched"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "-k", "background_events")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*gevent-unpatched: delayed: *to change: monkey patch "
                                 "first*"])


def test_modes_come_from_the_marker_before_the_ini(pytester):
    shutil.copy(APPS / "ticker_task.py", pytester.path / "myapp.py")
    pytester.makeini("[pytest]\nemitcheck_modes = gevent-patched\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.emitcheck_modes("threading-unpatched")
        def test_one(emitcheck_mode):
            assert emitcheck_mode == "threading-unpatched"

        def test_two(emitcheck_mode):
            assert emitcheck_mode == "gevent-patched"
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_an_app_that_does_not_load_fails_the_test_with_the_reason(pytester):
    shutil.copy(APPS / "broken_import.py", pytester.path / "myapp.py")
    pytester.makepyfile("""
        def test_serve(emitcheck_serve):
            emitcheck_serve("myapp:socketio")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines(["*did not start*"])
    result.stdout.fnmatch_lines(["*ModuleNotFoundError*a_module_nobody_installed*"])


def test_every_app_served_is_stopped_however_the_test_ends(pytester):
    """A test that raises, a fixture whose set-up raises after serving, and a
    test whose apps' stops both raise (each after stopping its app): a later
    test finds no app listening on any of their ports."""
    shutil.copy(APPS / "ticker_task.py", pytester.path / "myapp.py")
    pytester.makepyfile("""
        import socket

        import pytest

        PORTS = []


        def serve(emitcheck_serve):
            served = emitcheck_serve("myapp:socketio")
            PORTS.append(int(served.url.rsplit(":", 1)[1]))
            return served


        def test_raises(emitcheck_serve):
            serve(emitcheck_serve)
            raise RuntimeError("the test broke")


        @pytest.fixture
        def broken_setup(emitcheck_serve):
            serve(emitcheck_serve)
            raise RuntimeError("the set-up broke")


        def test_setup_raises(broken_setup):
            pass


        def test_stops_raise(emitcheck_serve):
            for served in (serve(emitcheck_serve), serve(emitcheck_serve)):
                def stop_then_raise(stop=served.run.stop):
                    stop()
                    raise RuntimeError("stopping broke")
                served.run.stop = stop_then_raise


        def test_nothing_listens_on_their_ports():
            assert len(PORTS) == 4
            for port in PORTS:
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    # passed: test_stops_raise's body, and test_nothing_listens_on_their_ports
    result.assert_outcomes(failed=1, errors=2, passed=2)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_setup_raises*",
                                 "*ERROR at teardown of test_stops_raise*"])


@pytest.mark.parametrize("factory, trigger", [
    ("at_import()", None),
    ("on_request()", "get:/start"),
    ("on_event()", "emit:go:{}"),
], ids=["at-import", "on-first-request", "on-client-event"])
def test_work_is_seen_however_it_starts_and_silent_without_its_trigger(
        emitcheck_serve, factory, trigger):
    served = emitcheck_serve(f"starts:{factory}", path=APPS)
    if trigger is not None:
        quiet = served.observe("tick", triggers=("connect",), timeout=2)
        assert quiet.verdict == "silent", quiet.evidence
    started = served.observe("tick", triggers=("connect", *([trigger] if trigger else [])))
    assert started.verdict == "delivered", started.evidence


SHAPES = APPS / "shapes"


def test_the_fixtures_connect_with_credentials_and_name_a_refusal_without(emitcheck_serve):
    served = emitcheck_serve("auth_token:socketio", mode="threading-unpatched", path=SHAPES)
    refused = served.observe("balance", timeout=5)
    assert refused.verdict == "error" and "unauthorized" in refused.evidence
    assert any("--auth JSON" in line for line in refused.remedies)
    given = served.observe("balance", auth={"token": "s3cret"}, timeout=5)
    assert given.verdict == "delivered", given.evidence


def test_the_fixtures_run_the_set_up_a_main_would(emitcheck_serve):
    served = emitcheck_serve("needs_setup:socketio", mode="threading-unpatched", path=SHAPES,
                             setup="needs_setup:start_feed")
    assert served.observe("gauge", timeout=5).verdict == "delivered"


def test_the_fixtures_serve_a_python_socketio_app_in_its_own_rows(emitcheck_serve):
    """A FastAPI app (python-socketio's AsyncServer) under uvicorn in its row; a
    sync row cannot serve it, and the start says which rows can."""
    from emitcheck.apps.user_app import AppError

    served = emitcheck_serve("fastapi_lifespan:app", mode="asgi-unpatched", path=SHAPES)
    assert served.observe("price", timeout=5).verdict == "delivered"
    with pytest.raises(AppError, match="serve it in auto-unpatched or asgi-unpatched"):
        emitcheck_serve("fastapi_lifespan:app", mode="threading-unpatched", path=SHAPES)
