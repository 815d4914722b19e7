"""The probe's default client: python-socketio's ``Client`` (emitcheck/probe.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ClientVariant


@dataclass(eq=False)
class Python(ClientVariant):
    def watch(self, obs, target, timing, window_over, cadence=None, triggers=(),
              in_flight=None):
        from ..probe import watch

        watch(obs, target, timing, window_over, cadence, triggers, in_flight=in_flight)


VARIANTS = [Python("python", "python-socketio's Client")]
