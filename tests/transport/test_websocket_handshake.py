"""The WebSocket upgrade's failures, against raw TCP servers that answer whatever a test needs."""

from __future__ import annotations

import base64
import functools
import hashlib
import logging

import pytest
import trio
import trio.testing
import trio_websocket
from trio_websocket import CloseReason
from wsproto.utilities import RemoteProtocolError

from livehandle._errors import ConnectFailed
from livehandle._transport import Endpoint, WebSocketTransport
from livehandle._transport.handshake import REJECTION_GRACE, UpgradeWatch
from livehandle._transport.library_log import _LOG_FILTER

KEY = "AIzaSy-handshake-test-key-0123456789"
TIMEOUT = 5  # seconds of real time; every test here finishes well within it
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_token(request: bytes) -> bytes:
    """The right Sec-WebSocket-Accept for ``request`` (RFC 6455 section 4.2.2)."""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + GUID).digest())
    raise AssertionError("no Sec-WebSocket-Key in the request")


async def raw_server(nursery: trio.Nursery, answer, *, keep_open: bool = False) -> int:
    """A TCP server that reads one request and writes ``answer`` (bytes, or a function of the
    request); it then closes, or with ``keep_open`` stays connected and silent.  Its port."""

    async def handler(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some()
            if not chunk:
                return
            request += chunk
        await stream.send_all(answer(request) if callable(answer) else answer)
        if keep_open:
            await trio.sleep_forever()
        await stream.aclose()

    serve = functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    listeners = await nursery.start(serve)
    return int(listeners[0].socket.getsockname()[1])


async def connect_failure(answer, *, keep_open: bool = False) -> ConnectFailed:
    """The ConnectFailed that connecting to a server giving ``answer`` raises, within 2 s."""
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await raw_server(nursery, answer, keep_open=keep_open)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            with trio.fail_after(2), pytest.raises(ConnectFailed) as caught:
                await WebSocketTransport().connect(endpoint, nursery)
            nursery.cancel_scope.cancel()
    assert KEY not in f"{caught.value} {caught.value!r} {caught.value.url}"
    assert caught.value.__context__ is None
    return caught.value


def switching(accept: bytes | None, *, extra: bytes = b"", upgrade: bytes = b"websocket"):
    def answer(request: bytes) -> bytes:
        token = accept_token(request) if accept is None else accept
        head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + upgrade
        return (
            head
            + b"\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            + token
            + extra
            + b"\r\n\r\n"
        )

    return answer


async def test_a_101_with_a_wrong_accept_token_says_so_plainly():
    failure = await connect_failure(switching(b"d3Jvbmc="), keep_open=True)

    assert "101 Switching Protocols" in str(failure)
    assert "Sec-WebSocket-Accept does not match the request's key" in str(failure)
    assert "role=CLIENT" not in str(failure)
    assert failure.status_code is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (switching(None, upgrade=b"h2c"), "without the header 'Upgrade: websocket'"),
        (switching(None, extra=b"\r\nSec-WebSocket-Protocol: chat"), "subprotocol"),
        (switching(None, extra=b"\r\nSec-WebSocket-Extensions: x-zip"), "extension"),
    ],
    ids=["upgrade", "subprotocol", "extension"],
)
async def test_a_101_the_client_cannot_accept_says_why(answer, expected):
    failure = await connect_failure(answer, keep_open=True)

    assert expected in str(failure)
    assert "role=CLIENT" not in str(failure)


async def test_a_rejection_delimited_by_the_close_keeps_status_and_scrubbed_body():
    body = f'{{"error": {{"code": 403, "message": "API key {KEY} is not valid"}}}}'.encode()
    failure = await connect_failure(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n" + body)

    assert failure.status_code == 403
    assert "rejected the WebSocket upgrade with HTTP 403" in str(failure)
    assert "API key *** is not valid" in str(failure)


async def test_a_rejection_cut_short_by_the_close_keeps_its_status_and_the_body_so_far():
    answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 500\r\n\r\nmissing credential"
    failure = await connect_failure(answer)

    assert failure.status_code == 401
    assert "missing credential" in str(failure)


async def test_a_non_http_answer_fails_at_once_and_shows_how_it_begins():
    failure = await connect_failure(f"SSH-2.0-OpenSSH_9.6 {KEY}\r\n".encode(), keep_open=True)

    assert "answer to the WebSocket upgrade is not HTTP" in str(failure)
    assert "it begins 'SSH-2.0-OpenSSH_9.6 ***..'" in str(failure)
    assert failure.status_code is None


async def test_a_malformed_http_answer_fails_at_once():
    failure = await connect_failure(b"HTTP/1.1 abc\r\n\r\n", keep_open=True)

    assert "answer to the WebSocket upgrade is not valid HTTP" in str(failure)


async def test_a_rejection_with_a_length_still_reports_status_and_body():
    body = b"quota exceeded"
    head = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: %d\r\n\r\n" % len(body)
    failure = await connect_failure(head + body, keep_open=True)

    assert failure.status_code == 429
    assert str(failure).endswith("HTTP 429: quota exceeded")


# -- the watch's memory -------------------------------------------------------------------------


async def test_the_watch_keeps_only_the_key_of_the_request_and_a_bounded_body():
    client, server = trio.testing.memory_stream_pair()
    watch = UpgradeWatch(client)
    request = b"GET /?key=SECRET HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: abc==\r\n\r\n"
    await watch.send_all(request)
    await server.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100000\r\n\r\n")
    await server.send_all(b"x" * 100_000)
    while not watch.failed.is_set():
        await watch.receive_some()

    assert watch._key == b"abc=="
    assert watch._request == b""  # the request (and its credential) is not kept
    assert len(watch._body) == 2400
    assert len(watch._answer) == 256


async def test_the_watch_notes_nothing_once_the_upgrade_is_over():
    client, server = trio.testing.memory_stream_pair()
    watch = UpgradeWatch(client)
    watch.upgrading = False
    await server.send_all(b"SSH-2.0 not http")

    assert await watch.receive_some() == b"SSH-2.0 not http"
    assert not watch.failed.is_set()


# -- trio-websocket's own log -------------------------------------------------------------------


def library_record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("trio-websocket", logging.DEBUG, __file__, 1, message, args, None)


def test_the_library_log_filter_hides_close_reasons_payloads_and_parser_complaints():
    closed = trio_websocket.ConnectionClosed(CloseReason(1007, f"API key {KEY} not valid"))
    records = [
        library_record("%s websocket closed %r", "client-1", closed),
        library_record("%s ping %r", "client-1", KEY.encode()),
        library_record("%s remote protocol error: %s", "client-1", RemoteProtocolError(KEY)),
    ]
    for record in records:
        assert _LOG_FILTER.filter(record)

    shown = [record.getMessage() for record in records]
    assert all(KEY not in text for text in shown)
    assert shown[0] == (
        "client-1 websocket closed ConnectionClosed<code=1007, name=INVALID_FRAME_PAYLOAD_DATA, "
        "reason=<hidden>>"
    )
    assert shown[1] == f"client-1 ping <{len(KEY)} bytes>"
    assert shown[2] == "client-1 remote protocol error: RemoteProtocolError(<hidden>)"


def test_the_library_log_filter_leaves_other_records_alone():
    record = library_record("%s received %d bytes", "client-1", 12)
    assert _LOG_FILTER.filter(record)
    assert record.getMessage() == "client-1 received 12 bytes"


async def test_every_connection_puts_the_filter_back_on_the_library_logger():
    library = logging.getLogger("trio-websocket")
    library.removeFilter(_LOG_FILTER)
    client, server = trio.testing.memory_stream_pair()

    async def accept(nursery: trio.Nursery) -> None:
        request = await trio_websocket.wrap_server_stream(nursery, server)
        await request.accept()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept, nursery)
        connect = WebSocketTransport().connect_stream
        with trio.fail_after(TIMEOUT):
            await connect(client, Endpoint.from_url("ws://h/").resolve(), nursery)
        assert library.filters.count(_LOG_FILTER) == 1
        nursery.cancel_scope.cancel()


async def test_a_rejection_whose_body_never_ends_is_reported_after_a_grace(autojump_clock):
    client, server = trio.testing.memory_stream_pair()
    endpoint = Endpoint.google_ai(KEY, base_url="ws://h").resolve()

    async def answer_and_stay() -> None:
        await server.receive_some()  # the request
        await server.send_all(b"HTTP/1.1 403 Forbidden\r\n\r\nno access, and more to come")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_and_stay)
        with pytest.raises(ConnectFailed) as caught:
            await WebSocketTransport().connect_stream(client, endpoint, nursery)
        nursery.cancel_scope.cancel()

    assert trio.current_time() == pytest.approx(REJECTION_GRACE)
    assert caught.value.status_code == 403
    assert str(caught.value).endswith("HTTP 403: no access, and more to come")
