"""In-process connections for unit tests: no sockets, deterministic under ``autojump_clock``.

:func:`memory_connection_pair` returns two connected :class:`MemoryConnection` ends joined by
bounded Trio memory channels.  They behave like a WebSocket as the session sees it: messages keep
their order and type, a sender waits while the peer's buffer is full (nothing is dropped), the
peer of a closing end still receives what was sent before the close, and
:meth:`MemoryConnection.abort` drops the link without a close handshake.

:class:`MemoryTransport` implements ``Transport`` by opening such a pair on every connect and
running a handler coroutine, a fake server, on the server end.  Both ends carry the
:class:`~livehandle.lowlevel.ResolvedEndpoint` the client asked for
(:attr:`MemoryConnection.endpoint`), so a handler can route on the URL's path and check the
credentials in its query and headers; a ``gate`` can refuse a connect the way a server rejects
a WebSocket upgrade (with an HTTP status).
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs
import trio

from livehandle._errors import ConnectFailed, classify_close
from livehandle._logs import library_logger
from livehandle._transport.endpoints import ResolvedEndpoint

if TYPE_CHECKING:
    from livehandle._errors import ConnectionClosed
    from livehandle._transport.base import Transport
    from livehandle._transport.endpoints import Endpoint

__all__ = ["MemoryConnection", "MemoryTransport", "memory_connection_pair"]

logger = library_logger("livehandle.transport")


class MemoryConnection:
    """One end of an in-memory connection; make connected ends with :func:`memory_connection_pair`.

    Implements :class:`~livehandle.lowlevel.Connection`.

    Attributes:
        endpoint: what the client connected to (URL with its query, headers), on both ends of a
            pair made by :class:`MemoryTransport`; None for a bare :func:`memory_connection_pair`.
            It may hold credentials: its ``repr`` shows only the redacted URL.

    The client end of a pair (the first one :func:`memory_connection_pair` returns) scrubs the
    endpoint's credentials from what it receives, frames and close reason alike, as
    :class:`~livehandle.lowlevel.WebSocketConnection` does: a fake server that echoes the key
    shows the client ``***``.
    """

    def __init__(
        self,
        send_channel: trio.MemorySendChannel[str | bytes],
        receive_channel: trio.MemoryReceiveChannel[str | bytes],
        *,
        endpoint: ResolvedEndpoint | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._send_channel = send_channel
        self._receive_channel = receive_channel
        self._peer: MemoryConnection | None = None
        self._close: tuple[int, str] | None = None
        self._stopped = False  # closed here or aborted: nothing more is delivered to this end
        self._scrub: ResolvedEndpoint | None = None  # set on a client end with credentials

    @property
    def close_code(self) -> int | None:
        """The close code once either end has closed (1006 after :meth:`abort`), else None."""
        return None if self._close is None else self._close[0]

    @property
    def close_reason(self) -> str:
        """The close reason text once closed, else the empty string."""
        return "" if self._close is None else self._close[1]

    async def send(self, message: str | bytes) -> None:
        """Deliver ``message`` to the peer, waiting while the peer's buffer is full.

        Raises:
            ConnectionClosed: the subclass for the close code, once either end has closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        if not isinstance(message, str | bytes):
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        if self._close is not None:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        try:
            await self._send_channel.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._closed_error() from None

    async def receive(self) -> bytes | str:
        """Receive the next message from the peer.

        After the peer closes, the messages it sent before closing are returned first.

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
        """
        if self._stopped:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        try:
            data = await self._receive_channel.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            pass  # raised below, out of the handler
        else:
            return data if self._scrub is None else self._scrub.scrub_frame(data)
        raise self._closed_error()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason``; idempotent, and the first close wins.

        Messages not yet received by this end are discarded; the peer receives what it was sent
        and then :func:`~livehandle.lowlevel.classify_close` of ``code`` and ``reason``.
        """
        for end in self._ends():
            end._record(code, reason)
        self._stop()
        await trio.lowlevel.checkpoint()

    def abort(self) -> None:
        """Drop the connection like a lost TCP link: no close handshake, messages in flight lost.

        Both ends' pending and later calls raise :class:`~livehandle.ConnectionLost`
        (1006), unless the connection was already closed.
        """
        for end in self._ends():
            end._record(1006, "")
            end._stop()

    def _ends(self) -> tuple[MemoryConnection, ...]:
        return (self,) if self._peer is None else (self, self._peer)

    def _record(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason if self._scrub is None else self._scrub.scrub(reason))

    def _stop(self) -> None:
        self._stopped = True
        self._send_channel.close()  # the peer drains what it has, then sees the end
        self._receive_channel.close()  # the peer's waiting and later sends fail

    def _closed_error(self) -> ConnectionClosed:
        return classify_close(*(self._close or (1006, "")))


def memory_connection_pair(
    capacity: int = 64, *, endpoint: ResolvedEndpoint | None = None
) -> tuple[MemoryConnection, MemoryConnection]:
    """Two connected ends; each buffers up to ``capacity`` messages sent to it.

    Args:
        capacity: messages buffered per direction; a sender waits while the peer's buffer is full.
        endpoint: recorded as :attr:`MemoryConnection.endpoint` on both ends.

    Returns:
        ``(client_end, server_end)``; the two are symmetrical, except that the client end scrubs
        ``endpoint``'s credentials from what it receives (frames and the close reason).
    """
    to_server, server_inbox = trio.open_memory_channel[str | bytes](capacity)
    to_client, client_inbox = trio.open_memory_channel[str | bytes](capacity)
    client = MemoryConnection(to_server, client_inbox, endpoint=endpoint)
    server = MemoryConnection(to_client, server_inbox, endpoint=endpoint)
    if endpoint is not None and endpoint.secrets:
        client._scrub = endpoint
    client._peer, server._peer = server, client
    return client, server


@attrs.define
class MemoryTransport:
    """A ``Transport`` whose every connect gets a fresh in-memory pair served by ``handler``.

    ``handler(server_end)`` runs in the nursery passed to :meth:`connect`.  When it returns, the
    server end is closed with 1000 if still open.  If it raises, the error is logged at warning
    level on the ``livehandle._transport`` logger and the server end is aborted, so the client sees
    :class:`~livehandle.ConnectionLost`; the error is *not* propagated into the nursery, so
    a fake server's crash looks to the session like a dropped connection.

    Attributes:
        handler: ``async def handler(server_end: MemoryConnection) -> None``.
        refuse: when true, :meth:`connect` raises :class:`~livehandle.ConnectFailed`
            (may be changed between connects).
        capacity: the buffer size of each direction.
        gate: called with the resolved endpoint on every connect that ``refuse`` lets through;
            it returns None to accept, or ``(status_code, reason)`` to refuse the connect as a
            server rejecting the WebSocket upgrade would: :class:`~livehandle.ConnectFailed`
            with that ``status_code``, and the handler never runs.
        serve_in: the nursery the handler runs in, for a fake server that outlives its clients'
            sessions; None (the default) runs it in the nursery passed to :meth:`connect`.
        connections: the :class:`~livehandle.lowlevel.ResolvedEndpoint` of every connect
            attempt, refused ones included, so tests can check URLs and headers.
    """

    handler: Callable[[MemoryConnection], Awaitable[None]]
    refuse: bool = attrs.field(default=False, kw_only=True)
    capacity: int = attrs.field(default=64, kw_only=True)
    gate: Callable[[ResolvedEndpoint], tuple[int, str] | None] | None = attrs.field(
        default=None, kw_only=True
    )
    serve_in: trio.Nursery | None = attrs.field(default=None, kw_only=True, repr=False)
    connections: list[ResolvedEndpoint] = attrs.field(factory=list, init=False)

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> MemoryConnection:
        """Resolve ``endpoint``, record it, and return the client end of a new pair.

        Raises:
            ConnectFailed: ``refuse`` is set, or ``gate`` refused the connect (with its
                ``status_code``).
        """
        resolved = endpoint.resolve()
        self.connections.append(resolved)
        await trio.lowlevel.checkpoint()
        if self.refuse:
            message = f"could not open {resolved.redacted_url}: refused by MemoryTransport"
            raise ConnectFailed(message, url=resolved.redacted_url)
        refusal = None if self.gate is None else self.gate(resolved)
        if refusal is not None:
            status, reason = refusal
            where = resolved.redacted_url
            message = resolved.scrub(
                f"{where} rejected the WebSocket upgrade with HTTP {status}: {reason}"
            )
            raise ConnectFailed(message, url=resolved.redacted_url, status_code=status)
        client, server = memory_connection_pair(self.capacity, endpoint=resolved)
        (self.serve_in or nursery).start_soon(self._serve, server, resolved)
        return client

    async def _serve(self, server: MemoryConnection, resolved: ResolvedEndpoint) -> None:
        try:
            await self.handler(server)
        except Exception as exc:
            # The traceback as text, scrubbed: a fake server's error may quote the credential.
            detail = resolved.scrub("".join(traceback.format_exception(exc)).rstrip())
            logger.warning(
                "MemoryTransport handler for %s failed; aborting the connection\n%s",
                resolved.redacted_url,
                detail,
            )
            server.abort()
        except BaseException:
            server.abort()
            raise
        else:
            await server.aclose()


if TYPE_CHECKING:  # static proof that the class implements the protocol
    _transport: Transport = MemoryTransport(lambda end: end.aclose())
