"""One cell's window drawn to scale: an Observation as SVG geometry.

Lanes, top to bottom: the client's connection, the server's emits, the
client's arrivals, the acks and the HTTP GETs of the traffic phase. Each
arrival is joined to its emit by a line, so latency is the line's slant; the
quiet and traffic phases are shaded across the lanes. Time runs left to
right, in seconds from the moment the client began connecting (negative:
the work was emitting before the client was there).

Nothing here knows HTML: the template (templates/report.html.j2) draws these
shapes. Marks of one kind share one ``<path>`` (``M x y v h`` steps, rounded
to 0.1 px), which keeps a report of the whole matrix small; exact numbers are
in the tooltips (``<title>``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emitcheck.model.results import Ack, HttpGet, Observation
from emitcheck.model.verdicts import prompt_bound

WIDTH = 960.0
GUTTER = 122.0          # lane labels, left of the plot
RIGHT = 14.0
PLOT = WIDTH - GUTTER - RIGHT
#: Lane centres (y), the shaded band and the axis.
Y_CONNECT, Y_EMIT, Y_ARRIVE, Y_ACK, Y_HTTP = 32.0, 56.0, 100.0, 126.0, 148.0
BAND_TOP, BAND_BOTTOM = 18.0, 160.0
Y_AXIS = 162.0
HEIGHT = 182.0
TICK = 5.0              # half the height of an emit or arrival tick
#: The lanes, the same in every drawing (the page draws them once and reuses them).
LANES = (("connection", Y_CONNECT), ("server emits", Y_EMIT), ("client arrivals", Y_ARRIVE),
         ("acks", Y_ACK), ("HTTP GETs", Y_HTTP))
STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
MAX_TICKS = 10
LONGEST_LABEL = 90      # characters of an error shown on the drawing (all of it: tooltip)


@dataclass(frozen=True)
class Shape:
    """One ``<path>``: every mark of one kind (``kind`` is its CSS class)."""
    kind: str
    d: str
    title: str


@dataclass(frozen=True)
class Label:
    """A text on the drawing, with its exact story in the tooltip."""
    x: float
    y: float
    text: str
    title: str
    kind: str = "note"      # CSS class: note, bad, good
    end: bool = False       # anchored at its end (near the right edge)


@dataclass(frozen=True)
class Band:
    """A shaded phase."""
    x: float
    width: float
    kind: str               # quiet, traffic
    title: str


@dataclass
class Timeline:
    """What the template draws for one cell."""
    width: float = WIDTH
    height: float = HEIGHT
    bands: list[Band] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    #: What the drawing cannot show, said in words (no server lane, never listened).
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)   # emits, arrivals, joins


def num(value: float) -> str:
    """A coordinate, rounded to 0.1 and written short ("12", "12.5")."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= LONGEST_LABEL else line[:LONGEST_LABEL - 1] + "\u2026"


class _Scale:
    """Seconds to x, over the span of everything the observation recorded."""

    def __init__(self, origin: float, start: float, end: float):
        self.origin = origin
        self.start = start
        self.per_s = PLOT / max(end - start, 1e-3)
        self.end = end

    def x(self, t: float) -> float:
        return GUTTER + (t - self.start) * self.per_s

    def rel(self, t: float) -> str:
        """A time as the axis says it: seconds from the origin."""
        return f"{t - self.origin:+.3f} s"

    def ticks(self) -> list[tuple[float, str]]:
        span = self.end - self.start
        step = next((s for s in STEPS if span / s <= MAX_TICKS), STEPS[-1])
        first = math.ceil((self.start - self.origin) / step - 1e-9)
        ticks = []
        for i in range(first, first + MAX_TICKS + 2):
            t = self.origin + i * step
            if t > self.end:
                break
            ticks.append((self.x(t), f"{i * step:g}"))
        return ticks


def _origin(obs: Observation) -> float | None:
    """When the client began connecting (the first HTTP GET goes out with it)."""
    if obs.connected_at is not None and obs.connect_ms is not None:
        return obs.connected_at - obs.connect_ms / 1000
    if obs.http:
        return obs.http[0].sent_at
    return obs.emitted[0].at if obs.emitted else None


def _times(obs: Observation) -> list[float]:
    times = [t for t in (obs.connected_at, obs.quiet_end, obs.traffic_end) if t is not None]
    times += [e.at for e in obs.emitted] + [a.arrived_at for a in obs.received]
    times += [a.emitted_at for a in obs.received if a.emitted_at is not None]
    for request in _requests_of(obs):
        times.append(request.sent_at + (request.ms or 0) / 1000)
    return times


def _requests_of(obs: Observation) -> list[Ack | HttpGet]:
    return [*obs.acks, *obs.http]


def _gave_up(sent_at: float, obs: Observation, end: float) -> float:
    """Where an unanswered request's line stops: the next thing the client did
    (it waits for an answer, bounded, before going on), else the drawing's end."""
    later = [r.sent_at for r in _requests_of(obs) if r.sent_at > sent_at]
    later += [t for t in (obs.traffic_end, obs.connected_at) if t is not None and t > sent_at]
    return min(later, default=end)


def _ticks_path(xs: list[float], y: float) -> str:
    return "".join(f"M{num(x)} {num(y - TICK)}v{num(2 * TICK)}" for x in xs)


def _spans_path(spans: list[tuple[float, float]], y: float) -> str:
    """Horizontal spans with an end cap (at least 2 px wide, so 1 ms shows)."""
    return "".join(f"M{num(a)} {num(y)}h{num(max(b - a, 2.0))}v-3v6" for a, b in spans)


def build(obs: Observation) -> Timeline:
    """The geometry of one observation's window."""
    drawing = Timeline()
    if not obs.emits_logged:
        drawing.notes.append("No server lane: nobody logged this server's emits (a probe of "
                             "someone else's server), so arrivals cannot be joined to them.")
        drawing.labels.append(Label(GUTTER + 6, Y_EMIT + 4, "not logged (someone else's server)",
                                    "a probe of a running server sees only what arrives"))
    origin, times = _origin(obs), _times(obs)
    if origin is None or not times:
        drawing.notes.append("Nothing was recorded in time: no emit, no connect, no request.")
        return drawing
    scale = _Scale(origin, min(times + [origin]), max(times + [origin]))
    drawing.ticks = scale.ticks()
    _phases(drawing, obs, scale)
    _connection(drawing, obs, scale)
    _events(drawing, obs, scale)
    _requests(drawing, obs, scale, "ack", Y_ACK)
    _requests(drawing, obs, scale, "http", Y_HTTP)
    if obs.exit_status is not None:
        x = scale.x(scale.end)
        drawing.shapes.append(Shape("crash", f"M{num(x)} {num(BAND_TOP)}V{num(BAND_BOTTOM)}",
                                    f"the server process had exited (status {obs.exit_status}) "
                                    "when the window ended"))
        drawing.labels.append(Label(x - 4, BAND_TOP + 10, f"server exited ({obs.exit_status})",
                                    "the exit status was read when the window ended; the "
                                    "process ended before that", "bad", end=True))
    return drawing


def _phases(drawing: Timeline, obs: Observation, scale: _Scale) -> None:
    phases = (("quiet", obs.connected_at, obs.quiet_end, "quiet phase: the client only listens"),
              ("traffic", obs.quiet_end, obs.traffic_end,
               "traffic phase: the client sends acks and HTTP GETs"))
    for kind, start, end, what in phases:
        if start is not None and end is not None:
            drawing.bands.append(Band(scale.x(start), (end - start) * scale.per_s, kind,
                                      f"{what}, {scale.rel(start)} to {scale.rel(end)} "
                                      f"({end - start:.2f} s)"))


def _connection(drawing: Timeline, obs: Observation, scale: _Scale) -> None:
    start = scale.origin
    if obs.connected_at is not None and obs.connect_ms is not None:
        drawing.shapes.append(Shape("connect", _spans_path(
            [(scale.x(start), scale.x(obs.connected_at))], Y_CONNECT),
            f"connect: sent {scale.rel(start)}, connected in {obs.connect_ms:.1f} ms"))
        drawing.labels.append(_label(scale.x(obs.connected_at) + 6, Y_CONNECT + 4,
                                     f"connected in {_ms(obs.connect_ms)}",
                                     f"the client connected {scale.rel(obs.connected_at)}",
                                     "good"))
    if obs.connect_error:
        during = obs.connected_at is not None
        at = obs.acks[-1].sent_at if during and obs.acks else start
        drawing.labels.append(_label(scale.x(at) + 6, Y_CONNECT + 4,
                                     f"\u00d7 {'connection' if during else 'connect'} failed: "
                                     f"{_short(obs.connect_error)}", obs.connect_error, "bad"))
    if obs.ready_error is not None:
        drawing.labels.append(_label(scale.x(start) + 6, Y_CONNECT + 4,
                                     f"\u00d7 server never listened: {_short(obs.ready_error)}",
                                     obs.ready_error, "bad"))


def _label(x: float, y: float, text: str, title: str, kind: str) -> Label:
    """A label right of ``x``; one that would run off the right edge ends at ``x``
    instead, just above its lane."""
    room = (WIDTH - RIGHT - x) / 6.0  # about 6 px per character at the label's size
    if len(text) > room and x > WIDTH / 2:
        return Label(min(x, WIDTH - RIGHT), y - 11, text, title, kind, end=True)
    return Label(x, y, text, title, kind)


def _events(drawing: Timeline, obs: Observation, scale: _Scale) -> None:
    start, end = obs.connected_at, obs.traffic_end
    arrived = {a.seq for a in obs.received if a.seq is not None}
    emits: dict[str, list[float]] = {"emit": [], "emit-lost": [], "emit-out": []}
    for emit in obs.emitted:
        inside = start is not None and end is not None and start <= emit.at <= end
        kind = "emit" if emit.seq in arrived else "emit-lost" if inside else "emit-out"
        emits[kind].append(emit.at)
    stories = {"emit": "emits that arrived", "emit-lost": "emits made while the client was "
               "connected that never arrived", "emit-out": "emits made while the client was "
               "not connected (not counted)"}
    for kind, at in emits.items():
        if at:
            drawing.shapes.append(Shape(kind, _ticks_path([scale.x(t) for t in at], Y_EMIT),
                                        f"{len(at)} {stories[kind]}"))
    bound = prompt_bound(obs.interval)
    joins: dict[str, list[tuple[float, float, float]]] = {"prompt": [], "late": []}
    others = []
    for arrival in obs.received:
        if arrival.emitted_at is None:
            others.append(arrival.arrived_at)
            continue
        latency = arrival.arrived_at - arrival.emitted_at
        joins["prompt" if latency <= bound else "late"].append(
            (arrival.emitted_at, arrival.arrived_at, latency))
    for kind, found in joins.items():
        if not found:
            continue
        lats = sorted(lat * 1000 for _, _, lat in found)
        what = (f"{len(found)} arrivals {'within' if kind == 'prompt' else 'later than'} "
                f"{bound * 1000:.0f} ms (3 emit intervals): latency {_ms(lats[0])} to "
                f"{_ms(lats[-1])}, median {_ms(lats[len(lats) // 2])}")
        drawing.shapes.append(Shape(f"join-{kind}", "".join(
            f"M{num(scale.x(a))} {num(Y_EMIT + TICK)}L{num(scale.x(b))} {num(Y_ARRIVE - TICK)}"
            for a, b, _ in found), what))
        drawing.shapes.append(Shape(f"arrive-{kind}", _ticks_path(
            [scale.x(b) for _, b, _ in found], Y_ARRIVE), what))
    if others:
        drawing.shapes.append(Shape("arrive-other", _ticks_path(
            [scale.x(t) for t in others], Y_ARRIVE),
            f"{len(others)} arrivals without a server time in their payload"))
    drawing.counts = {"emits": len(obs.emitted), "arrivals": len(obs.received),
                      "joins": sum(map(len, joins.values()))}


def _requests(drawing: Timeline, obs: Observation, scale: _Scale, kind: str,
              y: float) -> None:
    """Acks or HTTP GETs: a span per answer; a dashed line to where the client
    gave up per unanswered one; a cross per one that failed at once (an HTTP
    error status, a refused connection)."""
    requests: list[Ack | HttpGet] = list(obs.acks if kind == "ack" else obs.http)
    name = "ack" if kind == "ack" else "HTTP GET"
    answered = [(r.sent_at, r.ms) for r in requests if r.ms is not None]
    if answered:
        drawing.shapes.append(Shape(kind, _spans_path(
            [(scale.x(sent), scale.x(sent + ms / 1000)) for sent, ms in answered], y),
            f"{len(answered)} {name}s answered, in " + ", ".join(_ms(ms) for _, ms in answered)))
    elif not requests and obs.traffic_end is not None:
        drawing.labels.append(Label(GUTTER + 6, y + 4, "none sent",
                                    f"the client sent no {name} in this window"))
    for request in requests:
        if request.ms is not None:
            continue
        error = getattr(request, "error", None) or "timeout"
        x = scale.x(request.sent_at)
        if error == "timeout":
            until = _gave_up(request.sent_at, obs, scale.end)
            story = (f"{name} sent {scale.rel(request.sent_at)}: no answer; the client went on "
                     f"{until - request.sent_at:.2f} s later")
            line = f"M{num(x)} {num(y)}H{num(scale.x(until))}"
            drawing.shapes.append(Shape(f"{kind}-none", line, story))
            drawing.labels.append(_label(scale.x(until) + 4, y + 4,
                                         f"\u00d7 no answer in {until - request.sent_at:.1f} s",
                                         story, "bad"))
        else:
            story = f"{name} sent {scale.rel(request.sent_at)}: failed at once: {error}"
            cross = f"M{num(x - 3)} {num(y - 3)}l6 6m0 -6l-6 6"
            drawing.shapes.append(Shape(f"{kind}-failed", cross, story))
            drawing.labels.append(_label(x + 6, y - 5, f"\u00d7 {_short(error)}", story, "bad"))
