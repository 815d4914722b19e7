

#: ``emitcheck probe --clients``: at most this many clients at once (remote.py),
#: here so that the command's options need not import python-socketio.
MAX_CLIENTS = 50
