"""``-node``: the official JavaScript socket.io-client on Node.js watches the window
(node/probe.js, run by emitcheck/clients/node_client.py). It must reach the Python
client's verdict in every cell; the grid marks a cell where it does not.
Asking whether it can run installs socket.io-client on first use
(node_install.py), so a cell that cannot skips with npm's reason."""

from __future__ import annotations

from dataclasses import dataclass

from emitcheck.matrix.cell import ClientVariant

DOC = "pitfall.md#a-second-client-nodejs"


@dataclass(eq=False)
class Node(ClientVariant):
    def unavailable(self, cell):
        from emitcheck.clients.node_client import node_unavailable

        return node_unavailable()

    def watch(self, obs, target, timing, window_over, cadence=None, triggers=(),
              in_flight=None):
        from emitcheck.clients.node_client import watch

        watch(obs, target, timing, window_over)


VARIANTS = [Node("node", "the official JavaScript socket.io-client on Node.js, which must "
                 "reach the same verdicts", doc=DOC, reproducible=False,
                 second_opinion=True,
                 composed=(("polling", "node"),))]  # the Node client over long-polling
