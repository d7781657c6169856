"""Fake Live servers that echo the client's credentials back in everything they say.

One script plays every failure path the canary test covers; it runs over an in-memory pair
(:class:`~livehandle.lowlevel.MemoryTransport`) or a real loopback WebSocket server, so both
transports are scanned.  The emulator is not used on purpose: it never shows a key.
"""

from __future__ import annotations

import functools
import json
import urllib.parse
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

import attrs
import trio
import trio_websocket

from livehandle._transport import MemoryConnection, MemoryTransport, ResolvedEndpoint
from livehandle._wire import messages as m
from livehandle._wire.codec import encode_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

#: What every secret of the canary test contains, and what the scan looks for.
CANARY = "CANARY-9f3b"

#: The failure paths after the WebSocket upgrade, played by :func:`play`.
AFTER_UPGRADE = (
    "close_1007",
    "close_1008",
    "close_1011",
    "close_during_setup",
    "go_away",
    "error_frame",
    "resume_closed",
)
#: The failure paths that end the upgrade with an HTTP status.
REJECTED = {"http_403": 403, "http_401": 401}


def echo(secrets: Sequence[str]) -> str:
    """What a careless server says: every credential, plain and URL-encoded."""
    shown = " ".join(f"{s} ({urllib.parse.quote(s, safe='')})" for s in secrets)
    return f"API key not valid. Please pass a valid API key: {shown}"


class Link:
    """The server's end of one connection, whatever carries it."""

    def __init__(
        self,
        receive: Callable[[], Awaitable[str | bytes]],
        send: Callable[[str | bytes], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.receive, self.send, self.close = receive, send, close


async def play(path: str, link: Link, secrets: Sequence[str], index: int) -> None:
    """Play ``path`` on the ``index``-th connection (0 first), echoing ``secrets``."""
    said = echo(secrets)
    await link.receive()  # the setup
    if path == "close_during_setup" or (path.startswith("resume") and index > 0):
        await link.close(1007, f"Invalid resumption handle. {said}")
        return
    await link.send(encode_server(m.SetupComplete()).encode())
    if path.startswith("close_"):
        await link.close(int(path.removeprefix("close_")), said)
    elif path == "go_away":
        await link.send(encode_server(m.GoAway(time_left=0.5)))
        await link.close(1011, f"Deadline expired before operation could complete. {said}")
    elif path == "error_frame":
        error = {"error": {"code": 401, "message": said, "status": "UNAUTHENTICATED"}}
        await link.send(json.dumps(error))
        await link.send(json.dumps({"serverContent": {"turnComplete": said}}).encode())
        await link.send(f"not JSON: {said}")
        await link.close(1011, said)
    elif path.startswith("resume"):
        update = m.SessionResumptionUpdate(new_handle="handle-1", resumable=True)
        await link.send(encode_server(update))
        await link.close(1011, f"Internal error occurred. {said}")
    else:
        raise AssertionError(f"unknown path {path!r}")


@attrs.define
class MemoryServer:
    """A :class:`MemoryTransport` playing ``path``; HTTP rejections come from its gate."""

    path: str
    connects: int = 0

    def transport(self) -> MemoryTransport:
        return MemoryTransport(
            self._serve, gate=self._gate, refuse=self.path == "refused", capacity=64
        )

    def _gate(self, resolved: ResolvedEndpoint) -> tuple[int, str] | None:
        self.connects += 1
        if self.path in REJECTED:
            return REJECTED[self.path], echo(resolved.secrets)
        if self.path == "resume_refused" and self.connects > 1:
            return 403, echo(resolved.secrets)
        return None

    async def _serve(self, end: MemoryConnection) -> None:
        assert end.endpoint is not None
        link = Link(end.receive, end.send, end.aclose)
        path = "resume_closed" if self.path == "resume_refused" else self.path
        await play(path, link, end.endpoint.secrets, self.connects - 1)


@asynccontextmanager
async def socket_server(path: str, secrets: Sequence[str]) -> AsyncIterator[int]:
    """A loopback WebSocket server playing ``path``; yields its port."""
    connects = 0

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        nonlocal connects
        connects += 1
        status = REJECTED.get(path) or (403 if path == "resume_refused" and connects > 1 else 0)
        if status:
            said = echo(secrets).encode()
            await request.reject(status, extra_headers=[(b"x-echo", said)], body=said)
            return
        ws = await request.accept()
        link = Link(ws.get_message, ws.send_message, ws.aclose)
        with suppress(trio_websocket.ConnectionClosed):
            await play(
                "resume_closed" if path == "resume_refused" else path, link, secrets, connects - 1
            )

    async with trio.open_nursery() as nursery:
        if path == "tcp_close":
            serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
            listeners = await nursery.start(serve, _close_at_once, 0)
            port = listeners[0].socket.getsockname()[1]
        else:
            server = await nursery.start(
                trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None
            )
            port = server.port
        yield port
        nursery.cancel_scope.cancel()


async def _close_at_once(stream: trio.SocketStream) -> None:
    await stream.aclose()
