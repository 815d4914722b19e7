"""Guard your Flask-SocketIO app's background events in CI, with emitcheck.

Copy this file into your tests, set APP and EVENT, and list the modes you
deploy in your pytest configuration, for example in pyproject.toml:

    [tool.pytest.ini_options]
    emitcheck_modes = ["threading-unpatched", "gevent-patched"]

Each test then runs once per mode: your app is served in a process of its own
(patched first for "-patched" modes), a real client connects over 127.0.0.1,
and the events your background work emits are judged.
"""

APP = "myapp:socketio"  # MODULE:ATTR: your SocketIO object, Flask app, or factory()
EVENT = "tick"          # the event your background work emits


def test_background_events_reach_clients(emitcheck_serve, emitcheck_mode):
    served = emitcheck_serve(APP, mode=emitcheck_mode)
    result = served.observe(EVENT)
    assert result.verdict == "delivered", (
        f"{emitcheck_mode}: {result.verdict}: {result.evidence}; "
        f"to change: {' / '.join(result.remedies)}")


def test_a_running_server_sends_events_on_its_own(emitcheck_serve, emitcheck_observe):
    url = emitcheck_serve(APP).url  # or the URL of a server your CI started
    assert emitcheck_observe(url, EVENT).verdict == "delivered"
