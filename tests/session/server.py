"""A small scripted Live server on trio-websocket that speaks through the codec's server side.

Each test passes a script, ``async def script(peer: Peer) -> None``, that plays the server's part
after the handshake.  The full emulator lives in ``livehandle.testing``; this stays minimal on
purpose so the L0 tests depend on nothing above the codec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import attrs
import trio
import trio_websocket

from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, encode_server

T = TypeVar("T")


@attrs.define(eq=False)
class Peer:
    """The server's view of one client connection."""

    ws: trio_websocket.WebSocketConnection
    path: str
    headers: dict[str, str]
    received: list[m.ClientMessage] = attrs.field(factory=list)
    close_code: int | None = None

    async def receive(self) -> m.ClientMessage:
        message = decode_client(await self.ws.get_message())
        self.received.append(message)
        return message

    async def expect(self, cls: type[T]) -> T:
        message = await self.receive()
        assert isinstance(message, cls), f"expected {cls.__name__}, got {message!r}"
        return message

    async def send(self, message: m.ServerMessage, *, binary: bool = True) -> None:
        text = encode_server(message)
        await self.ws.send_message(text.encode() if binary else text)

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send_message(data)

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.aclose(code, reason)

    async def drop(self) -> None:
        """Close the TCP stream without a close frame (what a network failure looks like)."""
        await self.ws._stream.aclose()  # no public API for an abrupt drop

    async def drain(self) -> None:
        """Record everything the client sends until it closes."""
        try:
            while True:
                await self.receive()
        except trio_websocket.ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason else None


Script = Callable[[Peer], Awaitable[None]]
SETUP_COMPLETE = m.SetupComplete()


async def _drain_only(peer: Peer) -> None:
    await peer.drain()


@attrs.define(eq=False)
class Server:
    url: str
    peers: list[Peer] = attrs.field(factory=list)
    finished: trio.Event = attrs.field(factory=trio.Event)


@asynccontextmanager
async def live_server(
    script: Script = _drain_only,
    *,
    setup_complete: m.SetupComplete | tuple[int, str] | None = SETUP_COMPLETE,
) -> AsyncIterator[Server]:
    """Serve ``script`` on 127.0.0.1.

    ``setup_complete`` is what answers the setup: a message, ``(code, reason)`` to close instead
    (how Gemini rejects a setup), or None to never answer.
    """
    async with trio.open_nursery() as nursery:
        state = Server("")

        async def handler(request: trio_websocket.WebSocketRequest) -> None:
            ws = await request.accept()
            headers = {k.decode().lower(): v.decode() for k, v in request.headers}
            peer = Peer(ws, request.path, headers)
            state.peers.append(peer)
            try:
                await peer.expect(m.Setup)
                if setup_complete is None:
                    await peer.drain()
                    return
                if isinstance(setup_complete, tuple):
                    await peer.close(*setup_complete)
                    return
                await peer.send(setup_complete)
                await script(peer)
                await peer.drain()
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                state.finished.set()

        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        state.url = f"ws://127.0.0.1:{server.port}"
        yield state
        nursery.cancel_scope.cancel()
