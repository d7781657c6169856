"""Keeping what a server sent out of trio-websocket's own log.

The default transport is built on trio-websocket, whose ``trio-websocket`` logger records, at
DEBUG, text that comes from the server unscrubbed.  A user who turns DEBUG on for the root logger
would see a credential echoed there.  :func:`hide_server_text_in_library_log` installs a filter
on that logger that hides such text; the transport calls it for every connection.
"""

from __future__ import annotations

import logging

import trio_websocket
from wsproto.utilities import RemoteProtocolError

__all__ = ["hide_server_text_in_library_log"]


class _HideServerText(logging.Filter):
    """Hides what the server sent from the records of trio-websocket's own logger.

    trio-websocket logs, at DEBUG on the ``trio-websocket`` logger, the close reason as
    received (``websocket closed ConnectionClosed<...reason=...>``), the payload of pings and
    pongs, and its parser's complaints (which quote the server's headers).  A server may echo a
    credential in any of them, in any form (whole, cut, encoded), so this filter does not look
    for secrets: it replaces the close reason, every payload and every protocol error's text
    in the record's arguments with a placeholder, and keeps the rest (codes, sizes, events).
    The close reason still reaches livehandle's own log, scrubbed.

    A filter on that one logger, rather than a raised level: the user keeps trio-websocket's
    DEBUG log for diagnosis, and nothing else about their logging configuration changes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(map(_holds_server_text, record.args)):
            record.args = tuple(_hide_server_text(arg) for arg in record.args)
        return True


def _holds_server_text(arg: object) -> bool:
    hidden = (trio_websocket.ConnectionClosed, bytes, bytearray, RemoteProtocolError)
    return isinstance(arg, hidden)


class _Placeholder(str):
    """Text that shows as itself under both ``%s`` and ``%r``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _hide_server_text(arg: object) -> object:
    if isinstance(arg, trio_websocket.ConnectionClosed):
        reason = arg.reason
        if reason is None:
            return _Placeholder("ConnectionClosed<reason=<hidden>>")
        text = f"ConnectionClosed<code={reason.code}, name={reason.name}, reason=<hidden>>"
        return _Placeholder(text)
    if isinstance(arg, bytes | bytearray):
        return _Placeholder(f"<{len(arg)} bytes>")
    if isinstance(arg, RemoteProtocolError):
        return _Placeholder(f"{type(arg).__name__}(<hidden>)")
    return arg


_LOG_FILTER = _HideServerText()


def hide_server_text_in_library_log() -> None:
    """Install the filter on trio-websocket's logger (again, if a logging setup removed it)."""
    logging.getLogger("trio-websocket").addFilter(_LOG_FILTER)  # a no-op when installed
