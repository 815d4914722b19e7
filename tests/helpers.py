"""Helpers shared by the tests that start real servers or the CLI."""

import os
import signal
import subprocess
import sys
import time

import psutil


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line or working directory contains ``text``
    (a test's tmp dir). Servers forked by a zygote have the zygote's command
    line, but they run in their cell's directory."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "cwd"]):
        try:
            where = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        except psutil.Error:
            continue
        if text in where and proc.info["status"] != psutil.STATUS_ZOMBIE \
                and proc.pid != os.getpid():
            found.append(proc)
    return found


def zygotes_of(pid: int) -> list[psutil.Process]:
    """The zygotes (emitcheck/zygote_child.py) that process ``pid`` started."""
    from emitcheck.zygote import forkable_modes

    return [proc for mode in forkable_modes()
            for proc in processes_mentioning(f"zygote_child.py {mode} {pid}")]


def wait_until(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something truthy; fail saying what we waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def emitcheck(*args: str, env: dict | None = None, timeout: float = 120,
              **kwargs) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess, bounded."""
    return subprocess.run([sys.executable, "-m", "emitcheck.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def runnable(cell_id: str):
    """The cell of ``cell_id``, or a skip saying why it cannot run here."""
    import pytest

    from emitcheck.cells import parse

    cell = parse(cell_id)
    reason = cell.unavailable()
    if reason:
        pytest.skip(reason)
    return cell


def interrupt_cli(args: list[str], env: dict, started, what: str,
                  signum: int = signal.SIGINT) -> tuple[subprocess.Popen, str]:
    """Run ``emitcheck ARGS``, wait (bounded) until ``started()`` holds, press
    Ctrl-C (or send ``signum``: SIGTERM, SIGHUP, SIGKILL); the ended process (its
    pid, its exit status) and its stderr. SIGINT is restored in the child, as from
    a terminal: a run started in the background of a shell (nohup, '&') inherits
    it ignored, and Python then never raises KeyboardInterrupt."""
    cli = subprocess.Popen([sys.executable, "-m", "emitcheck.cli", *args],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(started, 60, what)
        cli.send_signal(signum)
        _, err = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.wait()
    return cli, err


def processes_with_marker(marker: str) -> list[int]:
    """Pids of the live processes (zombies excepted: their environment reads empty)
    whose environment carries ``marker`` as one of the words of EMITCHECK_RUN,
    emitcheck's run marker: every process a run starts has it, and its
    descendants inherit it. (Read here, not with emitcheck's own code: the
    tests check that code.)"""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as env:
                entries = env.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if any(entry.startswith(b"EMITCHECK_RUN=") and marker.encode() in entry[14:].split()
               for entry in entries):
            found.append(int(name))
    return found
