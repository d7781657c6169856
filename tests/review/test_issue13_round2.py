"""Findings of the second hostile review of issue 13 (after the first review's fixes).

Each ``xfail(strict=True)`` test asserts what the issue, the docs or the wire reference promise and
fails on today's code; a fix shows up as an XPASS, and the mark comes off.  The unmarked tests pin
down what the review checked and found sound (the upgrade watch against unusual but valid
answers, the trio-websocket log filter, the scrubber's speed on adversarial input), so that a
later change cannot quietly break it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.lowlevel
import trio_websocket

from livehandle._errors import SessionError
from livehandle._events import SessionEvent
from livehandle._transport import Endpoint, WebSocketTransport
from livehandle._transport.library_log import _LOG_FILTER, hide_server_text_in_library_log
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_server, encode_client, encode_server
from livehandle.testing import LiveEmulator
from tests.testing.helpers import connect, until, user_text

if TYPE_CHECKING:
    from collections.abc import Callable

KEY = "AIzaSy-round2-review-key-0123456789ab"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 5  # seconds of real time for the socket tests; each one takes milliseconds


# -- the scrubber corrupts JSON frames -----------------------------------------------------------


def _model_text_frame(text: str) -> str:
    """A serverContent frame carrying ``text``, JSON-encoded the way a server writes it."""
    return json.dumps({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}})


def test_scrub_frame_keeps_a_frame_valid_json_when_the_password_ends_in_a_backslash() -> None:
    # A user:password@ URL; the password "Sup3rS3cret\" is a credential-like secret (non-alpha,
    # 12 characters), so it is scrubbed from frames.
    resolved = Endpoint.from_url("ws://alice:Sup3rS3cret%5C@example.com/").resolve()
    assert "Sup3rS3cret\\" in resolved.secrets
    frame = _model_text_frame("the password is Sup3rS3cret\\")

    scrubbed = resolved.scrub_frame(frame)

    assert isinstance(scrubbed, str)
    text = json.loads(scrubbed)["serverContent"]["modelTurn"]["parts"][0]["text"]
    assert "Sup3rS3cret" not in text


def test_scrub_frame_keeps_a_frame_valid_json_when_a_secret_starts_with_a_slash() -> None:
    resolved = Endpoint.from_url("ws://alice:%2Fs3cretpass1@example.com/").resolve()
    assert "/s3cretpass1" in resolved.secrets
    # JSON allows (and some encoders write) "\/" for "/": the scrubber itself looks for it.
    frame = '{"serverContent":{"modelTurn":{"parts":[{"text":"pw \\/s3cretpass1"}]}}}'

    scrubbed = resolved.scrub_frame(frame)

    assert isinstance(scrubbed, str)
    text = json.loads(scrubbed)["serverContent"]["modelTurn"]["parts"][0]["text"]
    assert "s3cretpass1" not in text


# -- extra: duplicate keys and text JSON cannot carry ---------------------------------------------


def test_extra_cannot_smuggle_a_second_value_for_a_usage_count() -> None:
    usage = m.UsageMetadata(response_token_count=3, extra={"candidatesTokenCount": 99})
    message = m.EmptyServerMessage(usage)

    try:
        frame = encode_server(message)
    except (ValueError, SessionError):
        return  # refusing the ambiguous message is a fix too
    decoded = decode_server(frame)
    assert decoded.usage_metadata is not None
    assert decoded.usage_metadata.response_token_count == 3


@pytest.mark.parametrize(
    "message",
    [
        m.ClientContent(
            turns=(m.Content(parts=(m.Part(text="broken \ud800 text"),), role="user"),),
            turn_complete=True,
        ),
        m.ClientContent(turn_complete=True, extra={"name\udfff": 1}),
    ],
    ids=["text", "extra-name"],
)
def test_a_client_frame_is_valid_utf8_json_or_a_protocol_error(message: Any) -> None:
    try:
        frame = encode_client(message)
    except SessionError:
        return
    frame.encode("utf-8")  # what every WebSocket text frame must be


async def test_a_lone_surrogate_in_sent_text_is_refused_at_send_and_the_session_survives() -> None:
    with trio.fail_after(TIMEOUT):
        async with LiveEmulator().running() as emu, connect(emu) as (session, events):
            with pytest.raises((ValueError, SessionError)):
                await session.send(user_text("broken \ud800 text"))
            await session.send(user_text("still here"))  # the session goes on
            await until(events, SessionEvent.TurnComplete)


# -- the emulator accepts what the real backend refuses (wire-protocol.md section 8) ------------


def _vertex(url: str) -> Endpoint:
    return Endpoint.vertex(project="p", location="us-central1", token=lambda: "tok", base_url=url)


def _google(url: str) -> Endpoint:
    return Endpoint.from_url(url)


TEXT_SETUP = {"generationConfig": {"responseModalities": ["TEXT"]}}
HELLO = {
    "clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": True}
}


async def _close_code_after(
    endpoint_for: Callable[[str], Endpoint], setup: dict[str, Any], message: dict[str, Any] | None
) -> int | None:
    """Send ``setup``, then ``message`` and a user turn; the emulator's close code (None: open)."""
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:
        endpoint = endpoint_for(emu.url)
        conn = await emu.memory_transport().connect(endpoint, nursery)
        setup = {**setup, "model": endpoint.model_name("gemini-3.8-live")}
        refused = False
        with trio.fail_after(TIMEOUT):
            try:
                await conn.send(json.dumps({"setup": setup}))
                await conn.receive()  # setupComplete, or the refusal
                if message is not None:
                    await conn.send(json.dumps(message))
                await conn.send(json.dumps(HELLO))
                await conn.receive()  # the reply: the emulator took both messages
            except SessionError:
                refused = True
            await conn.aclose()
            record = emu.connections[0]
            await record.wait_closed()  # the emulator records the close code as it ends
        return record.close_code if refused else None


async def test_the_emulator_answers_a_plain_turn_on_both_backends() -> None:
    # The probe itself: a correct conversation is not closed (so the refusals below are real).
    assert await _close_code_after(_google, TEXT_SETUP, None) is None
    assert await _close_code_after(_vertex, TEXT_SETUP, None) is None


async def test_the_vertex_emulator_refuses_will_continue_in_a_function_response() -> None:
    response = {"id": "c1", "name": "f", "response": {"status": "running"}, "willContinue": True}
    message = {"toolResponse": {"functionResponses": [response]}}
    assert await _close_code_after(_vertex, TEXT_SETUP, message) == 1007


async def test_the_google_ai_emulator_refuses_explicit_vad_signal() -> None:
    setup = {**TEXT_SETUP, "explicitVadSignal": True}
    assert await _close_code_after(_google, setup, None) == 1007


PCM = {"mimeType": "audio/pcm;rate=16000", "data": "AAAA"}
PNG = {"mimeType": "image/png", "data": "AAAA"}


@pytest.mark.parametrize(
    "message",
    [
        {
            "realtimeInput": {
                "audio": {"mimeType": "audio/pcm;rate=16000", "data": "AAAA", "displayName": "mic"}
            }
        },
        {
            "toolResponse": {
                "functionResponses": [
                    {
                        "id": "c1",
                        "name": "f",
                        "response": {},
                        "parts": [
                            {
                                "inlineData": {
                                    "mimeType": "image/png",
                                    "data": "AAAA",
                                    "displayName": "a.png",
                                }
                            }
                        ],
                    }
                ]
            }
        },
    ],
    ids=["realtime-audio", "function-response-part"],
)
async def test_the_google_ai_emulator_refuses_a_blob_display_name(message: dict[str, Any]) -> None:
    assert await _close_code_after(_google, TEXT_SETUP, message) == 1007


# -- the upgrade watch takes every valid answer trio-websocket takes ------------------------------


def _accept(request: bytes) -> bytes:
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + GUID).digest())
    raise AssertionError("no Sec-WebSocket-Key in the request")


def _head(request: bytes, *, version: bytes = b"HTTP/1.1", extra: bytes = b"") -> bytes:
    return (
        version
        + b" 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + b"Sec-WebSocket-Accept: "
        + _accept(request)
        + extra
        + b"\r\n\r\n"
    )


def _frame(text: bytes) -> bytes:
    assert len(text) < 126
    return bytes([0x81, len(text)]) + text


FIRST = b'{"setupComplete":{}}'


async def _pipelined(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(_head(request) + _frame(FIRST))  # one TCP write: 101 and first frame


async def _http10(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(_head(request, version=b"HTTP/1.0") + _frame(FIRST))


async def _byte_by_byte(stream: trio.SocketStream, request: bytes) -> None:
    for byte in _head(request) + _frame(FIRST):
        await stream.send_all(bytes([byte]))
        await trio.lowlevel.checkpoint()


async def _large_headers(stream: trio.SocketStream, request: bytes) -> None:
    cookie = b"\r\nSet-Cookie: session=" + b"x" * 12_000
    await stream.send_all(_head(request, extra=cookie) + _frame(FIRST))


async def _extra_headers(stream: trio.SocketStream, request: bytes) -> None:
    extra = b"\r\nServer: ESF\r\nDate: Mon, 07 Dec 2026 05:00:00 GMT\r\nX-Frame-Options: SAMEORIGIN"
    await stream.send_all(_head(request, extra=extra) + _frame(FIRST))


async def _bare_newlines(stream: trio.SocketStream, request: bytes) -> None:
    await stream.send_all(_head(request).replace(b"\r\n", b"\n") + _frame(FIRST))


async def _closes_after_its_frames(stream: trio.SocketStream, request: bytes) -> None:
    close = bytes([0x88, 2, 0x03, 0xE8])  # close frame, 1000
    await stream.send_all(_head(request) + _frame(FIRST) + close)
    await stream.aclose()


@pytest.mark.parametrize(
    "plan",
    [
        _pipelined,
        _http10,
        _byte_by_byte,
        _large_headers,
        _extra_headers,
        _bare_newlines,
        _closes_after_its_frames,
    ],
)
async def test_the_upgrade_watch_accepts_every_valid_101(plan: Any) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some()
            if not chunk:
                return
            request += chunk
        await plan(stream, request)
        if plan is not _closes_after_its_frames:
            await trio.sleep_forever()

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            serve = functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
            listeners = await nursery.start(serve)
            port = listeners[0].socket.getsockname()[1]
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            connection = await WebSocketTransport().connect(endpoint, nursery)
            # The first frame, even when it came in the same segment as the 101, is delivered.
            assert await connection.receive() == FIRST.decode()
            await connection.aclose()
            nursery.cancel_scope.cancel()


# -- the trio-websocket log filter ----------------------------------------------------------------


def test_the_log_filter_is_installed_once_however_often_it_is_asked() -> None:
    library = logging.getLogger("trio-websocket")
    for _ in range(50):
        hide_server_text_in_library_log()
    assert library.filters.count(_LOG_FILTER) == 1


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("mapping %(a)s", ({"a": b"payload"},)),  # a single mapping: logging keeps it as args
        ("no args", ()),
        ("%s and %s", (b"one",)),  # too few arguments: logging reports it, the filter must not
        ("%d bytes", ("not a number",)),
    ],
    ids=["dict", "none", "too-few", "wrong-type"],
)
def test_the_log_filter_never_raises_on_unusual_records(msg: str, args: tuple[Any, ...]) -> None:
    hide_server_text_in_library_log()
    record = logging.LogRecord("trio-websocket", logging.DEBUG, __file__, 1, msg, args, None)
    assert _LOG_FILTER.filter(record) is True


def test_the_log_filter_hides_the_close_reason_and_payloads() -> None:
    reason = trio_websocket.CloseReason(1007, f"API key {KEY} not valid")
    closed = trio_websocket.ConnectionClosed(reason)
    for msg, args in [
        ("%s websocket closed %r", ("client-0", closed)),
        ("%s ping %r", ("client-0", KEY.encode())),
        ("%s pong%s%r", ("client-0", "", bytearray(KEY.encode()))),
    ]:
        record = logging.LogRecord("trio-websocket", logging.DEBUG, __file__, 1, msg, args, None)
        assert _LOG_FILTER.filter(record)
        assert KEY[:8] not in record.getMessage()
