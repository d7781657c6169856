"""The emulator's side of one client connection, whatever carries it: a WebSocket or memory.

The engine talks to a :class:`Link` and never to trio-websocket or to a
:class:`~livehandle.lowlevel.MemoryConnection` directly, which is what lets one engine serve
socket clients and in-memory clients alike, with the same recording, faults and close codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import trio
import trio_websocket

from livehandle._errors import ConnectionClosed
from livehandle.testing._conversation import Stop

if TYPE_CHECKING:
    from livehandle._transport.memory import MemoryConnection

__all__ = ["Link", "MemoryLink", "WebSocketLink"]


class Link(Protocol):
    """One accepted client connection, as the emulator's engine uses it."""

    async def send(self, data: str | bytes) -> None:
        """Send one frame (``bytes``: binary); raises ``Stop`` once the connection is gone."""
        ...

    async def receive(self) -> str | bytes | None:
        """The next client frame, or None once the connection is closed (by either side)."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with a close frame; returns once the client has answered it.

        Unbounded on a WebSocket whose client never answers: the caller bounds it.
        """
        ...

    async def drop(self) -> None:
        """End the connection without a close frame, like a lost TCP link (the client sees 1006)."""
        ...

    def ended(self) -> tuple[int, str]:
        """How the connection ended: ``(code, reason)``, 1006 when it was dropped."""
        ...

    def is_open(self) -> bool:
        """No close has been sent or received yet (a drop shows only once it is noticed)."""
        ...


class WebSocketLink:
    """A :class:`Link` over an accepted trio-websocket connection and the stream under it."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, stream: trio.abc.Stream) -> None:
        self._ws = ws
        self._stream = stream

    async def send(self, data: str | bytes) -> None:
        """Send one frame (see :class:`Link`)."""
        try:
            await self._ws.send_message(data)
        except (trio_websocket.ConnectionClosed, trio.BrokenResourceError):
            raise Stop from None

    async def receive(self) -> str | bytes | None:
        """The next frame, or None once closed (see :class:`Link`)."""
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed:
            return None

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame and wait for the client's (see :class:`Link`)."""
        await self._ws.aclose(code, reason)

    async def drop(self) -> None:
        """Close the TCP stream under the WebSocket, with no close frame."""
        await trio.aclose_forcefully(self._stream)

    def ended(self) -> tuple[int, str]:
        """``(code, reason)`` of the close (see :class:`Link`)."""
        closed = self._ws.closed
        return (1006, "") if closed is None else (closed.code, closed.reason or "")

    def is_open(self) -> bool:
        """No close frame sent or received yet (see :class:`Link`)."""
        # trio-websocket sets the reason before it answers a client's close frame, so a client
        # whose close has completed always finds its old connection no longer open.
        return self._ws.closed is None


class MemoryLink:
    """A :class:`Link` over the server end of an in-memory connection."""

    def __init__(self, connection: MemoryConnection) -> None:
        self._connection = connection

    async def send(self, data: str | bytes) -> None:
        """Send one frame (see :class:`Link`)."""
        try:
            await self._connection.send(data)
        except ConnectionClosed:
            raise Stop from None

    async def receive(self) -> str | bytes | None:
        """The next frame, or None once closed (see :class:`Link`)."""
        try:
            return await self._connection.receive()
        except ConnectionClosed:
            return None

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason``; in memory the client's answer is immediate."""
        await self._connection.aclose(code, reason)

    async def drop(self) -> None:
        """Abort the connection: both ends see 1006, frames in flight are lost."""
        self._connection.abort()
        await trio.lowlevel.checkpoint()

    def ended(self) -> tuple[int, str]:
        """``(code, reason)`` of the close (see :class:`Link`)."""
        code = self._connection.close_code
        return (1006, "") if code is None else (code, self._connection.close_reason)

    def is_open(self) -> bool:
        """Neither end has closed or aborted (see :class:`Link`); both ends learn at once."""
        return self._connection.close_code is None
