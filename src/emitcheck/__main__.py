"""``python -m emitcheck``: the command line, as the ``emitcheck`` script runs it."""

from emitcheck.cli.main import main

main()
