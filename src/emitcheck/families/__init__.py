"""The families: one module (or package) per family, each holding everything
about its values: their declarations (``VARIANTS``), the verdicts measured for
them (``expect``), the processes they start and what their logs show.

The registry (matrix/cell.py) imports a family by its name in ``MODULES`` the
first time a value is asked for; nothing else names one. A family module
imports only the standard library at import time (the pytest plugin and the
classifier load the registry); what a value needs to run is imported when it
runs. docs/architecture.md says how to add one.
"""
