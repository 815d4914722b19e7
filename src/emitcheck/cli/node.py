"""``emitcheck node-install``: install the Node client's socket.io-client ahead.

The ``-node`` cells install it on first use anyway; this command does it before
a run (CI, a machine that goes offline later) and fails loudly: exit 1 with
npm's reason (or what the check of its install found), where a cell would only
skip with it; exit 2 when the cache folder cannot be written, saying which and
what to do. An install that is there is checked (node loads it, its files are
as installed); a damaged one is removed and installed again. It prints the
cache folder, which CI may cache between runs. Ctrl-C ends it as every command
(cli.py): one line, status 130, nothing left in the cache.
"""

from __future__ import annotations

import os

import click

from emitcheck.clients.node_client import NODE_DIR_ENV, NodeClientError, locate
from emitcheck.clients.node_install import INSTALL_TIMEOUT, NodeInstallError, provide
from emitcheck.system.cache import CacheNotWritable


@click.command("node-install")
@click.option("--timeout", type=click.FloatRange(min=1), default=INSTALL_TIMEOUT,
              show_default=True, help="Seconds npm ci may take.")
def node_install(timeout: float) -> None:
    """Install socket.io-client for the -node cells (npm ci from emitcheck's lock
    file, into a cache folder; when it is there already, only check it)."""
    if os.environ.get(NODE_DIR_ENV):
        try:
            client = locate()
        except NodeClientError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{NODE_DIR_ENV} is set: the -node cells use {client.script} "
                   f"with {client.modules}; nothing to install")
        return
    try:
        folder, took = provide(timeout=timeout)
    except CacheNotWritable:
        raise  # one line, status 2
    except NodeInstallError as exc:
        raise click.ClickException(str(exc)) from None
    if took is None:
        click.echo(f"socket.io-client is installed in {folder} (checked: node loads it)")
    else:
        click.echo(f"socket.io-client installed in {folder} ({took:.1f} s)")
