"""``socketio.run(app, host="127.0.0.1", ...)``: the server as most users run it.

Its server is the cell's work (work.py: server_child.py, or the user's app)
in a process of its own, or, for cells whose every value allows it, a fork of
a zygote that imported the stack once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from emitcheck.matrix.cell import ServerVariant


@dataclass(eq=False)
class Run(ServerVariant):
    def start(self, run, directory):
        from emitcheck.running.zygote import StackBroken
        from emitcheck.system.process import ManagedProcess

        if run.zygotes is not None and run.zygotes.serves(run.cell):
            try:
                return run.zygotes.fork(run.cell, run.timing.interval, directory, run.queue_url)
            except StackBroken:
                pass  # a fresh server fails the same way, and its log says why
        return ManagedProcess.serve(directory, run.cell.id, lambda files, port: [
            sys.executable, *run.work.server_argv(run.cell.id, run.timing.interval, files,
                                                  port, run.queue_url)])


VARIANTS = [Run("run", "socketio.run(app)")]
