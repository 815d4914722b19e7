"""emitcheck: which ways of emitting from background work reach Socket.IO clients.

Kept free of imports so that ``server_child.py`` can monkey patch before
anything else is loaded.
"""

__version__ = "0.1.0"
