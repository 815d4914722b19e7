"""The probe's default client: python-socketio's ``Client`` (emitcheck/clients/python_client.py)."""

from __future__ import annotations

from dataclasses import dataclass

from emitcheck.matrix.cell import ClientVariant


@dataclass(eq=False)
class Python(ClientVariant):
    def watch(self, obs, target, timing, window_over, cadence=None, triggers=(),
              in_flight=None):
        from emitcheck.clients.python_client import watch

        watch(obs, target, timing, window_over, cadence, triggers, in_flight=in_flight)


VARIANTS = [Python("python", "python-socketio's Client")]
