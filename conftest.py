"""Root conftest: the suite needs the installed package (its pytest plugin and
server script come with it); say so plainly instead of failing on imports."""

import importlib.util

import pytest

# tests/test_plugin.py runs pytest inside pytest.
pytest_plugins = ["pytester"]

if importlib.util.find_spec("emitcheck") is None:  # pragma: no cover
    raise pytest.UsageError(
        "emitcheck is not installed in this environment: run the tests with 'tox', "
        "or 'pip install -e .[test]' first")
