#!/usr/bin/env node
// emitcheck's second client: the official JavaScript socket.io-client.
//
// Usage: node probe.js BASE_URL TRANSPORT TIMING_JSON
//   TRANSPORT: default (long-polling upgraded to WebSocket) | polling | websocket
//   TIMING_JSON: {"interval":0.1,"quiet":1.0,"traffic":0.8,"drain":0.2,"response_timeout":2.5}
//
// Does what the client part of emitcheck.probe.observe() does (connect, quiet,
// traffic, drain) and prints ONE JSON object on stdout with the Observation
// fields it fills: connect_ms, connect_error, connected_at, quiet_end,
// traffic_end, acks, http, received. Times are epoch seconds, durations ms.
// It always exits within quiet + traffic + drain + 3 * response_timeout + 2 s.
"use strict";

const http = require("node:http");
const { io } = require("socket.io-client");

const EVENT = "tick"; // the names server_child.py uses
const ACK_EVENT = "probe";
const TRANSPORTS = { default: undefined, polling: ["polling"], websocket: ["websocket"] };

const [base, transport, timingJson] = process.argv.slice(2);
if (!base || !(transport in TRANSPORTS) || !timingJson) {
  process.stderr.write("usage: node probe.js BASE_URL default|polling|websocket TIMING_JSON\n");
  process.exit(2);
}
const timing = { interval: 0.1, quiet: 1.0, traffic: 0.8, drain: 0.2, response_timeout: 2.5,
                 ...JSON.parse(timingJson) };
const responseMs = timing.response_timeout * 1000;

// Same clock as Python's time.time() (epoch seconds), with sub-ms precision.
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, Math.max(0, s * 1000)));

const obs = { connect_ms: null, connect_error: null, connected_at: null, quiet_end: null,
              traffic_end: null, acks: [], http: [], received: [] };
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
const budgetS = timing.quiet + timing.traffic + timing.drain + 3 * timing.response_timeout + 1.5;
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
    const req = http.get(url, { agent: false }, (res) => {
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
    socket = io(base, {
      transports: TRANSPORTS[transport],
      reconnection: false,
      forceNew: true,
      timeout: responseMs,
      // No requestTimeout: in engine.io-client it would also cut the long-poll
      // GETs, which the server holds up to pingInterval when it has nothing to
      // send (python-engineio bounds those by the ping interval, not this).
    });
    socket.on(EVENT, (data) => {
      const arrived = now();
      obs.received.push([data?.seq ?? null, data?.t ?? null, arrived]);
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(null);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      const reason = err?.message === "timeout"
        ? `connect timed out after ${timing.response_timeout} s` : `${err?.message || err}`;
      resolve(reason);
    });
  });
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
  while (now() < end) {
    n += 1;
    let sent = now();
    const start = performance.now();
    let ackMs = null;
    if (!socket.connected) {
      // python-socketio raises at once here; socket.io-client would buffer the
      // packet until the timeout.
      obs.connect_error = obs.connect_error || "during traffic: not connected";
    } else {
      try {
        await socket.timeout(responseMs).emitWithAck(ACK_EVENT, n);
        ackMs = performance.now() - start;
      } catch (err) {
        // "operation has timed out", or "socket has been disconnected" when the
        // connection dropped meanwhile (rejected at once, not at the timeout).
        if (err?.message !== "operation has timed out") {
          obs.connect_error = obs.connect_error || `during traffic: ${err?.message || err}`;
        }
      }
    }
    obs.acks.push([sent, ackMs]);
    sent = now();
    const [ms, error] = await httpGet(base + "/health");
    obs.http.push([sent, ms, error]);
    if (ms === null || ackMs === null) return;
    await sleep(timing.interval - (now() - sent));
  }
}

async function main() {
  // A plain GET alongside the connect: if the connect fails, it tells a server
  // that stopped answering from one that refused the client.
  const sent = now();
  const health = httpGet(base + "/health");
  const start = performance.now();
  const error = await connect();
  if (error === null) await upgraded();
  if (error === null) obs.connect_ms = performance.now() - start;
  else obs.connect_error = error;
  obs.http.push([sent, ...(await health)]);
  if (obs.connect_ms === null) return finish(0);
  obs.connected_at = now();

  await sleep(timing.quiet);
  obs.quiet_end = now();
  await traffic();
  obs.traffic_end = now();
  await sleep(timing.drain);
  finish(0);
}

main().catch((err) => {
  process.stderr.write(`probe.js: ${err?.stack || err}\n`);
  finish(1);
});
