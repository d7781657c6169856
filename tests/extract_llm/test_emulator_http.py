"""The emulator's plain HTTP next to its WebSocket: sniffing, keep-alive, odd clients."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from livehandle import ExtractorRequestFailed, TranscriptTurn
from livehandle.testing import Extract, _rest as rest
from tests.extract_llm.helpers import KEY, WINDOW, emulated, extractor

PATH = "/v1beta/models/m:generateContent"
BODY = json.dumps({"contents": [{"parts": [{"text": "hello"}]}]}).encode()


def _post(body: bytes = BODY, *, path: str = PATH, close: bool = False) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\nx-goog-api-key: {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    )
    if close:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + body


async def _read_all(stream: trio.SocketStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def _connect(url: str) -> trio.SocketStream:
    host, _, port = url.removeprefix("ws://").rpartition(":")
    return await trio.open_tcp_stream(host, int(port))


async def test_keep_alive_serves_several_requests_then_closes_on_request() -> None:
    async with emulated(Extract(reply={"a": 1})) as (emulator, _):
        stream = await _connect(emulator.url)
        await stream.send_all(_post() + _post(close=True))
        data = await _read_all(stream)  # the server closes after the second answer
        await stream.aclose()
    assert data.count(b"HTTP/1.1 200 ") == 2
    assert [request.status for request in emulator.generate_requests] == [200, 200]


async def test_a_second_request_that_is_not_generate_content_closes_the_connection() -> None:
    async with emulated(Extract(reply={"a": 1})) as (emulator, _):
        stream = await _connect(emulator.url)
        await stream.send_all(_post() + b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        data = await _read_all(stream)
        await stream.aclose()
    assert data.count(b"HTTP/1.1 ") == 1
    assert len(emulator.generate_requests) == 1


async def test_a_body_over_the_limit_is_refused_with_413(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest, "MAX_BODY", 10)
    async with emulated(Extract(reply={"a": 1})) as (emulator, _):
        stream = await _connect(emulator.url)
        await stream.send_all(_post())
        data = await _read_all(stream)
        await stream.aclose()
    assert data.startswith(b"HTTP/1.1 413 ")
    assert emulator.generate_requests == []


@pytest.mark.parametrize(
    "sent",
    [
        _post()[: len(_post()) - 5],  # the client goes away mid-body
        b"\x16\x03\x01garbage that is no HTTP\r\n\r\n",  # not HTTP at all
        b"",  # connects and closes
        b"GET " + PATH.encode() + b" HTTP/1.1\r\nhost: x\r\n\r\n",  # a GET: the WebSocket server's
    ],
)
async def test_odd_clients_do_not_disturb_the_emulator(sent: bytes) -> None:
    async with emulated(Extract(reply={"a": 1})) as (emulator, endpoint):
        stream = await _connect(emulator.url)
        await stream.send_all(sent)
        await stream.send_eof()
        await _read_all(stream)
        await stream.aclose()
        llm = extractor(endpoint, schema=None)
        assert await llm.extract(WINDOW) == {"a": 1}  # still serving
        await llm.aclose()
    assert len(emulator.generate_requests) == 1


async def test_replay_stream_gives_back_the_prefix_first() -> None:
    left, right = trio.testing.memory_stream_pair()
    replay = rest.ReplayStream(right, b"abcdef")
    assert await replay.receive_some(4) == b"abcd"
    assert await replay.receive_some() == b"ef"
    await left.send_all(b"gh")
    assert await replay.receive_some() == b"gh"
    await replay.wait_send_all_might_not_block()
    await replay.send_all(b"ij")
    assert await left.receive_some() == b"ij"
    await replay.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await right.receive_some()


async def test_serve_http_needs_a_sniffed_request() -> None:
    left, _ = trio.testing.memory_stream_pair()
    with pytest.raises(ValueError, match="sniffed"):
        await rest.serve_http(left, rest.Sniffed(b"", None, None), None)  # type: ignore[arg-type]


async def test_a_vertex_token_callable_returning_nothing_is_a_typed_error() -> None:
    from livehandle import Endpoint

    llm = extractor(Endpoint.vertex(project="p", location="l", token=lambda: ""))
    with pytest.raises(ExtractorRequestFailed) as caught:
        await llm.extract([TranscriptTurn(1, "hi", "")])
    assert caught.value.kind == "config"
    assert "empty token" in str(caught.value)
