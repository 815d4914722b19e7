"""``emitcheck node-install``: install the Node client's socket.io-client ahead.

The ``-node`` cells install it on first use anyway; this command does it before
a run (CI, a machine that goes offline later) and fails loudly: exit 1 with
npm's reason, where a cell would only skip with it. It prints the cache folder,
which CI may cache between runs.
"""

from __future__ import annotations

import os
import time

import click

from .node_client import NODE_DIR_ENV, NodeClientError, locate
from .node_install import INSTALL_TIMEOUT, NodeInstallError, cache_folder, ensure, is_installed


@click.command("node-install")
@click.option("--timeout", type=click.FloatRange(min=1), default=INSTALL_TIMEOUT,
              show_default=True, help="Seconds npm ci may take.")
def node_install(timeout: float) -> None:
    """Install socket.io-client for the -node cells (npm ci from emitcheck's lock
    file, into a cache folder; nothing is done when it is there already)."""
    if os.environ.get(NODE_DIR_ENV):
        try:
            client = locate()
        except NodeClientError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{NODE_DIR_ENV} is set: the -node cells use {client.script} "
                   f"with {client.modules}; nothing to install")
        return
    folder = cache_folder()
    if is_installed(folder):
        click.echo(f"socket.io-client is installed in {folder}")
        return
    started = time.perf_counter()
    try:
        ensure(timeout=timeout)
    except NodeInstallError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"socket.io-client installed in {folder} "
               f"({time.perf_counter() - started:.1f} s)")
