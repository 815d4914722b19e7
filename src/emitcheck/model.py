"""The data emitcheck passes around and writes to files: plain records, no behaviour.

``Timing`` bounds a cell's window; an ``Observation`` is what the client saw
and what the server logged; ``Metrics`` and ``Verdict`` are what the
classifier makes of it; a ``CellResult`` is one cell's outcome. Everything
round-trips through JSON, and every file emitcheck writes (results,
baselines, reports) carries ``"schema": SCHEMA``; readers reject an unknown
version or a missing field with a one-line ``SchemaError``.

This module imports nothing of emitcheck and nothing outside the standard
library, so the classifier and the report can be used (and tested) without
servers, clients or async libraries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: The version of every JSON document emitcheck writes. Bump it when a field
#: changes meaning or goes away; readers refuse other versions.
SCHEMA = 1

VERDICTS = ("delivered", "delayed", "lost", "starved", "error", "crashed", "silent")


class SchemaError(ValueError):
    """A JSON document that is not what emitcheck writes; says what and where."""


def check_schema(data: Any, what: str) -> dict:
    """``data`` as a dict with the current schema, or a SchemaError naming ``what``."""
    if not isinstance(data, dict):
        raise SchemaError(f"{what} is not an emitcheck document (expected a JSON object "
                          f"with \"schema\": {SCHEMA})")
    if "schema" not in data:
        raise SchemaError(f"{what} has no \"schema\" field: not written by this emitcheck "
                          f"(which writes schema {SCHEMA})")
    if data["schema"] != SCHEMA:
        raise SchemaError(f"{what} has schema {data['schema']!r}; this emitcheck reads "
                          f"schema {SCHEMA} only")
    return data


def _require(data: Any, names: tuple[str, ...], what: str) -> dict:
    if not isinstance(data, dict):
        raise SchemaError(f"{what} is {type(data).__name__}, expected an object")
    missing = [name for name in names if name not in data]
    if missing:
        raise SchemaError(f"{what} has no {', '.join(repr(m) for m in missing)} field")
    return data


def _record(cls, data: Any, what: str):
    names = tuple(f.name for f in fields(cls))
    return cls(**{name: _require(data, names, what)[name] for name in names})


@dataclass(frozen=True)
class Timing:
    """How long each step may take. All waits in a cell are bounded by these."""
    interval: float = 0.1        # seconds between two emits of the work
    quiet: float = 1.0           # seconds of listening only
    traffic: float = 0.8         # seconds of acks and HTTP GETs
    drain: float = 0.2           # seconds to let the last events arrive
    ready_timeout: float = 20.0  # for the server to listen (imports on a busy machine)
    response_timeout: float = 2.5  # for a connect, an ack or an HTTP GET
    #: For work whose cadence we do not set (the user's app, someone's server):
    #: None keeps the quiet phase fixed (our cells). A number makes the window
    #: adapt: the quiet phase lasts until a few events were emitted (or arrived)
    #: and had time to arrive, and at most this many seconds.
    timeout: float | None = None
    #: The cadence of that work when the user knows it (--every), in seconds.
    every: float | None = None


@dataclass(frozen=True)
class Target:
    """What a client connects to and listens for."""
    url: str                        # http://HOST:PORT of the Socket.IO server
    transport: str = "default"      # a value of the transport factor
    event: str = "tick"             # the event the work emits
    ack_event: str | None = "probe"  # an event the server acknowledges; None: none
    health_path: str = "/health"    # a path for plain HTTP GETs
    namespace: str = "/"


@dataclass(frozen=True)
class Ack:
    """One acknowledged call of the traffic phase."""
    sent_at: float               # wall clock (time.time())
    ms: float | None             # round trip; None when it timed out


@dataclass(frozen=True)
class HttpGet:
    """One plain HTTP GET (alongside the connect, or in the traffic phase)."""
    sent_at: float
    ms: float | None             # None when not answered
    error: str | None            # "timeout", or the error; None when answered


@dataclass(frozen=True)
class Arrival:
    """One event the client received."""
    seq: int | None              # the payload's sequence number (None: not ours)
    emitted_at: float | None     # the payload's server time, when it has one
    arrived_at: float


@dataclass(frozen=True)
class Emit:
    """One emit the work logged on the server side."""
    seq: int
    at: float


#: Fields added within schema 1: files written before them read as empty.
_OPTIONAL = ("facts",)

_RECORDS = {"acks": Ack, "http": HttpGet, "received": Arrival, "emitted": Emit}


@dataclass
class Observation:
    """What one window showed: the client's side and the server's logs."""
    cell: str
    interval: float
    ready_error: str | None = None      # the server never listened (its NotReady text)
    exit_status: int | None = None      # the server process ended before the window did
    connect_ms: float | None = None
    connect_error: str | None = None
    connected_at: float | None = None   # wall-clock times (time.time()), same clock as
    quiet_end: float | None = None      # the server's: both processes on one machine
    traffic_end: float | None = None
    acks: list[Ack] = field(default_factory=list)
    http: list[HttpGet] = field(default_factory=list)
    received: list[Arrival] = field(default_factory=list)
    emitted: list[Emit] = field(default_factory=list)
    #: False when nobody logged the server's emits (a probe of someone else's
    #: server): then "nothing emitted" and "emitted but lost" cannot be told apart.
    emits_logged: bool = True
    tracebacks: int = 0                 # "Traceback" headers in the server's stderr
    log_tail: str = ""
    async_mode: str | None = None       # what the server reported it resolved to
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step
    #: What a cell's values observed beyond the events, as short named facts for
    #: the evidence: the transport the client ended on, the server it landed on,
    #: the path the events took ("transport": "polling", say).
    facts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, what: str = "observation") -> Observation:
        names = tuple(f.name for f in fields(cls))
        values = dict(_require(data, tuple(n for n in names if n not in _OPTIONAL), what))
        values.setdefault("facts", {})
        for name, record in _RECORDS.items():
            values[name] = [_record(record, item, f"{what}: an item of {name!r}")
                            for item in values[name]]
        return cls(**{name: values[name] for name in names})


@dataclass(frozen=True)
class Metrics:
    emitted: int               # emits the server logged while the probe was connected
    received: int              # of those, how many arrived
    quiet_emitted: int         # emits that had time to arrive during the quiet phase
    quiet_prompt: int          # of those, how many arrived promptly during it
    latency_ms: dict           # p50, p95, max over the received events (None if none)
    connect_ms: float | None
    ack_ms: float | None       # median acknowledged round trip
    http_ms: float | None      # median HTTP GET


@dataclass(frozen=True)
class Verdict:
    verdict: str
    evidence: str              # one line a human can paste into a bug report
    metrics: Metrics


NO_LATENCY = {"p50": None, "p95": None, "max": None}


@dataclass
class CellResult:
    """One cell's outcome: a verdict, a skip (with the reason), or a failure of
    emitcheck's own machinery (with the reason; neither verdict nor skip)."""
    cell: str                           # the cell id
    expected: str                       # the verdict we measured before
    why: str                            # why that verdict, one line
    doc: str                            # where the docs explain it
    verdict: str | None = None
    evidence: str = ""
    skipped: str | None = None
    failure: str | None = None          # emitcheck itself failed for this cell
    metrics: Metrics | None = None
    observation: Observation | None = None
    versions: dict = field(default_factory=dict)
    #: What to change, from the matrix we measured (for a user's app).
    remedies: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """Skipped, or the verdict we measured before (a failure never matches)."""
        return self.failure is None and (self.skipped is not None
                                         or self.verdict == self.expected)

    def to_json(self) -> dict:
        m = self.metrics
        return {
            "schema": SCHEMA,
            "cell": self.cell,
            "verdict": self.verdict,
            "expected": self.expected,
            "matches": self.matches,
            "skipped": self.skipped,
            "failure": self.failure,
            "evidence": self.evidence,
            "why": self.why,
            "doc": self.doc,
            "emitted": m.emitted if m else None,
            "received": m.received if m else None,
            "latency_ms": m.latency_ms if m else dict(NO_LATENCY),
            "connect_ms": m.connect_ms if m else None,
            "ack_ms": m.ack_ms if m else None,
            "http_ms": m.http_ms if m else None,
            "async_mode": self.observation.async_mode if self.observation else None,
            "versions": self.versions,
            "remedies": self.remedies,
            "observation": self.observation.to_dict() if self.observation else None,
        }

    @classmethod
    def from_json(cls, data: Any, what: str = "result") -> CellResult:
        data = _require(check_schema(data, what), RESULT_FIELDS, what)
        metrics = None
        if data["emitted"] is not None:
            metrics = Metrics(data["emitted"], data["received"], 0, 0, data["latency_ms"],
                              data["connect_ms"], data["ack_ms"], data["http_ms"])
        observation = None if data["observation"] is None else \
            Observation.from_dict(data["observation"], f"{what}: observation")
        return cls(data["cell"], data["expected"], data["why"], data["doc"], data["verdict"],
                   data["evidence"], data["skipped"], data["failure"], metrics, observation,
                   data["versions"], data.get("remedies", []))


#: The fields every result in a file must have (what ``to_json`` writes).
RESULT_FIELDS = ("schema", "cell", "verdict", "expected", "matches", "skipped", "failure",
                 "evidence", "why", "doc", "emitted", "received", "latency_ms", "connect_ms",
                 "ack_ms", "http_ms", "async_mode", "versions", "observation")


def results_document(results: list[dict], environment: dict) -> dict:
    """A results file: the schema, where the cells ran, and every result."""
    return {"schema": SCHEMA, "environment": environment, "results": results}


def read_results(path: Path) -> list[dict]:
    """The results in a file written by ``results_document`` (one-line errors)."""
    return read_document(path)[0]


def read_document(path: Path) -> tuple[list[dict], dict | None]:
    """The results in a file written by ``results_document``, and the
    environment it names (None when it names none); one-line errors."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path} is not a readable JSON file: {exc}") from None
    data = _require(check_schema(data, str(path)), ("results",), str(path))
    if not isinstance(data["results"], list):
        raise SchemaError(f"{path}: 'results' is not a list")
    for index, result in enumerate(data["results"]):
        _require(check_schema(result, f"{path}: result {index}"), RESULT_FIELDS,
                 f"{path}: result {index}")
    environment = data.get("environment")
    return data["results"], environment if isinstance(environment, dict) else None
