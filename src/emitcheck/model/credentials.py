"""Credentials a client presents to a server that wants them: a Socket.IO auth
payload, extra HTTP headers (a session cookie, an Authorization header) and
query string parameters on the connection URL.

``Credentials`` itself lives in ``model`` (``Target`` carries it, and the model
imports nothing of emitcheck); this module parses the command line's values
and adds the options to a click command (``credential_options``). Values are
secrets: nothing here repeats them in an error, and ``describe`` and
``redacted`` name them without their values.
"""

from __future__ import annotations

import functools
import json
import re

import click

from emitcheck.model.results import Credentials

__all__ = ["Credentials", "CredentialsError", "credential_options", "describe", "parse_auth",
           "parse_header", "parse_query", "redacted"]

#: An HTTP header name (RFC 9110's token).
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers the clients set themselves: given again, they would break the connection.
RESERVED_HEADERS = ("host", "connection", "upgrade", "content-length", "transfer-encoding",
                    "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                    "sec-websocket-protocol")
#: Query parameters Engine.IO puts on every request of its own.
RESERVED_QUERY = ("EIO", "transport", "sid", "t", "j", "b64")
HIDDEN = "***"


class CredentialsError(ValueError):
    """An --auth, --header or --query value that cannot be used; one line saying what is valid."""


def parse_auth(text: str) -> dict:
    """``--auth JSON``: a JSON object, sent as the Socket.IO auth payload."""
    valid = "expected a JSON object, e.g. '{\"token\": \"...\"}'"
    try:
        value = json.loads(text)
    except ValueError as exc:
        # json's message names a position, never the text (which may hold a secret)
        raise CredentialsError(f"not valid JSON ({exc}); {valid}") from None
    if not isinstance(value, dict):
        raise CredentialsError(f"a JSON {_json_kind(value)}, not an object; {valid}")
    return value


def parse_header(text: str) -> tuple[str, str]:
    """``--header NAME:VALUE`` (spaces around the value are dropped)."""
    valid = "expected NAME:VALUE, e.g. 'Cookie: session=...' or 'Authorization: Bearer ...'"
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon:
        raise CredentialsError(f"no ':' between a header name and its value; {valid}")
    if not name:
        raise CredentialsError(f"no header name before the ':'; {valid}")
    if not _HEADER_NAME.match(name):
        raise CredentialsError(f"{name[:40]!r} is not a header name (letters, digits, "
                               f"'-' and '!#$%&'*+.^_`|~' only); {valid}")
    if name.lower() in RESERVED_HEADERS:
        raise CredentialsError(f"{name!r} is set by the client itself; {valid}")
    if any(ch in value for ch in "\r\n\0"):
        raise CredentialsError(f"the value of {name!r} has a line break or NUL; {valid}")
    return name, value


def parse_query(text: str) -> tuple[str, str]:
    """``--query NAME=VALUE``, added to the connection URL (the value may be empty)."""
    valid = "expected NAME=VALUE, e.g. 'token=...'"
    name, equals, value = text.partition("=")
    if not equals:
        raise CredentialsError(f"no '=' between a parameter name and its value; {valid}")
    if not name:
        raise CredentialsError(f"no parameter name before the '='; {valid}")
    if name in RESERVED_QUERY:
        raise CredentialsError(f"{name!r} is Engine.IO's own parameter "
                               f"({', '.join(RESERVED_QUERY)}); {valid}")
    return name, value


def _json_kind(value) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def describe(credentials: Credentials) -> str:
    """What is sent, by name only: "auth {token}, headers Cookie, query key"."""
    parts = []
    if credentials.auth is not None:
        parts.append(f"auth {{{', '.join(map(str, credentials.auth))}}}")
    if credentials.headers:
        parts.append(f"header{'s' if len(credentials.headers) > 1 else ''} "
                     f"{', '.join(name for name, _ in credentials.headers)}")
    if credentials.query:
        parts.append(f"query {', '.join(name for name, _ in credentials.query)}")
    return "; ".join(parts) or "none"


def redacted(credentials: Credentials) -> dict:
    """``to_json`` with every value replaced by ``HIDDEN``: for documents a user
    pastes into a bug report."""
    return {"auth": None if credentials.auth is None else dict.fromkeys(credentials.auth, HIDDEN),
            "headers": [[name, HIDDEN] for name, _ in credentials.headers],
            "query": [[name, HIDDEN] for name, _ in credentials.query]}


def _parsed(parse):
    def callback(ctx, param, value):
        try:
            if value is None:
                return None
            if isinstance(value, tuple):  # multiple=True
                return tuple(parse(item) for item in value)
            return parse(value)
        except CredentialsError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return callback


def credential_options(func):
    """Add ``--auth JSON``, ``--header NAME:VALUE`` (repeatable) and ``--query
    NAME=VALUE`` (repeatable) to a click command; it receives them as one
    ``credentials: Credentials`` keyword. Bad values are click.BadParameter,
    one line."""
    @functools.wraps(func)
    def command(*args, auth, headers, query, **kwargs):
        return func(*args, credentials=Credentials(auth, headers, query), **kwargs)

    options = [
        click.option("--auth", default=None, metavar="JSON", callback=_parsed(parse_auth),
                     help="The Socket.IO auth payload, a JSON object (connect(auth=...))."),
        click.option("--header", "headers", multiple=True, metavar="NAME:VALUE",
                     callback=_parsed(parse_header),
                     help="An HTTP header for the connect and every GET (a Cookie, an "
                          "Authorization); repeatable."),
        click.option("--query", multiple=True, metavar="NAME=VALUE",
                     callback=_parsed(parse_query),
                     help="A query string parameter on the connection URL; repeatable."),
    ]
    for option in reversed(options):
        command = option(command)
    return command
