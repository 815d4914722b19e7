"""What loading an app once shows (``user_app.check``): its own monkey patch,
the namespaces it handles, a service its cells would share. Each is a real
load of a sample app in a process of its own (no server, no client)."""

from pathlib import Path

import pytest

from emitcheck.apps.user_app import AppSpec, check, patching_entry_points

SHAPES = Path(__file__).parent / "apps" / "shapes"
APPS = Path(__file__).parent / "apps"


def _check(target: str, folder: Path = SHAPES, **kwargs):
    return check(AppSpec(target, "tick", str(folder), **kwargs))


@pytest.mark.parametrize("target, library", [("eventlet_first:socketio", "eventlet"),
                                             ("gevent_first:socketio", "gevent")])
def test_an_app_whose_first_statement_patches_is_seen_patched_where_it_patches(target, library):
    info = _check(target)
    assert info.patches == library
    module = target.partition(":")[0]
    assert info.patched_at is not None and info.patched_at.startswith(f"{module}.py:")
    assert info.async_mode == library


def test_an_app_that_does_not_patch_is_not_seen_patched():
    info = _check("ticker_thread:socketio", APPS)
    assert info.patches is None and info.patched_at is None


def test_the_entry_script_that_patches_then_imports_the_app_is_found():
    spec = AppSpec("board:socketio", "score", str(SHAPES / "patched_in_wsgi"))
    assert patching_entry_points(spec) == ["wsgi"]
    assert check(spec).patches is None  # the module named does not patch
    assert _check("wsgi:app", SHAPES / "patched_in_wsgi").patches == "eventlet"


def test_the_namespaces_an_app_handles_are_listed():
    assert "/feed" in _check("class_namespace:socketio").namespaces


def test_an_app_that_imports_a_broker_client_shares_it_between_cells():
    info = _check("redis_relay:socketio")
    assert info.brokers == ("redis",)
    assert "redis" in (info.shared or "")


def test_an_app_with_neither_queue_nor_broker_shares_nothing():
    assert _check("ticker_task:socketio", APPS).shared is None


def test_the_environment_given_is_the_loads_own():
    """needs_env.py reads FEED_SYMBOL at import: without --env the load fails
    naming it, with it the app loads."""
    from emitcheck.apps.user_app import AppError

    with pytest.raises(AppError, match="KeyError: 'FEED_SYMBOL'"):
        _check("needs_env:socketio")
    assert _check("needs_env:socketio", env=(("FEED_SYMBOL", "ACME"),)).async_mode
