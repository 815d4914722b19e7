#!/usr/bin/env node
// emitcheck's second client: the official JavaScript socket.io-client.
//
// Usage: node probe.js BASE_URL TRANSPORT TIMING_JSON [TARGET_JSON]
//   TRANSPORT: default (long-polling upgraded to WebSocket) | polling | websocket
//   TIMING_JSON: {"interval":0.1,"quiet":1.0,"traffic":0.8,"drain":0.2,"response_timeout":2.5}
//     plus, for an adaptive window (`emitcheck probe`), "timeout" (the bound of
//     the quiet phase), "every" (a known cadence, or null) and the constants of
//     emitcheck.clients.python_client._quiet: events_needed, traffic_intervals, traffic_cap_s,
//     prompt_intervals, prompt_cap_s, min_interval_s; and traffic_max_rounds
//     (emitcheck.clients.python_client.TRAFFIC_MAX_ROUNDS, for every window).
//   TARGET_JSON (optional; emitcheck's cells leave it out):
//     {"event":"tick","ack_event":"probe","health_path":"/health","namespace":"/",
//      "time_field":"t","triggers":[["get","/start",null],["emit","go",{"n":1}]]};
//     ack_event and time_field may be null; triggers (emitcheck.apps.user_app.parse_trigger's
//     [kind, what, data]) run once connected, before the quiet phase.
// Environment: EMITCHECK_CREDENTIALS, optional: {"auth":{...}|null,"headers":[[NAME,VALUE]],
//   "query":[[NAME,VALUE]]} (emitcheck.model.results.Credentials.to_json()): the auth payload,
//   headers sent with the connect and every GET, query parameters on the connection URL
//   and the GETs of the health path. Not an argument: every user can read those (ps).
//
// Does what the client part of emitcheck.clients.python_client.observe() does (connect, quiet,
// traffic, drain) and prints ONE JSON object on stdout with the Observation
// fields it fills: connect_ms, connect_error, connected_at, quiet_end,
// traffic_end, acks, http, received, interval (the cadence an adaptive quiet
// phase measured, else null), transport (what the client ended the window
// on, polling or websocket; null when it was not connected then),
// other_events ({name: count} of the namespace's events other than the
// watched one) and triggers (what each trigger did, in words). Times are
// epoch seconds, durations ms.
// It always exits within its budget (see budgetS below) + 0.5 s.
"use strict";

const http = require("node:http");
const https = require("node:https");
const { io } = require("socket.io-client");

const TRANSPORTS = { default: undefined, polling: ["polling"], websocket: ["websocket"] };

const [base, transport, timingJson, targetJson] = process.argv.slice(2);
if (!base || !(transport in TRANSPORTS) || !timingJson) {
  process.stderr.write("usage: node probe.js BASE_URL default|polling|websocket TIMING_JSON "
                       + "[TARGET_JSON]\n");
  process.exit(2);
}
const timing = { interval: 0.1, quiet: 1.0, traffic: 0.8, drain: 0.2, response_timeout: 2.5,
                 timeout: null, every: null, events_needed: 3, traffic_intervals: 2,
                 traffic_cap_s: 10.0, prompt_intervals: 3.0, prompt_cap_s: 1.0,
                 min_interval_s: 0.05, traffic_max_rounds: 20,
                 ...JSON.parse(timingJson) };
// The defaults are the names server_child.py uses.
const target = { event: "tick", ack_event: "probe", health_path: "/health", namespace: "/",
                 time_field: "t", triggers: [], ...(targetJson ? JSON.parse(targetJson) : {}) };
const credentials = { auth: null, headers: [], query: [],
                      ...JSON.parse(process.env.EMITCHECK_CREDENTIALS || "{}") };
const headers = Object.fromEntries(credentials.headers);
// url with the credentials' query parameters (after its own, if it has some).
const withQuery = (url) => (credentials.query.length === 0 ? url
  : url + (url.includes("?") ? "&" : "?") + new URLSearchParams(credentials.query).toString());
const responseMs = timing.response_timeout * 1000;
const adaptive = timing.timeout !== null && timing.timeout !== undefined;

// Same clock as Python's time.time() (epoch seconds), with sub-ms precision.
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, Math.max(0, s * 1000)));

const obs = { connect_ms: null, connect_error: null, connected_at: null, quiet_end: null,
              traffic_end: null, acks: [], http: [], received: [], interval: null,
              transport: null, other_events: {}, triggers: [] };
let socket = null;
let finished = false;

function finish(code) {
  if (finished) return;
  finished = true;
  obs.received.sort((a, b) => a[2] - b[2]);
  try {
    if (socket) socket.disconnect();
  } catch (err) {
    process.stderr.write(`disconnect: ${err}\n`);
  }
  // process.exit: the client's own timers and sockets must not keep us alive.
  process.stdout.write(JSON.stringify(obs) + "\n", () => process.exit(code));
}

// Backstop: every wait below is bounded, this only catches what we did not foresee.
// An adaptive window: the quiet phase's bound, the longest traffic phase, and
// one more response timeout (the last traffic round's ack and GET may overrun).
const budgetS = (adaptive
  ? timing.timeout + Math.max(timing.traffic, timing.traffic_cap_s) + timing.drain
    + 4 * timing.response_timeout + 1.5
  : timing.quiet + timing.traffic + timing.drain + 3 * timing.response_timeout + 1.5)
  + target.triggers.length * timing.response_timeout;
setTimeout(() => {
  process.stderr.write(`probe.js: still running after ${budgetS} s, giving up\n`);
  finish(3);
}, budgetS * 1000).unref();

// One plain GET, like probe.http_get (urllib): a new connection each time, no
// keep-alive pool (fetch would reuse one connection), non-2xx is an error.
// Resolves [ms, null] or [null, reason]; a timeout gives the reason "timeout".
function httpGet(url) {
  return new Promise((resolve) => {
    const start = performance.now();
    let done = false;
    const settle = (ms, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve([ms, error]);
    };
    const timer = setTimeout(() => settle(null, "timeout"), responseMs);
    const client = url.startsWith("https:") ? https : http;
    const req = client.get(url, { agent: false, headers }, (res) => {
      res.on("data", () => {});
      res.on("error", (err) => settle(null, `${err.code || err.name}: ${err.message}`));
      res.on("end", () => {
        if (res.statusCode >= 200 && res.statusCode < 300) {
          settle(performance.now() - start, null);
        } else {
          settle(null, `HTTPError: HTTP Error ${res.statusCode}: ${res.statusMessage}`);
        }
      });
    });
    req.on("error", (err) => settle(null, `${err.code || err.name}: ${err.message}`));
  });
}

// Resolves when the namespace is connected (as python-socketio's connect()
// does), or with an error string. The Manager's own `timeout` only covers the
// Engine.IO handshake, not the namespace CONNECT, hence the timer here too.
function connect() {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () => resolve(`connect timed out after ${timing.response_timeout} s`), responseMs);
    socket = io(base + target.namespace, {
      transports: TRANSPORTS[transport],
      reconnection: false,
      forceNew: true,
      timeout: responseMs,
      ...(credentials.auth === null ? {} : { auth: credentials.auth }),
      ...(credentials.headers.length ? { extraHeaders: headers } : {}),
      ...(credentials.query.length ? { query: Object.fromEntries(credentials.query) } : {}),
      // No requestTimeout: in engine.io-client it would also cut the long-poll
      // GETs, which the server holds up to pingInterval when it has nothing to
      // send (python-engineio bounds those by the ping interval, not this).
    });
    socket.on(target.event, (data) => {
      const arrived = now();
      obs.received.push([data?.seq ?? null, sentAt(data), arrived]);
    });
    // What else the server sent on this namespace (probe._catch_all).
    socket.onAny((event) => {
      if (event !== target.event) obs.other_events[event] = (obs.other_events[event] || 0) + 1;
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(null);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      const reason = err?.message === "timeout"
        ? `connect timed out after ${timing.response_timeout} s`
        // python-socketio refuses an unknown namespace with a bare string, which
        // socket.io-client turns into an Error without a message.
        : err?.message || "CONNECT answered with an error without a message (unknown namespace?)";
      resolve(reason);
    });
  });
}

// The server's send time in the payload's time field, in epoch seconds (a value
// above 1e11 is taken for milliseconds: Date.now()); null when there is none.
function sentAt(data) {
  const value = target.time_field === null ? undefined : data?.[target.time_field];
  if (typeof value !== "number") return null;
  return value > 1e11 ? value / 1000 : value;
}

// python-engineio's client upgrades to WebSocket inside connect(), so the
// Python probe's window starts on the upgraded connection; socket.io-client
// upgrades after "connect". Wait for that too (bounded), so that both windows
// start from the same state: the upgrade flushes packets queued before it,
// which must not count as the server sending on its own.
function upgraded() {
  const engine = socket.io.engine;
  if (TRANSPORTS[transport] !== undefined || engine.transport.name === "websocket") {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, responseMs);
    const done = () => { clearTimeout(timer); resolve(); };
    engine.once("upgrade", done);
    engine.once("upgradeError", done);
  });
}

// An ack and an HTTP GET per emit interval until the phase ends; stops early
// at the first unanswered ack or GET (after trying the GET), like _traffic.
async function traffic() {
  const end = now() + timing.traffic;
  let n = 0;
  while (now() < end && n < timing.traffic_max_rounds) {
    n += 1;
    let sent = now();
    const start = performance.now();
    let ackMs = null;
    if (target.ack_event === null) {
      ackMs = 0; // no ack event: an HTTP GET only, and no ack recorded
    } else if (!socket.connected) {
      // python-socketio raises at once here; socket.io-client would buffer the
      // packet until the timeout.
      obs.connect_error = obs.connect_error || "during traffic: not connected";
    } else {
      try {
        await socket.timeout(responseMs).emitWithAck(target.ack_event, n);
        ackMs = performance.now() - start;
      } catch (err) {
        // "operation has timed out", or "socket has been disconnected" when the
        // connection dropped meanwhile (rejected at once, not at the timeout).
        if (err?.message !== "operation has timed out") {
          obs.connect_error = obs.connect_error || `during traffic: ${err?.message || err}`;
        }
      }
    }
    if (target.ack_event !== null) obs.acks.push([sent, ackMs]);
    sent = now();
    const [ms, error] = await httpGet(withQuery(base + target.health_path));
    obs.http.push([sent, ms, error]);
    if (ms === null || ackMs === null) return;
    await sleep(timing.interval - (now() - sent));
  }
}

const promptBound = (interval) =>
  Math.min(timing.prompt_intervals * interval, timing.prompt_cap_s);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// Listen only. A fixed window (emitcheck's cells) sleeps timing.quiet; an
// adaptive one waits for the cadence, known (every) or seen in the arrivals,
// then sets the interval and traffic time of the rest: emitcheck.clients.python_client._quiet.
async function quiet() {
  if (!adaptive) return sleep(timing.quiet);
  const start = now();
  const deadline = start + timing.timeout;
  let interval = timing.every === null ? null : Math.max(timing.every, timing.min_interval_s);
  if (interval !== null) {
    await sleep(Math.min(deadline, start + Math.max(
      timing.quiet, timing.events_needed * interval + promptBound(interval))) - now());
  } else {
    while (now() < deadline) {
      const seen = obs.received.map((a) => a[2])
        .filter((t) => t >= start - timing.response_timeout).sort((a, b) => a - b);
      if (seen.length >= timing.events_needed) {
        interval = Math.max(timing.min_interval_s, median(seen.slice(1).map((t, i) => t - seen[i])));
        // The Nth had time to arrive (not the latest: at a fast cadence it is always recent).
        const nth = seen[timing.events_needed - 1];
        if (now() >= Math.max(start + timing.quiet, nth + promptBound(interval))) break;
      }
      await sleep(0.05);
    }
  }
  if (interval) {
    obs.interval = Math.round(interval * 1000) / 1000;
    timing.interval = obs.interval;
  }
  timing.traffic = Math.max(timing.traffic,
                            Math.min(timing.traffic_intervals * timing.interval,
                                     timing.traffic_cap_s));
}

// Each trigger once, in order (emitcheck.apps.user_app.trigger_action): a GET of the
// server's path (with the headers, not the query), or an emit; said in words.
async function runTriggers() {
  for (const [kind, what, data] of target.triggers) {
    if (kind === "get") {
      const [ms, error] = await httpGet(base + what);
      obs.triggers.push(ms === null ? `get:${what} failed (${error})`
        : `get:${what} answered in ${ms.toFixed(1)} ms`);
    } else if (kind === "emit") {
      if (data === null) socket.emit(what);
      else socket.emit(what, data);
      obs.triggers.push(`emit:${what} sent`);
    } else {
      obs.triggers.push(kind); // connect: nothing more to do
    }
  }
}

async function main() {
  // A plain GET alongside the connect: if the connect fails, it tells a server
  // that stopped answering from one that refused the client.
  const sent = now();
  const health = httpGet(withQuery(base + target.health_path));
  const start = performance.now();
  const error = await connect();
  if (error === null) await upgraded();
  if (error === null) obs.connect_ms = performance.now() - start;
  else obs.connect_error = error;
  obs.http.push([sent, ...(await health)]);
  if (obs.connect_ms === null) return finish(0);
  obs.connected_at = now();
  await runTriggers();

  await quiet();
  obs.quiet_end = now();
  await traffic();
  obs.traffic_end = now();
  await sleep(timing.drain);
  // Like probe._record_transport: one that stayed on long-polling where it could
  // have upgraded (a proxy without the Upgrade header) is a finding.
  if (socket.connected) obs.transport = socket.io.engine.transport.name;
  finish(0);
}

main().catch((err) => {
  process.stderr.write(`probe.js: ${err?.stack || err}\n`);
  finish(1);
});
