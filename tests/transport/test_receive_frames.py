"""FastFrames cuts the server's common frames itself and agrees with wsproto on everything.

Differential: the same server bytes, split into reads at random places, go to a plain wsproto
client connection and to one behind :class:`FastFrames`; both must yield the same messages,
control events and close, in the same order.
"""

from __future__ import annotations

import os
import random
import struct

import pytest
import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from livehandle._transport import Endpoint, WebSocketTransport
from livehandle._transport.receive_frames import FAST_LIMIT, FastFrames


def open_pair() -> tuple[WSConnection, WSConnection]:
    """A wsproto client and server past the opening handshake."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="test.invalid", target="/live")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    return client, server


def frame(first: int, payload: bytes, *, length_bytes: int | None = None) -> bytes:
    """One raw server frame (unmasked), with its length in ``length_bytes`` extra bytes."""
    size = len(payload)
    if length_bytes is None:
        length_bytes = 0 if size < 126 else 2 if size < 1 << 16 else 8
    if length_bytes == 0:
        return bytes((first, size)) + payload
    if length_bytes == 2:
        return bytes((first, 126)) + struct.pack("!H", size) + payload
    return bytes((first, 127)) + struct.pack("!Q", size) + payload


def summary(events: list[Event]) -> list[tuple[object, ...]]:
    """Events with message parts joined: what a reader of whole messages sees."""
    out: list[tuple[object, ...]] = []
    parts: list[object] = []
    for event in events:
        if isinstance(event, Message):
            parts.append(event.data)
            if event.message_finished:
                kind = "text" if isinstance(event, TextMessage) else "bytes"
                joined = "".join(parts) if kind == "text" else b"".join(parts)  # type: ignore[arg-type]
                out.append((kind, joined))
                parts = []
        elif isinstance(event, Ping | Pong):
            out.append((type(event).__name__, bytes(event.payload)))
        elif isinstance(event, CloseConnection):
            out.append(("close", int(event.code), event.reason))
        else:
            out.append((type(event).__name__,))
    return out


def feed(connection: object, data: bytes, rng: random.Random) -> list[Event]:
    """Feed ``data`` in reads of random sizes, collecting events after each read."""
    events: list[Event] = []
    at = 0
    while at < len(data):
        size = rng.choice((1, 2, 3, 7, 64, 1500, 16384, 300_000))
        if connection.state not in (ConnectionState.CLOSED, ConnectionState.REMOTE_CLOSING):
            connection.receive_data(data[at : at + size])
        at += size
        events.extend(connection.events())
    return events


def both(data: bytes, seed: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    plain, _ = open_pair()
    fast_real, _ = open_pair()
    fast = FastFrames(fast_real)
    expected = summary(feed(plain, data, random.Random(seed)))
    got = summary(feed(fast, data, random.Random(seed)))
    return expected, got


def server_bytes(server: WSConnection, *events: Event) -> bytes:
    return b"".join(server.send(event) for event in events)


def mixed_stream() -> bytes:
    _, server = open_pair()
    chunk = '{"serverContent": {"modelTurn": {"parts": []}}}'
    return server_bytes(
        server,
        TextMessage(data=chunk),
        BytesMessage(data=os.urandom(300)),
        TextMessage(data="é" * 200),  # two-byte length, multi-byte UTF-8
        Ping(payload=b"p1"),
        TextMessage(data="frag-", message_finished=False),  # a fragmented message
        Ping(payload=b"inside"),  # a control frame between its fragments
        TextMessage(data="ment", message_finished=True),
        TextMessage(data="x" * 70_000),  # eight-byte length
        TextMessage(data="y" * (FAST_LIMIT + 10)),  # over the limit: wsproto's, in parts
        Pong(payload=b"q"),
        TextMessage(data=chunk),
    )


@pytest.mark.parametrize("seed", range(12))
def test_a_mixed_stream_gives_the_same_events_as_wsproto(seed):
    expected, got = both(mixed_stream(), seed)
    assert got == expected
    assert [kind for kind, *_ in got].count("text") == 6


@pytest.mark.parametrize(
    "tail",
    [
        frame(0x81, b"\xff\xfe"),  # invalid UTF-8: wsproto closes with 1007
        bytes((0x81, 0x82)) + b"abcd" + b"xy",  # masked by the server: 1002
        frame(0x81, b"short", length_bytes=2),  # length in more bytes than needed: 1002
        frame(0x91, b"rsv1"),  # an RSV bit without an extension: 1002
        frame(0x80, b"cont"),  # a continuation with no message: 1002
        frame(0x88, struct.pack("!H", 1000) + b"bye") + frame(0x81, b"after close"),
    ],
    ids=["bad-utf8", "masked", "long-length", "rsv", "stray-continuation", "after-close"],
)
@pytest.mark.parametrize("seed", range(3))
def test_what_wsproto_refuses_or_ends_is_left_to_wsproto(tail, seed):
    _, server = open_pair()
    data = server_bytes(server, TextMessage(data="first")) + tail
    expected, got = both(data, seed)
    assert got == expected
    assert got[0] == ("text", "first") and got[-1][0] == "close"


def test_bytes_wsproto_holds_when_installed_are_parsed_by_it_first():
    client, server = open_pair()
    data = server_bytes(server, TextMessage(data="a" * 300), TextMessage(data="b"))
    client.receive_data(data[:100])  # the reader read part of a frame before the install
    before = list(client.events())  # wsproto hands on the part of the payload it has
    assert before and not before[0].message_finished
    fast = FastFrames(client)
    fast.receive_data(data[100:150])
    fast.receive_data(data[150:])
    assert summary(before + list(fast.events())) == [("text", "a" * 300), ("text", "b")]


def test_install_needs_an_open_wsproto_connection():
    assert not FastFrames.install(object())
    closed, _ = open_pair()
    closed.send(CloseConnection(code=1000))

    class WS:
        _wsproto = closed

    assert not FastFrames.install(WS())  # closing: nothing to gain
    ws = WS()
    ws._wsproto, _ = open_pair()
    assert FastFrames.install(ws) and isinstance(ws._wsproto, FastFrames)
    assert not FastFrames.install(ws)  # once is enough


async def test_a_real_connection_reads_through_fast_frames(nursery):
    async def handler(request):
        ws = await request.accept()
        await ws.send_message("text")
        await ws.send_message(b"\x00binary")
        await ws.ping(b"ping")
        await ws.send_message("z" * (FAST_LIMIT + 1))
        await ws.get_message()

    with trio.fail_after(10):
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        endpoint = Endpoint.from_url(f"ws://127.0.0.1:{server.port}/live")
        connection = await WebSocketTransport().connect(endpoint, nursery)
        assert isinstance(connection._ws._wsproto, FastFrames)
        assert await connection.receive() == "text"
        assert await connection.receive() == b"\x00binary"
        assert await connection.receive() == "z" * (FAST_LIMIT + 1)
        await connection.aclose()
