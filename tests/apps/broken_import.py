"""An app module that cannot be imported (a missing dependency)."""

import a_module_nobody_installed  # noqa: F401
