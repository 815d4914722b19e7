"""``emitcheck app`` agrees with the oracle on every app shape of tests/apps/shapes.

For each shape (tests/oracle.py: how its authors run it, what it needs, how
it emits by design) the test first runs the oracle, live: the shape started
the way its own code starts it, a plain python-socketio client, a fixed
window, and what arrived reduced to an outcome. Then it runs ``emitcheck app``
on the app's own row only (``-k auto-unpatched-app-own``: its own async mode
under ``socketio.run``, nothing patched by emitcheck) with the options the
shape needs (``--auth``, ``--header``, ``--query``, ``--setup``, ``--env``,
``--trigger``, ``--namespace``), and asserts that emitcheck's verdict is the
one the oracle's outcome calls for:

- steady: delivered;
- bursty: delayed (or delivered, for a shape whose design is batches: its
  clumps are what it emits, and emitcheck sees them in its emit log);
- none: silent or lost, with the cause in the evidence where the shape
  names one;
- stopped (no event, and then a plain GET got no answer): starved, with the
  cause in the evidence where the shape names one;
- refused: error, the evidence naming the server's rejection message;
- no answer, with an exception in the server's log: error, the evidence
  naming that exception.

Nothing is hard-coded: the outcome is measured in the test, so a shape that
behaves differently on another stack moves both sides. The oracle never
imports eventlet or gevent (the shapes run in subprocesses), and judges only
in ratios of the shape's own design.
"""

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from . import oracle
from .helpers import emitcheck, processes_mentioning

#: A whole-test bound: the shape listening, its window, then emitcheck's own
#: load check and one cell (each bounded on its own, well below this).
pytestmark = pytest.mark.timeout(300)


def _window(shape: oracle.Shape) -> float:
    """Short, but at least two of the design's periods (hold_flush: 7 s)."""
    return min(shape.window, max(3.0, 2.4 * shape.design.every))


def _timeout(shape: oracle.Shape) -> float:
    """emitcheck's ``--timeout``: the longest its window waits for the app's
    events (it ends once a few have come and had time to arrive). The oracle's
    window and 2 s more, so emitcheck watches at least what the oracle did; a
    shape that sends nothing is waited out to the end of it."""
    return _window(shape) + 2.0


def _own_row(proc) -> dict:
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"emitcheck app printed no JSON (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-1500:]}") from None
    rows = [r for r in data["results"] if not r.get("skipped")]
    assert [r["cell"] for r in rows] == [oracle.OWN_ROW], \
        f"-k {oracle.OWN_ROW} should select the app's own row alone: {[r['cell'] for r in rows]}"
    return rows[0]


#: python-socketio's message for a connect handler that returns False or raises
#: ConnectionRefusedError() without one: the library's words, not the app's.
DEFAULT_REJECTION = "Connection rejected by server"


def _names_the_rejection(evidence: str, rejection: str | None) -> bool:
    """The app's own rejection message is in the evidence; for the library's
    default message, the evidence says the client was refused (or rejected)."""
    if rejection and rejection != DEFAULT_REJECTION:
        return rejection in evidence
    return bool(re.search(r"refused|rejected", evidence))


def _says(shape, seen, result, why, row, args) -> str:
    return (f"\n  oracle: {result} ({why})"
            f"\n  emitcheck app {' '.join(args)}"
            f"\n  own row: {row.get('verdict')}: {row.get('evidence')}"
            f"\n  remedies: {row.get('remedies')}"
            + (f"\n  the server's exception: {seen.exception}" if seen.exception else ""))


@pytest.mark.parametrize("shape", oracle.shapes(), ids=lambda s: s.id)
def test_emitcheck_app_agrees_with_the_oracle(shape, tmp_path):
    with oracle.services(shape, tmp_path) as redis_url, ThreadPoolExecutor(1) as side:
        def watch():
            return oracle.observe(shape, tmp_path / "oracle", window=_window(shape),
                                  redis_url=redis_url)

        # The oracle and emitcheck run side by side (each its own servers on free
        # ports), except where they would share a Redis channel and see each
        # other's events.
        watching = None if redis_url else side.submit(watch)
        args = oracle.emitcheck_args(shape, redis_url, timeout=_timeout(shape))
        proc = oracle.run_emitcheck(args, oracle.emitcheck_env(shape, redis_url, tmp_path),
                                    timeout=240)
        seen = watching.result() if watching else watch()
        result, why = oracle.outcome(seen, shape.design)
    row = _own_row(proc)
    says = _says(shape, seen, result, why, row, args)
    verdict, wanted = row["verdict"], oracle.expected_verdicts(shape, seen, result)
    assert verdict in wanted, says
    evidence = row.get("evidence") or ""
    if result == "refused":
        assert _names_the_rejection(evidence, seen.rejection), \
            f"the evidence should name the rejection {seen.rejection!r}" + says
    if result == "no_answer" and seen.exception:
        assert seen.exception in evidence, \
            f"the evidence should name the exception {seen.exception!r}" + says
    if result in ("none", "stopped") and shape.cause:
        assert re.search(shape.cause, evidence), \
            f"the evidence should give the cause (/{shape.cause}/)" + says
    assert processes_mentioning(str(tmp_path)) == []


# The oracle's reduction, on arrivals made up for the purpose: it must be able
# to tell each outcome from the others, or the test above proves nothing.

def _seen(arrivals, window=5.0, **kwargs):
    return oracle.Seen("made-up", window, arrivals=list(arrivals), **kwargs)


def test_the_oracle_calls_events_at_the_designed_cadence_steady():
    result, why = oracle.outcome(_seen(0.2 * i for i in range(1, 26)), oracle.STREAM)
    assert result == "steady", why


def test_the_oracle_calls_events_clumped_after_a_long_silence_bursty():
    # the first two on time, then nothing for 3 s, then the held ones at once
    arrivals = [0.2, 0.4] + [3.4 + 0.001 * i for i in range(15)] + [3.6 + 0.2 * i
                                                                   for i in range(7)]
    result, why = oracle.outcome(_seen(arrivals), oracle.STREAM)
    assert result == "bursty", why


def test_the_oracle_calls_one_event_then_silence_bursty_and_no_event_none():
    assert oracle.outcome(_seen([0.0]), oracle.STREAM)[0] == "bursty"
    assert oracle.outcome(_seen([]), oracle.STREAM)[0] == "none"


def test_the_oracle_judges_clumps_against_the_design():
    """Ten back to back every second: the design of a batcher, a delay of a ticker."""
    clumps = [second + 0.001 * i for second in range(5) for i in range(10)]
    assert oracle.outcome(_seen(clumps), oracle.Design(1.0, batch=10))[0] == "steady"
    assert oracle.outcome(_seen(clumps), oracle.STREAM)[0] == "bursty"


def test_the_oracle_calls_a_greeting_steady_only_for_a_greeting():
    assert oracle.outcome(_seen([0.0]), oracle.Design(0.0, once=True))[0] == "steady"
    assert oracle.outcome(_seen([]), oracle.Design(0.0, once=True))[0] == "none"


def test_the_oracle_tells_a_server_that_stopped_answering_from_one_that_sent_nothing():
    assert oracle.outcome(_seen([], answers=False), oracle.STREAM)[0] == "stopped"
    assert oracle.outcome(_seen([], answers=True), oracle.STREAM)[0] == "none"


def test_the_oracle_tells_a_refusal_from_no_answer():
    refused = _seen([], connect="refused", connect_message="unauthorized")
    unanswered = _seen([], connect="no_answer", connect_message="Unexpected connection error")
    assert oracle.outcome(refused, oracle.STREAM)[0] == "refused"
    assert oracle.outcome(unanswered, oracle.STREAM)[0] == "no_answer"


# Throughput is not loss (tests/test_throughput.py has the rules): a real app at a
# high rate keeps its verdicts whatever the number of cells run at once.

def test_an_apps_verdicts_do_not_depend_on_jobs(tmp_path):
    """A high rate (1,000 events a second), its three cells (two modes, both
    servers) one at a time and all three at once."""
    verdicts = []
    for jobs in ("1", "3"):
        proc = emitcheck("app", "high_rate:socketio", "--event", "sample",
                         "--path", str(oracle.SHAPES_DIR),
                         "-k", "threading-unpatched,gevent-patched-app-own-gunicorn",
                         "--timeout", "6", "--jobs", jobs, "--json",
                         env=dict(os.environ, TMPDIR=str(tmp_path)), timeout=240)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        results = json.loads(proc.stdout)["results"]
        verdicts.append({r["cell"]: r["verdict"] for r in results if not r["skipped"]})
    assert len(verdicts[0]) == 3 and verdicts[0] == verdicts[1]
