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
import math
import types
import typing
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: The version of every JSON document emitcheck writes. Bump it when a field
#: changes meaning or goes away; readers refuse other versions.
SCHEMA = 1

VERDICTS = ("delivered", "delayed", "lost", "starved", "error", "crashed", "silent")


class SchemaError(ValueError):
    """A JSON document that is not what emitcheck writes; says what and where,
    in one line (a line break in what it quotes is written as a space)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).splitlines()))


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


# -- the type of every field ------------------------------------------------------------
#
# A spec says what a JSON value must be: ``str``, ``int``, ``float`` (a finite
# number: an int or a float, never true/false), ``bool`` or ``None`` (null);
# a tuple of specs (any of them); ``Choice`` (one of these strings); ``ListOf``;
# ``MapOf`` (an object, any keys, each value of a spec); ``Fields`` (an object
# with these fields; others are let through: a later emitcheck of schema 1 may
# add some); ``ANY``. ``check`` raises a one-line SchemaError naming the field.


class Choice(tuple):
    """One of these strings."""


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    value: Any


@dataclass(frozen=True)
class Fields:
    required: dict[str, Any]
    optional: dict[str, Any] = field(default_factory=dict)
    #: Fields a file must not have (emitcheck adds them in memory only).
    refused: tuple[str, ...] = ()


def _shape_of(spec: Any) -> type | None:
    """The JSON kind a value of ``spec`` has at its top (None: null)."""
    if isinstance(spec, Choice):
        return str
    if isinstance(spec, Fields | MapOf):
        return dict
    if isinstance(spec, ListOf):
        return list
    return None if spec is None else spec


def _fits(value: Any, shape: type | None) -> bool:
    if shape is None:
        return value is None
    if shape in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool) and \
            (shape is float or isinstance(value, int))
    return isinstance(value, shape)


_NAMES: dict[Any, str] = {str: "a string", int: "an integer", float: "a number",
                          bool: "true or false", None: "null", dict: "an object",
                          list: "a list"}


def _name(spec: Any) -> str:
    if isinstance(spec, Choice):
        return "one of " + ", ".join(spec)
    if isinstance(spec, tuple):
        return " or ".join(_name(alternative) for alternative in spec)
    return _NAMES[_shape_of(spec)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _described(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return f"the string {_short(value)}"
    return "a list" if isinstance(value, list) else "an object"


def _field_label(key: str) -> str:
    return key if key.isprintable() and len(key) <= 40 else _short(key)


#: Any JSON value (what a reader passes on without reading it).
ANY = object


def check(value: Any, spec: Any, what: str, path: str = "") -> None:
    """``value`` is of ``spec``, or a SchemaError: ``what: 'path' is X, expected Y``."""
    if spec is ANY:
        return
    where = f"{what}: {path!r}" if path else what
    alternatives = spec if isinstance(spec, tuple) and not isinstance(spec, Choice) else (spec,)
    chosen = next((a for a in alternatives if _fits(value, _shape_of(a))), _NO_FIT)
    if chosen is _NO_FIT:
        raise SchemaError(f"{where} is {_described(value)}, expected {_name(spec)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"{where} is {value}, expected a finite number")
    if isinstance(chosen, Choice) and value not in chosen:
        raise SchemaError(f"{where} is {_short(value)}, expected {_name(chosen)}")
    if isinstance(chosen, ListOf):
        for index, item in enumerate(value):
            check(item, chosen.item, what, f"{path}[{index}]")
    elif isinstance(chosen, MapOf):
        for key, item in value.items():
            check(item, chosen.value, what, f"{path}.{_field_label(key)}".lstrip("."))
    elif isinstance(chosen, Fields):
        missing = [name for name in chosen.required if name not in value]
        if missing:
            raise SchemaError(f"{where} has no {', '.join(map(repr, missing))} field")
        refused = [name for name in chosen.refused if name in value]
        if refused:
            raise SchemaError(f"{where} has {', '.join(map(repr, refused))}: not a field of "
                              "a file (emitcheck works it out when it draws a grid)")
        for name, item_spec in (chosen.required | chosen.optional).items():
            if name in value:
                check(value[name], item_spec, what, f"{path}.{name}".lstrip("."))


_NO_FIT = object()


def _spec_of_hint(hint: Any) -> Any:
    """The spec of a type annotation of the records below (``float | None``,
    ``list[Ack]``, ``dict[str, str]``, a dataclass)."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return tuple(_spec_of_hint(arg) for arg in typing.get_args(hint))
    if origin is list:
        return ListOf(_spec_of_hint(typing.get_args(hint)[0]))
    if origin is dict:
        return MapOf(_spec_of_hint(typing.get_args(hint)[1]))
    if hint is type(None):
        return None
    if is_dataclass(hint):
        return spec_of(hint)
    if hint in (str, int, float, bool):
        return hint
    return {dict: MapOf(ANY), list: ListOf(ANY)}.get(hint, ANY)  # not read: let through


_SPECS: dict[str, Fields] = {}


def spec_of(record: Any) -> Fields:
    """The spec of a record's JSON form (``asdict``), from its annotations:
    every field required but those added within schema 1 (``_OPTIONAL``)."""
    if record.__name__ not in _SPECS:
        hints = typing.get_type_hints(record)
        specs = {f.name: _spec_of_hint(hints[f.name]) for f in fields(record)}
        _SPECS[record.__name__] = Fields(
            {n: s for n, s in specs.items() if n not in _OPTIONAL},
            {n: s for n, s in specs.items() if n in _OPTIONAL})
    return _SPECS[record.__name__]


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
class Credentials:
    """What a client presents to a server that asks for it (``emitcheck probe
    --auth/--header/--query``; ``emitcheck.model.credentials`` parses them). Defined
    here, not there, so that ``Target`` keeps this module standalone."""
    auth: dict | None = None                    # Socket.IO auth payload (connect(auth=...))
    headers: tuple[tuple[str, str], ...] = ()   # extra HTTP headers, e.g. Cookie or Authorization
    query: tuple[tuple[str, str], ...] = ()     # query string parameters on the connection URL

    def connect_url(self, url: str) -> str:
        """``url`` with the query parameters added (after its own, if it has some)."""
        if not self.query:
            return url
        return f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(self.query)}"

    def to_json(self) -> dict:
        return {"auth": self.auth, "headers": [list(pair) for pair in self.headers],
                "query": [list(pair) for pair in self.query]}

    @classmethod
    def from_json(cls, data: Any) -> Credentials:
        """The inverse of ``to_json`` (SchemaError, one line, for anything else)."""
        data = _require(data, ("auth", "headers", "query"), "credentials")
        if data["auth"] is not None and not isinstance(data["auth"], dict):
            raise SchemaError("credentials: 'auth' is not an object or null")
        pairs = {}
        for name in ("headers", "query"):
            items = data[name]
            if not isinstance(items, list) or not all(
                    isinstance(item, list | tuple) and len(item) == 2
                    and all(isinstance(part, str) for part in item) for item in items):
                raise SchemaError(f"credentials: {name!r} is not a list of [NAME, VALUE] strings")
            pairs[name] = tuple((str(n), str(v)) for n, v in items)
        return cls(data["auth"], pairs["headers"], pairs["query"])

    def __bool__(self) -> bool:
        return self.auth is not None or bool(self.headers) or bool(self.query)


@dataclass(frozen=True)
class Target:
    """What a client connects to and listens for."""
    url: str                        # http://HOST:PORT of the Socket.IO server
    transport: str = "default"      # a value of the transport factor
    event: str = "tick"             # the event the work emits
    ack_event: str | None = "probe"  # an event the server acknowledges; None: none
    health_path: str = "/health"    # a path for plain HTTP GETs
    namespace: str = "/"
    #: Sent with the connect and with every HTTP GET of the window (none: our cells).
    credentials: Credentials = Credentials()


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
        """The inverse of ``to_dict``; a one-line SchemaError naming the field for
        anything else (a missing field, a field of another type)."""
        names = tuple(f.name for f in fields(cls))
        values = dict(_require(data, tuple(n for n in names if n not in _OPTIONAL), what))
        values.setdefault("facts", {})
        spec = spec_of(cls)
        for name, record in _RECORDS.items():
            if not isinstance(values[name], list):
                check(values[name], spec.required[name], what, name)  # says what it is
            values[name] = [_record(record, item, f"{what}: an item of {name!r}")
                            for item in values[name]]
        check(data, spec, what)
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


@dataclass(frozen=True)
class Watched:
    """How long an app's cell watched (``emitcheck app``: its window adapts to
    the app's cadence) and the cadence at which the app emitted, in seconds."""
    waited_s: float | None
    cadence_s: float | None


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
    #: The mode a results file names for the cell (read from a file); a
    #: result's ``async_mode`` is this, or else its observation's.
    file_mode: str | None = None
    #: Read from a file: its ``async_mode`` is the file's even when null (the
    #: server reported none), whatever its observation says.
    from_file: bool = False
    #: An app's cell only: how long its window watched (``waited_s``, ``cadence_s``).
    watched: Watched | None = None

    @property
    def async_mode(self) -> str | None:
        """The mode the server reported it resolved to: what the file names, or
        the observation's (set once the window is over)."""
        if self.from_file or self.file_mode is not None:
            return self.file_mode
        return self.observation.async_mode if self.observation is not None else None

    @property
    def matches(self) -> bool:
        """Skipped, or the verdict we measured before (a failure never matches)."""
        return self.failure is None and (self.skipped is not None
                                         or self.verdict == self.expected)

    @property
    def outcome(self) -> str:
        """What a table shows of it in one word: the verdict, ``skipped`` or
        ``emitcheck failed``."""
        if self.failure:
            return "emitcheck failed"
        if self.skipped:
            return "skipped"
        return str(self.verdict)

    @property
    def reason(self) -> str | None:
        """Why it has no verdict (emitcheck's failure, else the skip), or None."""
        return self.failure or self.skipped or None

    @property
    def latency_ms(self) -> dict:
        """p50, p95 and max over the events that arrived (each None if none did)."""
        return self.metrics.latency_ms if self.metrics else dict(NO_LATENCY)

    @property
    def ran(self) -> bool:
        """It got a verdict (it was neither skipped nor did emitcheck fail in it)."""
        return not self.skipped and not self.failure

    def to_json(self) -> dict:
        m = self.metrics
        data = {
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
            "latency_ms": self.latency_ms,
            "connect_ms": m.connect_ms if m else None,
            "ack_ms": m.ack_ms if m else None,
            "http_ms": m.http_ms if m else None,
            "async_mode": self.async_mode,
            "versions": self.versions,
            "remedies": self.remedies,
            "observation": self.observation.to_dict() if self.observation else None,
        }
        if self.watched is not None:
            data |= {"waited_s": self.watched.waited_s, "cadence_s": self.watched.cadence_s}
        return data

    @classmethod
    def from_json(cls, data: Any, what: str = "result") -> CellResult:
        """The inverse of ``to_json``; a one-line SchemaError naming the field
        for anything else (``check_result``)."""
        data = check_result(data, what)
        metrics = None
        if data["emitted"] is not None:
            metrics = Metrics(data["emitted"], data["received"], 0, 0, data["latency_ms"],
                              data["connect_ms"], data["ack_ms"], data["http_ms"])
        observation = None if data["observation"] is None else \
            Observation.from_dict(data["observation"], f"{what}: observation")
        watched = Watched(data.get("waited_s"), data.get("cadence_s")) \
            if "waited_s" in data or "cadence_s" in data else None
        return cls(data["cell"], data["expected"], data["why"], data["doc"], data["verdict"],
                   data["evidence"], data["skipped"], data["failure"], metrics, observation,
                   data["versions"], data.get("remedies", []),
                   file_mode=data["async_mode"], from_file=True, watched=watched)


#: The fields every result in a file must have (what ``to_json`` writes).
RESULT_FIELDS = ("schema", "cell", "verdict", "expected", "matches", "skipped", "failure",
                 "evidence", "why", "doc", "emitted", "received", "latency_ms", "connect_ms",
                 "ack_ms", "http_ms", "async_mode", "versions", "observation")


VERDICT = Choice(VERDICTS)
_NUMBER_OR_NULL = (float, None)

#: What ``environment.environment()`` writes (results files and baselines); each
#: field may be missing (files of other tools), none may be of another type.
ENVIRONMENT = Fields({}, {"python_implementation": str, "os": str, "os_release": str,
                          "emitcheck": str, "versions": MapOf((str, None))})


@cache
def result_spec() -> Fields:
    """The type of every field ``CellResult.to_json`` writes (and ``emitcheck
    app``'s results add: the window it waited, the app's cadence)."""
    return Fields(
        {"schema": int, "cell": str, "verdict": (VERDICT, None), "expected": VERDICT,
         "matches": bool, "skipped": (str, None), "failure": (str, None), "evidence": str,
         "why": str, "doc": str, "emitted": (int, None), "received": (int, None),
         "latency_ms": Fields({"p50": _NUMBER_OR_NULL, "p95": _NUMBER_OR_NULL,
                               "max": _NUMBER_OR_NULL}),
         "connect_ms": _NUMBER_OR_NULL, "ack_ms": _NUMBER_OR_NULL, "http_ms": _NUMBER_OR_NULL,
         "async_mode": (str, None), "versions": MapOf((str, None)),
         "observation": (spec_of(Observation), None)},
        {"remedies": ListOf(str), "waited_s": _NUMBER_OR_NULL, "cadence_s": _NUMBER_OR_NULL},
        refused=("twin", "twin_verdict"))


def check_result(data: Any, what: str) -> dict:
    """``data`` if it is a result as ``CellResult.to_json`` writes it, else a
    one-line SchemaError naming ``what`` and the field: the schema, every field
    there and of its type, a verdict among VERDICTS, a verdict exactly when
    the cell was neither skipped nor failed, and metrics (``emitted`` and the
    rest) all or none."""
    data = _require(check_schema(data, what), RESULT_FIELDS, what)
    check(data, result_spec(), what)
    reason = data["skipped"] or data["failure"]
    if data["verdict"] is None and not reason:
        raise SchemaError(f"{what}: 'verdict' is null, yet neither 'skipped' nor 'failure' "
                          "says why the cell has none")
    if data["verdict"] is not None and reason:
        why = "the cell was skipped" if data["skipped"] else "emitcheck failed in the cell"
        raise SchemaError(f"{what}: 'verdict' is {data['verdict']!r}, yet {why}: a result "
                          "has a verdict or a reason, not both")
    if data["emitted"] is None:  # no metrics: a result has nowhere to keep the others
        measured = {name: data[name] for name in ("received", "connect_ms", "ack_ms", "http_ms")}
        measured |= {f"latency_ms.{name}": data["latency_ms"][name] for name in NO_LATENCY}
        for name, value in measured.items():
            if value is not None:
                raise SchemaError(f"{what}: 'emitted' is null, yet {name!r} is "
                                  f"{_short(value)}: a result has all its metrics or none")
    return data


def results_document(results: Sequence[CellResult], environment: dict) -> dict:
    """A results file: the schema, where the cells ran, and every result."""
    return {"schema": SCHEMA, "environment": environment,
            "results": [r.to_json() for r in results]}


def read_results(path: Path) -> list[CellResult]:
    """The results in a file written by ``results_document`` (one-line errors)."""
    return read_document(path)[0]


def read_document(path: Path) -> tuple[list[CellResult], dict | None]:
    """The results in a file written by ``results_document``, and the
    environment it names (None when it names none); one-line errors. The one
    place a results file becomes ``CellResult``s."""
    data = _require(check_schema(read_json(path), str(path)), ("results",), str(path))
    if not isinstance(data["results"], list):
        raise SchemaError(f"{path}: 'results' is not a list")
    results = [CellResult.from_json(result, f"{path}: result {index}")
               for index, result in enumerate(data["results"])]
    environment = data.get("environment")
    if environment is not None:
        check(environment, ENVIRONMENT, str(path), "environment")
    return results, environment


def read_json(path: Path) -> Any:
    """The JSON document in ``path`` (UTF-8), or a one-line SchemaError saying
    why not: unreadable, not UTF-8, not JSON, nested too deep to read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path} is not a readable JSON file: {exc}") from None
    except RecursionError:
        raise SchemaError(f"{path} is not a readable JSON file: nested too deep") from None
