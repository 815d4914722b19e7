#!/usr/bin/env node
// A tiny Node.js Socket.IO server: someone else's server, for `emitcheck probe` tests.
//
// Usage: node server.js PORT INTERVAL_SECONDS
//
// Listens on 127.0.0.1:PORT only. Every INTERVAL s it emits `tick` with
// {seq, t} to every client of the namespaces "/" and "/live", where t is
// Date.now(): epoch MILLISECONDS, as Node servers usually send it (the Python
// cells send seconds; `emitcheck probe --time-field t` accepts both). It
// acknowledges `probe` (the ack event the tests pass with --ack probe).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const [port, interval] = process.argv.slice(2).map(Number);
if (!(port > 0) || !(interval > 0)) {
  process.stderr.write("usage: node server.js PORT INTERVAL_SECONDS\n");
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404).end();
});
const io = new Server(httpServer);
const namespaces = [io.of("/"), io.of("/live")];
for (const nsp of namespaces) {
  nsp.on("connection", (socket) => {
    socket.on("probe", (n, ack) => {
      if (typeof ack === "function") ack(n);
    });
  });
}

let seq = 0;
setInterval(() => {
  seq += 1;
  for (const nsp of namespaces) nsp.emit("tick", { seq, t: Date.now() });
}, interval * 1000);

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening on 127.0.0.1:${port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
