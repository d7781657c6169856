"""The seam between the session and the network: a small ``Transport`` protocol.

A :class:`Transport` opens a :class:`Connection` to an :class:`~livehandle.Endpoint`.
The session owns exactly one connection at a time; one task sends on it and one task receives
from it.  Implementations: :class:`~livehandle._transport.WebSocketTransport` (trio-websocket, the
default) and :class:`~livehandle.lowlevel.MemoryTransport` (in-process, for unit tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    import trio

    from livehandle._transport.endpoints import Endpoint

__all__ = ["AtomicConnection", "BatchConnection", "Connection", "Transport"]


class Connection(Protocol):
    """One open, message-framed, bidirectional connection.

    ``send`` and ``receive`` raise a :class:`~livehandle.ConnectionClosed` subclass (chosen by
    :func:`~livehandle.lowlevel.classify_close` from the close code and reason) once the
    connection is closed, whichever side closed it.  ``aclose`` is idempotent and bounded in time.
    """

    async def send(self, message: str | bytes) -> None:
        """Send one message: ``str`` as a text frame, ``bytes`` as a binary frame."""
        ...

    async def receive(self) -> bytes | str:
        """Receive the next whole message, text (``str``) or binary (``bytes``)."""
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason``; further sends and receives raise."""
        ...


class BatchConnection(Connection, Protocol):
    """A connection that can write several text messages at once (optional; the writer uses it).

    The session's writer sends everything already queued with one ``send_batch`` call, so a
    burst of small messages (microphone frames) costs one write instead of one per message.
    """

    async def send_batch(self, messages: Sequence[str]) -> None:
        """Send ``messages`` in order, as if by ``send`` on each, usually in one write."""
        ...


class AtomicConnection(Connection, Protocol):
    """A connection that sends a message whole or not at all, even when cancelled (optional).

    The session writes in the caller's task when the socket is free.  A cancel must never cut a
    frame in half, so over a connection without this method the session shields each such
    write itself; a connection that has it can do that more cheaply (for example by writing
    a frame that fits the socket's buffer without awaiting at all).
    """

    async def send_atomic(self, message: str, within: float) -> None:
        """Send ``message`` so that a cancel never cuts it (see the class docstring).

        Either ``Cancelled`` is raised before anything is written, or the whole message is
        written; a write still unfinished after ``within`` seconds aborts the connection and
        raises :class:`~livehandle.ConnectionClosed`.
        """
        ...


class Transport(Protocol):
    """Something that can open connections to an endpoint."""

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> Connection:
        """Open a connection to ``endpoint``.

        Background tasks the connection needs (e.g. a WebSocket reader) are started in ``nursery``
        and end when the connection is closed.  Raises :class:`~livehandle.ConnectFailed`
        when the connection cannot be opened.  The caller bounds it (``trio.fail_after``).
        """
        ...
