"""Work in another process that emits through the message queue, as a Celery
worker or a script does: ``process`` with ``SocketIO(message_queue=URL)`` and no
app (Flask-SocketIO's documented way), ``process_manager`` with python-socketio's
``RedisManager(URL, write_only=True)`` (as python-socketio's docs show).

The emitter is server_child.py run with ``emitter``; it is patched like the
server and logs its emits to the server's emit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from emitcheck.families.spawns import Spawn


@dataclass(eq=False)
class OtherProcess(Spawn):
    def conflict(self, cell):
        if cell.queue == "none":
            return (f"spawn {self.value} emits through a message queue: add a queue "
                    "suffix, e.g. ...-time_sleep-redis")
        if self.value == "process_manager" and cell.wait != "time_sleep":
            return ("process_manager has no socketio.sleep (a bare RedisManager is not a "
                    "server): use process_manager-time_sleep")
        return None

    def after_server(self, run):
        from emitcheck.running.work import emitter

        process = run.add(emitter(run.cell.id, run.timing.interval, run.directory / "emitter",
                                  run.server.files.emits, run.queue_url, run.others_python),
                          companion=True)
        run.wait_first_emit(process)


VARIANTS = [
    OtherProcess("process", "another process emits with SocketIO(message_queue=URL) and no "
                 "app, as a Celery worker does", reproducible=False,
                 remedy="emit from the other process with SocketIO(message_queue=URL), or pass "
                        "channel='flask-socketio' to RedisManager"),
    OtherProcess("process_manager", "another process emits with python-socketio's "
                 "RedisManager(URL, write_only=True), as its docs show", reproducible=False),
]
