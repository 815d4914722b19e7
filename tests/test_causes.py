"""The cause before the verdict, on recorded logs and observations (no servers).

The logs in tests/data/logs were written by real servers (a Werkzeug server
whose connect handler raised, a gunicorn worker that failed to boot), with the
app's folder renamed to /srv/app and the virtualenv to /venv.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from emitcheck import scripts
from emitcheck.apps.user_app import AppSpec, what_to_change
from emitcheck.model import tracebacks
from emitcheck.model.causes import HANDED_OFF, app_exception, app_facts
from emitcheck.model.credentials import Credentials
from emitcheck.model.results import Emit, HttpGet, Observation
from emitcheck.model.verdicts import APP_EXCEPTION, REFUSED_BY, classify

LOGS = Path(__file__).parent / "data" / "logs"
APP_ROOT = Path("/srv/app")
SPEC = AppSpec("app:socketio", "tick", str(APP_ROOT))


def _log(name: str) -> str:
    return (LOGS / name).read_text()


def test_a_traceback_is_read_to_its_exception_line_past_interleaved_log_lines():
    log = _log("werkzeug-connect-handler-raised.log")
    found = tracebacks.parse(log)
    assert [t.exception for t in found] == ["KeyError: 'ROOM'"]
    assert found[0].frames[-1].file == "/srv/app/srv.py" and found[0].frames[-1].line == 11


def test_a_log_line_that_quotes_a_traceback_header_is_not_a_traceback():
    log = ("INFO:engineio.server:got 'Traceback (most recent call last):' from a client\n"
           "DEBUG:app: all fine\n")
    assert tracebacks.parse(log) == []


def test_a_log_record_between_frames_and_exception_is_not_taken_for_the_exception():
    log = ("Traceback (most recent call last):\n"
           '  File "/srv/app/app.py", line 3, in work\n'
           "    boom()\n"
           "INFO:engineio.server:Sending packet MESSAGE\n"
           "127.0.0.1 - - [05/Dec/2026 01:20:43] \"GET / HTTP/1.1\" 200 -\n"
           "ZeroDivisionError: division by zero\n")
    assert tracebacks.last_exception(log) == "ZeroDivisionError: division by zero"


def test_a_worker_that_failed_to_boot_is_named_by_the_apps_own_line_not_gunicorns():
    log = _log("gunicorn-worker-failed-to-boot.log")
    assert app_exception(log, APP_ROOT) == \
        "KeyError: 'APP_SECRET' at bootfail.py:6 (in <module>)"
    obs = Observation("auto-unpatched-app-own-gunicorn", 0.2, exit_status=3, log_tail=log,
                      facts={APP_EXCEPTION: app_exception(log, APP_ROOT)})
    judged = classify(obs)
    assert judged.verdict == "crashed"
    assert "KeyError: 'APP_SECRET' at bootfail.py:6" in judged.evidence


def test_an_exception_outside_the_apps_folder_is_not_the_apps():
    log = _log("werkzeug-connect-handler-raised.log")
    assert app_exception(log, Path("/somewhere/else")) is None


def _wedged(**facts) -> Observation:
    """A connect that got no answer while HTTP answered: lost, by effect alone."""
    return Observation("auto-unpatched-app-own", 0.2, connect_error="Unexpected connection error",
                       http=[HttpGet(1.0, 2.0, None), HttpGet(2.0, 2.0, None)],
                       emitted=[], facts=facts)


def test_without_a_cause_a_wedged_connect_is_lost():
    assert classify(_wedged()).verdict == "lost"


def test_an_app_exception_makes_the_cell_error_before_the_lost_rule_and_names_it():
    judged = classify(_wedged(**{APP_EXCEPTION: "KeyError: 'ROOM' at app.py:12 (in connect)"}))
    assert judged.verdict == "error"
    assert "KeyError: 'ROOM' at app.py:12" in judged.evidence


def test_a_refusal_by_the_apps_connect_handler_is_error_naming_the_handler():
    refusal = "the connect handler app.py:9 (on_connect) returned False"
    obs = replace(_wedged(**{REFUSED_BY: refusal}),
                  connect_error="One or more namespaces failed to connect: /")
    judged = classify(obs)
    assert judged.verdict == "error" and refusal in judged.evidence


def test_the_connect_log_says_who_refused_and_how():
    entries = [{"kind": "connect", "namespace": "/", "handler": "/srv/app/app.py:9 (on_connect)",
                "refused": True, "outcome": "returned False"}]
    facts = app_facts(SPEC, entries, "")
    assert facts[REFUSED_BY] == "the connect handler app.py:9 (on_connect) returned False"


def test_a_connect_handler_that_raised_another_exception_is_not_a_refusal():
    entries = [{"kind": "connect", "namespace": "/", "handler": "/srv/app/app.py:9 (on_connect)",
                "refused": False, "outcome": "raised KeyError: 'ROOM'"}]
    assert REFUSED_BY not in app_facts(SPEC, entries, "")


def test_a_namespace_the_app_does_not_handle_is_named_with_the_ones_it_does():
    entries = [{"kind": "served", "namespaces": ["/live", "/pty"], "patches": None}]
    facts = app_facts(SPEC, entries, "")
    assert facts["namespace"] == "the app handles no namespace / (it handles /live, /pty)"


def test_when_the_watched_event_never_was_emitted_the_events_that_were_are_named():
    entries = [{"event": "pty-output", "namespace": "/pty", "at": 1.0 + i, "os_thread": False}
               for i in range(12)]
    facts = app_facts(SPEC, entries, "")
    assert facts["the app emitted"] == "'pty-output' x12 in /pty"
    [line] = what_to_change(SPEC, "auto-unpatched-app-own",
                            Observation("x", 0.2, facts=facts), "silent")
    assert "'pty-output' x12 in /pty" in line


def test_the_fix_for_an_exception_is_for_the_exception_not_a_monkey_patch():
    facts = {APP_EXCEPTION: "KeyError: 'ROOM' at app.py:12 (in on_connect)"}
    [line] = what_to_change(SPEC, "eventlet-unpatched-app-own",
                            Observation("x", 0.2, facts=facts), "error")
    assert "KeyError: 'ROOM' at app.py:12" in line and "--setup" in line
    assert "monkey patch" not in line


def test_the_fix_for_a_refusal_is_credentials():
    facts = {REFUSED_BY: "the connect handler app.py:9 (on_connect) returned False"}
    [line] = what_to_change(SPEC, "auto-unpatched-app-own", Observation("x", 0.2, facts=facts),
                            "error")
    assert "--auth JSON" in line and "--header" in line and "were refused too" not in line
    given = replace(SPEC, credentials=Credentials({"token": "x"}))
    [line] = what_to_change(given, "auto-unpatched-app-own",
                            Observation("x", 0.2, facts=facts), "error")
    assert "were refused too" in line


@pytest.mark.parametrize("cell, verdict", [("eventlet-unpatched-app-own", "lost"),
                                           ("gevent-unpatched-app-own", "delayed")])
def test_an_app_that_patches_itself_is_never_told_to_monkey_patch(cell, verdict):
    plain = what_to_change(SPEC, cell, Observation("x", 0.2), verdict)
    assert any("monkey patch first" in line for line in plain), plain  # the control
    patched = Observation("x", 0.2, facts={"patched by": "the app itself, with eventlet"})
    assert not any("monkey patch" in line
                   for line in what_to_change(SPEC, cell, patched, verdict))


def test_an_app_whose_work_is_a_server_task_is_never_told_to_use_start_background_task():
    plain = what_to_change(SPEC, "gevent-unpatched-app-own", Observation("x", 0.2), "delayed")
    assert any("start_background_task" in line for line in plain), plain  # the control
    tasks = Observation("x", 0.2, facts={"emitted from": "the server's own tasks"})
    assert not any("start_background_task" in line for line in
                   what_to_change(SPEC, "gevent-unpatched-app-own", tasks, "delayed"))


def test_emits_from_os_threads_and_tasks_are_told_apart():
    entries = [{"event": "tick", "namespace": "/", "at": 1.0, "os_thread": True},
               {"event": "tick", "namespace": "/", "at": 1.2, "os_thread": True}]
    assert app_facts(SPEC, entries, "")["emitted from"] == "an OS thread"
    entries = [{**e, "os_thread": False} for e in entries]
    assert app_facts(SPEC, entries, "")["emitted from"] == "the server's own tasks"


def test_our_own_cells_have_no_causes_and_keep_their_verdicts():
    """Without facts (our matrix), the rules that only see effects decide."""
    obs = Observation("eventlet-unpatched-thread-time_sleep", 0.1, connect_ms=5.0,
                      connected_at=1.0, quiet_end=2.0, traffic_end=2.8,
                      emitted=[Emit(i, 1.0 + i / 10) for i in range(1, 15)], tracebacks=1,
                      log_tail="Traceback (most recent call last):\n  File \"x\", line 1\n"
                               "RuntimeError: boom\n")
    judged = classify(obs)
    assert judged.verdict == "error" and "RuntimeError: boom" in judged.evidence


def test_an_exception_of_a_lowercase_dotted_class_is_read_with_its_message():
    log = ("Traceback (most recent call last):\n"
           '  File "/venv/eventlet/queue.py", line 117, in switch\n'
           "    self.greenlet.switch(value)\n"
           "greenlet.error: Cannot switch to a different thread\n"
           "\tCurrent:  <greenlet.greenlet object at 0x1>\n")
    assert tracebacks.last_exception(log) == \
        "greenlet.error: Cannot switch to a different thread"


def _settled(emits: list[float], arrivals: list[float], **facts) -> Observation:
    from emitcheck.apps.user_app import UserApp
    from emitcheck.model.results import Arrival

    obs = Observation("auto-unpatched-app-own", 3.0, connect_ms=1000.0, connected_at=101.0,
                      emitted=[Emit(i + 1, at) for i, at in enumerate(emits)],
                      received=[Arrival(None, None, at) for at in arrivals], facts=facts)
    UserApp(SPEC).settle(obs)
    return obs


def test_an_emit_made_while_the_client_was_connecting_that_never_arrived_shifts_nothing():
    """The app blocked its hub for 1 s during the connect and emitted once meanwhile (a
    broadcast the connecting client never got); then every 3 s, each arriving in 4 ms."""
    obs = _settled([100.5, 104.0, 107.0], [104.004, 107.004])
    assert [round(a.arrived_at - a.emitted_at, 3) for a in obs.received] == [0.004, 0.004]


def test_a_greeting_emitted_while_the_client_was_connecting_is_paired_with_its_arrival():
    obs = _settled([100.5, 104.0], [101.001, 104.004])
    assert [a.seq for a in obs.received] == [1, 2]


def test_events_another_process_emitted_through_the_queue_are_judged_by_their_arrivals():
    obs = _settled([], [102.0, 102.1], **{"message queue": "RedisManager"})
    assert obs.emits_logged is False and "another process" in obs.facts["emitted by"]
    assert _settled([], [102.0]).emits_logged is True  # no queue: nothing else could emit


def test_a_main_block_that_sets_up_before_serving_is_named_for_setup(tmp_path):
    from emitcheck.apps.user_app import main_block_calls

    (tmp_path / "app.py").write_text(
        "import threading\nfrom flask_socketio import SocketIO\nsocketio = SocketIO()\n"
        "def work(): pass\n"
        "if __name__ == '__main__':\n"
        "    threading.Thread(target=work).start()\n"
        "    print('serving')\n"
        "    socketio.run(None)\n")
    spec = AppSpec("app:socketio", "tick", str(tmp_path))
    assert main_block_calls(spec) == ["start() (app.py:6)", "Thread() (app.py:6)"]
    lines = what_to_change(spec, "auto-unpatched-app-own", Observation("x", 0.2), "silent")
    assert any("--setup MODULE:FUNCTION" in line and "Thread()" in line for line in lines)


# An OS thread's run_coroutine_threadsafe onto a loop that is not the server's.

def _handoff(running=False, coroutine="AsyncServer.emit", **entry) -> dict:
    return {"kind": "other_loop", "at": 1.0, "where": "/srv/app/app.py:37 (poll_device)",
            "code": "asyncio.run_coroutine_threadsafe(sio.emit('tick', data), loop)",
            "coroutine": coroutine, "running": running,
            "made_at": "/srv/app/app.py:29 (<module>)",
            "made_code": "loop = asyncio.new_event_loop()", **entry}


def test_emits_handed_to_a_loop_made_at_import_are_named_with_where_it_was_taken():
    entries = [_handoff(), {"event": "tick", "namespace": "/", "at": 1.0, "os_thread": True}]
    facts = app_facts(SPEC, entries, "")
    assert facts[HANDED_OFF] == (
        "run_coroutine_threadsafe(AsyncServer.emit) at app.py:37 (poll_device) onto a loop "
        "that is not the server's running loop (taken at app.py:29: loop = "
        "asyncio.new_event_loop(); it is not running)")
    assert list(facts).index(HANDED_OFF) < list(facts).index("emitted from")  # cause first


def test_a_running_loop_of_the_apps_own_is_a_cause_only_for_socketios_coroutines():
    """A loop the app runs in a thread for its own work (a database client) is no
    fault; an emit handed to it queues packets without waking the server's loop."""
    assert HANDED_OFF not in app_facts(SPEC, [_handoff(running=True, coroutine="store")], "")
    facts = app_facts(SPEC, [_handoff(running=True)], "")
    assert facts[HANDED_OFF].endswith("running in another thread)")
    # any coroutine on a loop that never runs: the app's own wrapper of the emit too
    assert "run_coroutine_threadsafe(send)" in \
        app_facts(SPEC, [_handoff(coroutine="send", made_at=None)], "")[HANDED_OFF]


@pytest.mark.parametrize("verdict", ["lost", "silent"])
def test_the_fix_for_a_handoff_to_another_loop_is_the_servers_running_loop(verdict):
    """Not 'monkey patch first', 'start_background_task', nor 'await every emit':
    the app already emits from its thread the way asyncio asks, onto the wrong loop."""
    facts = app_facts(SPEC, [_handoff()], "")
    [line] = what_to_change(SPEC, "asgi-unpatched-app-own", Observation("x", 0.2, facts=facts),
                            verdict)
    assert line.startswith("run_coroutine_threadsafe(AsyncServer.emit) at app.py:37")
    assert "asyncio.get_running_loop()" in line and "taken at app.py:29" in line
    assert not re.search(r"monkey patch|start_background_task|await every", line)


def test_the_app_child_logs_a_handoff_to_a_loop_made_at_import_not_to_the_serving_loop(
        tmp_path):
    """app_child_loops.handoffs, in a process of its own (it wraps asyncio's
    functions): a thread hands one coroutine to a loop made at import, one to the
    serving loop; only the first is logged, with both places of the app's code."""
    script = tmp_path / "handoff.py"
    script.write_text(textwrap.dedent("""\
        import asyncio, json, sys
        sys.path.insert(0, sys.argv[1])
        import app_child_loops

        class Log:
            serving_loop = None
            def write(self, **entry):
                print(json.dumps(entry))

        log = Log()
        app_child_loops.handoffs(asyncio, log, sys.argv[2])
        idle = asyncio.new_event_loop()

        async def tick():
            return 1

        def thread(serving):
            asyncio.run_coroutine_threadsafe(tick(), idle)
            asyncio.run_coroutine_threadsafe(tick(), serving).result(10)

        async def serve():
            log.serving_loop = asyncio.get_running_loop()
            await asyncio.to_thread(thread, log.serving_loop)

        asyncio.run(serve())
        """))
    proc = subprocess.run([sys.executable, str(script), str(scripts.FOLDER), str(tmp_path)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [entry] = [json.loads(line) for line in proc.stdout.splitlines()]
    root = os.path.realpath(tmp_path)
    assert entry["where"] == f"{root}/handoff.py:18 (thread)"
    assert entry["made_at"] == f"{root}/handoff.py:12 (<module>)"
    assert entry["made_code"] == "idle = asyncio.new_event_loop()"
    assert (entry["kind"], entry["coroutine"], entry["running"]) == ("other_loop", "tick", False)
