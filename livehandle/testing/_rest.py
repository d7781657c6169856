"""Plain HTTP next to the WebSocket on the emulator's one port: sniffing, replaying, serving.

Every accepted stream starts with an HTTP/1.1 request head.  :func:`sniff` reads it with h11;
``POST`` requests to a ``generateContent`` path are then served here, as plain HTTP with
keep-alive (:func:`serve_http`), and everything else is handed to trio-websocket through a
:class:`ReplayStream` that first gives back the bytes already read, so the WebSocket handshake
sees the stream exactly as the client sent it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import attrs
import h11
import trio

from livehandle.testing._extractions import generate_route

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle.testing._extractions import Answer

__all__ = ["MAX_BODY", "HttpRequest", "ReplayStream", "Sniffed", "serve_http", "sniff"]

#: The largest request body the emulator reads (a transcript window is far smaller); larger
#: bodies are refused with 413 and the connection is closed.
MAX_BODY = 4 * 2**20
#: Seconds a kept-alive connection may stay idle before the emulator closes it.
IDLE_TIMEOUT = 30.0
_READ = 65536


@attrs.frozen
class HttpRequest:
    """One plain HTTP request: method, target (path and query), headers (lower-case names)."""

    method: str
    target: str
    headers: dict[str, str]


@attrs.frozen
class Sniffed:
    """What :func:`sniff` read: the bytes so far, and the parsed request if it is ours to serve.

    ``ended``: the client closed its side before sending a whole request head (nothing to serve).
    """

    data: bytes
    request: HttpRequest | None
    parser: h11.Connection | None
    ended: bool = False


def _request(event: h11.Request) -> HttpRequest:
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers
    }
    return HttpRequest(event.method.decode("ascii"), event.target.decode("latin-1"), headers)


async def sniff(stream: trio.abc.Stream) -> Sniffed:
    """Read a request head from ``stream``; keep it for HTTP when it is a generateContent POST.

    Anything else (a WebSocket upgrade, a malformed head, a closed stream) comes back with
    ``request`` None and every byte read in ``data``, for the WebSocket server to handle as if
    nothing had been read.
    """
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    data = bytearray()
    while True:
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError:
            return Sniffed(bytes(data), None, None)
        if isinstance(event, h11.Request):
            request = _request(event)
            if request.method == "POST" and generate_route(request.target) is not None:
                return Sniffed(bytes(data), request, parser)
            return Sniffed(bytes(data), None, None)
        if event is not h11.NEED_DATA:
            return Sniffed(bytes(data), None, None)
        chunk = bytes(await stream.receive_some(_READ))
        data += chunk
        if not chunk:
            return Sniffed(bytes(data), None, None, ended=True)
        parser.receive_data(chunk)


class ReplayStream(trio.abc.Stream):
    """A stream that first gives back ``prefix`` (bytes read from ``stream`` already)."""

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        self.stream = stream
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            chunk, self._prefix = self._prefix[:size], self._prefix[size:]
            await trio.lowlevel.checkpoint()
            return chunk
        return bytes(await self.stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def serve_http(
    stream: trio.abc.Stream,
    sniffed: Sniffed,
    respond: Callable[[HttpRequest, bytes], Awaitable[Answer]],
) -> None:
    """Serve ``sniffed``'s request, then any further ones on the connection (HTTP keep-alive).

    Returns when the client closes, asks to close, sends something that is not a generateContent
    request, stays idle for ``IDLE_TIMEOUT`` seconds, or sends a body over ``MAX_BODY``.
    """
    parser = sniffed.parser
    request = sniffed.request
    if parser is None or request is None:
        raise ValueError("serve_http needs a sniffed generateContent request")
    try:
        await _serve(stream, parser, request, respond)
    except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return  # a client that breaks HTTP or goes away: nothing more to answer


async def _serve(
    stream: trio.abc.Stream,
    parser: h11.Connection,
    request: HttpRequest,
    respond: Callable[[HttpRequest, bytes], Awaitable[Answer]],
) -> None:
    while True:
        body = await _read_body(stream, parser)
        if body is None:
            await _send(stream, parser, 413, {"error": {"code": 413, "message": "too large"}}, ())
            return
        answer = await respond(request, body)
        if answer.delay:
            await trio.sleep(answer.delay)
        await _send(stream, parser, answer.status, answer.body, answer.headers)
        if parser.our_state is not h11.DONE or parser.their_state is not h11.DONE:
            return
        parser.start_next_cycle()
        following = None
        with trio.move_on_after(IDLE_TIMEOUT):
            following = await _next_request(stream, parser)
        if following is None:
            return
        request = following


async def _receive(stream: trio.abc.Stream, parser: h11.Connection) -> None:
    parser.receive_data(bytes(await stream.receive_some(_READ)))


async def _read_body(stream: trio.abc.Stream, parser: h11.Connection) -> bytes | None:
    """The request body, or None when it exceeds ``MAX_BODY``."""
    body = bytearray()
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            await _receive(stream, parser)
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        else:  # the client went away mid-request
            raise trio.BrokenResourceError("the client closed mid-request")


async def _next_request(stream: trio.abc.Stream, parser: h11.Connection) -> HttpRequest | None:
    """The next kept-alive request, or None (closed, or not a generateContent POST)."""
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            await _receive(stream, parser)
            continue
        if isinstance(event, h11.Request):
            request = _request(event)
            if request.method == "POST" and generate_route(request.target) is not None:
                return request
        return None


async def _send(
    stream: trio.abc.Stream,
    parser: h11.Connection,
    status: int,
    body: object,
    extra: tuple[tuple[str, str], ...],
) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        ("content-type", "application/json; charset=UTF-8"),
        ("content-length", str(len(payload))),
        *extra,
    ]
    if status == 413:
        headers.append(("connection", "close"))
    out = parser.send(h11.Response(status_code=status, headers=headers))
    out = (out or b"") + (parser.send(h11.Data(data=payload)) or b"")
    out += parser.send(h11.EndOfMessage()) or b""
    await stream.send_all(out)
