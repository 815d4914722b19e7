"""``emitcheck probe URL --event NAME``: judge the events a running server sends.

Exit status: 0 delivered, 1 any other verdict (for CI), 2 bad input (a URL
that is not ``http(s)://HOST:PORT``, unreachable, or not a Socket.IO server;
an invalid option), 3 when emitcheck's own Node client failed, 130 on Ctrl-C.
main.py's group adds it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from emitcheck.apps import MAX_CLIENTS
from emitcheck.apps.user_app import AppError, parse_trigger
from emitcheck.cli import options
from emitcheck.clients.node_client import NodeClientError
from emitcheck.matrix import cells
from emitcheck.model.credentials import Credentials, credential_options, describe
from emitcheck.outputs.grid import IN_WORDS

if TYPE_CHECKING:  # apps/remote.py imports python-socketio: only when a probe runs
    from emitcheck.apps import remote


def _ms(value) -> str:
    return "-" if value is None else f"{value:g} ms"


def _s(value) -> str:
    return "-" if value is None else f"{value:g} s"


def _n(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


#: How ``verdict.bursts`` judged, in words.
_BURSTS_BY = {"send times": "by the send times", "--every": "by --every",
              "shape": "by the shape of the gaps"}


def _client_lines(probe: remote.Probe, obs, judged) -> list[str]:
    from emitcheck.apps import remote

    got, m = remote.arrivals(obs), judged.metrics
    spent = remote.phases(obs)
    latency = (f"p50 {_ms(m.latency_ms['p50'])}, p95 {_ms(m.latency_ms['p95'])}, "
               f"max {_ms(m.latency_ms['max'])}") if m.latency_ms["p50"] is not None else \
        "not measured" + ("" if probe.time_field else
                          " (--time-field NAME: the payload field with the send time)")
    unanswered_acks = sum(a.ms is None for a in obs.acks)
    unanswered_gets = sum(h.ms is None for h in obs.http)
    acks = f"{_n(len(obs.acks), 'ack')}, median {_ms(m.ack_ms)}, {unanswered_acks} unanswered" \
        if probe.ack_event else "no ack sent (--ack EVENT)"
    bound = " (its --duration bound)" if (spent["quiet_s"] or 0) >= 0.99 * probe.duration \
        else ""
    by = _BURSTS_BY.get(got["bursts_by"], "")
    bunched = f"{got['in_bursts']} in bursts ({by})" if got["held"] else \
        f"{got['in_bursts']} close together but not in bursts ({by})" if got["in_bursts"] \
        else "0 in bursts"
    seen = "arrivals: none" if not got["events"] else (
        f"arrivals: {_n(got['events'], 'event')} ({got['while_quiet']} while quiet), first "
        f"after {_s(got['first_after_s'])}; cadence {_s(got['cadence_s'])} (median gap of "
        f"{got['cadence_of']}), max gap {_s(got['max_gap_s'])}, {bunched}")
    triggers = [f"triggers: {obs.facts['triggers']}"] if obs.facts.get("triggers") else []
    return [
        *triggers,
        seen,
        f"latency: {latency}",
        f"responsiveness: connect {_ms(m.connect_ms)}; {acks}; {_n(len(obs.http), 'HTTP GET')}, "
        f"median {_ms(m.http_ms)}, {unanswered_gets} unanswered",
        f"waited: {_s(spent['quiet_s'])} quiet{bound}, {_s(spent['traffic_s'])} traffic",
    ]


def render(outcome: remote.Outcome) -> str:
    from emitcheck.apps import remote

    probe = outcome.probe
    lines = [f"probe {probe.url}: event {probe.event!r} on namespace {probe.namespace!r}, "
             f"{probe.client} client, {probe.transport} transport"
             + (f"; credentials: {describe(probe.credentials)}" if probe.credentials else ""),
             f"verdict: {outcome.verdict}: {IN_WORDS.get(outcome.verdict, outcome.verdict)}",
             f"evidence: {outcome.evidence}"]
    worst = outcome.worst
    if probe.clients > 1:
        got = sum(bool(obs.received) for obs in outcome.observations)
        lines.append(f"clients: {probe.clients} connected at once, {got} of {probe.clients} "
                     f"got events; details below: client {worst + 1} (the first with "
                     f"the worst verdict)")
        for i, (obs, judged) in enumerate(zip(outcome.observations, outcome.verdicts,
                                              strict=True)):
            count = remote.arrivals(obs)
            lines.append(f"  client {i + 1}: {judged.verdict}, {_n(count['events'], 'event')} "
                         f"({count['while_quiet']} while quiet)")
    lines += _client_lines(probe, outcome.observations[worst], outcome.verdicts[worst])
    lines.append(f"took {outcome.seconds:g} s in all")
    if outcome.verdict == "silent":
        obs = outcome.observations[worst]
        how = "arrived once, then never" if obs.received else "never arrived"
        lines.append(f"the event {probe.event!r} {how}{_other_events(probe, obs)}: silent is "
                     f"the verdict, not an error (check the event name, the namespace, and "
                     f"that the server emits to every client)")
    lines.append(f"note: {remote.NOTE}")
    return "\n".join(lines)


def _other_events(probe: remote.Probe, obs) -> str:
    """"; the server sent: 'pty-output' x12 in /", where the client can tell."""
    from emitcheck.clients.python_client import CATCH_ALL

    if others := obs.facts.get("other events"):
        return f"; the server sent: {others} in {probe.namespace}"
    if probe.client == "node" or CATCH_ALL:
        return f"; the server sent no other event in {probe.namespace}"
    return ""  # python-socketio before 5.5 has no catch-all handler


def _triggers(ctx, param, value: tuple[str, ...]) -> tuple[str, ...]:
    for text in value:
        try:
            parse_trigger(text)
        except AppError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


@click.command(cls=options.OneLineErrors)
@click.argument("url")
@click.option("--event", required=True, metavar="NAME",
              help="The event the server sends on its own.")
@click.option("--ack", "ack_event", default=None, metavar="EVENT",
              help="An event the server acknowledges, sent during the traffic phase.")
@click.option("--namespace", default="/", show_default=True,
              help="The Socket.IO namespace the events are sent to.")
@click.option("--transport", type=click.Choice(cells.values("transport")), default="default",
              show_default=True, help="default: long-polling upgraded to WebSocket.")
@click.option("--client", type=click.Choice(cells.values("client")), default="python",
              show_default=True, help="python-socketio, or socket.io-client on Node.js.")
@click.option("--clients", type=click.IntRange(1, MAX_CLIENTS), default=1,
              show_default=True, help="Clients connected at once, each its own window.")
@click.option("--time-field", default=None, metavar="NAME",
              help="The payload field with the server's send time (epoch s or ms): "
                   "gives latency.")
@click.option("--duration", type=click.FloatRange(1, 600), default=30.0, show_default=True,
              metavar="SECONDS",
              help="At most this many seconds of listening for the cadence.")
@click.option("--every", type=click.FloatRange(0, 600, min_open=True), default=None,
              metavar="SECONDS",
              help="The cadence, when known (seconds between two events).")
@click.option("--trigger", "triggers", multiple=True, callback=_triggers,
              metavar="connect|get:/PATH|emit:EVENT[:JSON]",
              help="What starts the server's work, run once connected, before the quiet "
                   "phase; repeatable.")
@credential_options
@options.json_option("Print a JSON document (schema 1).")
def probe(url: str, event: str, ack_event: str | None, namespace: str, transport: str,
          client: str, clients: int, time_field: str | None, duration: float,
          every: float | None, triggers: tuple[str, ...], credentials: Credentials,
          as_json: bool) -> None:
    """Probe a running Socket.IO server at URL (http://HOST:PORT, any language)
    with real clients and judge the EVENT it sends on its own.

    Exits 0 when delivered, 1 for any other verdict, 2 on bad input."""
    from emitcheck.apps import remote

    if not namespace.startswith("/"):
        raise options.BadInput(f"invalid value for --namespace: {namespace!r} does not start "
                        f"with '/'")
    asked = remote.Probe(url, event, ack_event, namespace, transport, client, clients,
                         time_field, duration, every, credentials=credentials,
                         triggers=triggers)
    try:
        outcome = remote.run(asked)
    except remote.BadTarget as exc:
        raise options.BadInput(str(exc)) from None
    except NodeClientError as exc:
        click.echo(f"Error: emitcheck's node client failed: {exc}", err=True)
        sys.exit(options.NOT_CLEAN)
    click.echo(json.dumps(remote.document(outcome), indent=2) if as_json else render(outcome))
    sys.exit(options.OK if outcome.verdict == "delivered" else options.DIFFERS)
