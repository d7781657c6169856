"""Findings of the hostile review of issue 13 (wire fidelity, strict emulator, secrets).

Each test asserts the behaviour the issue (or the docs) promise and fails on today's code; it is
marked ``xfail(strict=True)`` until the lead fixes it, so a fix shows up as an XPASS to unmark.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from livehandle import ConnectFailed, Endpoint, LiveConfig, open_live_session
from livehandle._errors import SessionTimeout
from livehandle._transport import MemoryConnection, MemoryTransport
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_server, encode_client, encode_server
from livehandle.lowlevel import WebSocketTransport
from livehandle.testing import LiveEmulator
from tests.security.exposure import Exposure
from tests.security.servers import socket_server
from tests.security.test_canary import run
from tests.testing.helpers import MODEL, connect, user_text
from tests.testing.test_emulator_strict import first_reply

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

CANARY = "CANARY-r13"
KEY = f"AIzaSy{CANARY}-key-0123456789abcdef"


def memory_server(
    script: Callable[[MemoryConnection], Awaitable[None]],
) -> MemoryTransport:
    """A fake server over an in-memory pair: answers the setup, then plays ``script``."""

    async def serve(end: MemoryConnection) -> None:
        await end.receive()  # the setup
        await end.send(encode_server(m.SetupComplete()).encode())
        await script(end)

    return MemoryTransport(serve, capacity=64)


async def scan(
    endpoint: Endpoint,
    script: Callable[[MemoryConnection], Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> Exposure:
    """Run a session against ``script`` and collect every user-visible string (DEBUG logs too)."""
    caplog.set_level(logging.DEBUG, logger="livehandle")
    exposure = Exposure()
    await run("close_1007", endpoint, memory_server(script), exposure)
    exposure.add_records(caplog.records)
    return exposure


# =============================================================================================
# Secrets (item 5)
# =============================================================================================


async def test_a_json_escaped_echo_of_the_key_is_scrubbed_too(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    # Google's JSON writers escape characters as \uXXXX (e.g. '=' as \u003d); any escaped
    # character inside the echo defeats the substring search on the frame.
    escaped = "\\u0041" + KEY[1:]  # "A" of "AIza" written as \u0041: the same JSON string

    async def script(end: MemoryConnection) -> None:
        text = '{"serverContent":{"outputTranscription":{"text":"key ' + escaped + '"}}}'
        await end.send(text.encode())
        unknown = '{"serverContent":{"' + escaped + '":1,"turnComplete":true}}'
        await end.send(unknown.encode())
        await end.aclose(1007, "API key not valid.")

    exposure = await scan(Endpoint.google_ai(KEY, base_url="ws://r13.invalid"), script, caplog)
    exposure.assert_free_of(CANARY)


async def test_an_echo_of_the_ephemeral_token_id_alone_is_scrubbed(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    token_id = f"{CANARY}-token-51c2e7"

    async def script(end: MemoryConnection) -> None:
        await end.aclose(1008, f"Token {token_id} has expired.")

    endpoint = Endpoint.ephemeral_token(f"auth_tokens/{token_id}", base_url="ws://r13.invalid")
    exposure = await scan(endpoint, script, caplog)
    exposure.assert_free_of(CANARY)


async def test_a_shortened_echo_of_the_key_inside_a_reason_is_scrubbed(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    async def script(end: MemoryConnection) -> None:
        await end.aclose(1007, f"API key {KEY[:20]}... is not valid. Please pass a valid key.")

    exposure = await scan(Endpoint.google_ai(KEY, base_url="ws://r13.invalid"), script, caplog)
    exposure.assert_free_of(CANARY)


def test_a_base64_echo_of_the_key_is_scrubbed() -> None:
    resolved = Endpoint.google_ai(KEY).resolve()
    echoed = base64.b64encode(KEY.encode()).decode()
    shown = resolved.scrub(f"credential {echoed} rejected")
    assert echoed not in shown


async def test_a_key_echoed_across_two_frames_does_not_show_in_the_transcript(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    half = len(KEY) // 2

    async def script(end: MemoryConnection) -> None:
        for piece in (KEY[:half], KEY[half:]):
            content = m.ServerContent(output_transcription=m.Transcription(text=piece))
            await end.send(encode_server(content).encode())
        await end.send(encode_server(m.ServerContent(turn_complete=True)).encode())
        await end.aclose(1007, "API key not valid.")

    exposure = await scan(Endpoint.google_ai(KEY, base_url="ws://r13.invalid"), script, caplog)
    assert not [where for where, text in exposure.texts if KEY in text]


@pytest.mark.parametrize(
    "name",
    ["access_key", "secret_key", "private_key", "subscription-key", "auth_key", "sessionKey"],
)
def test_credential_like_query_names_ending_in_key_are_hidden(name: str) -> None:
    endpoint = Endpoint.from_url(f"ws://proxy.invalid/live?{name}={CANARY}")
    assert CANARY not in repr(endpoint)
    assert CANARY not in endpoint.redacted_url


def test_a_token_in_the_url_fragment_is_not_shown() -> None:
    endpoint = Endpoint.from_url(f"ws://proxy.invalid/live#access_token={CANARY}")
    assert CANARY not in repr(endpoint)
    assert CANARY not in endpoint.redacted_url


# =============================================================================================
# Item 6: closes before the upgrade, and timeouts
# =============================================================================================


async def _raw_http_server(answer: bytes, nursery: trio.Nursery, *, keep_open: bool = False) -> int:
    """A TCP server that reads one HTTP request, writes ``answer`` and closes; its port."""

    async def handler(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some()
            if not chunk:
                return
            request += chunk
        await stream.send_all(answer)
        if keep_open:
            await trio.sleep_forever()
        await stream.aclose()

    serve = functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    listeners = await nursery.start(serve)
    return int(listeners[0].socket.getsockname()[1])


async def test_a_rejection_delimited_by_the_close_keeps_its_status() -> None:
    body = b'{"error": {"code": 403, "message": "The caller does not have permission"}}'
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
    answer += b"Connection: close\r\n\r\n" + body
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            port = await _raw_http_server(answer, nursery)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            with pytest.raises(ConnectFailed) as caught:
                await WebSocketTransport().connect(endpoint, nursery)
            nursery.cancel_scope.cancel()
    assert caught.value.status_code == 403
    assert "does not have permission" in str(caught.value)


async def test_a_non_http_answer_to_the_upgrade_fails_at_once() -> None:
    # E.g. ws:// pointed at an SSH or other non-HTTP port; the session would wait the whole
    # connect_timeout and then say "timed out ... waiting for the connection".
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            port = await _raw_http_server(b"SSH-2.0-OpenSSH_9.6\r\n", nursery, keep_open=True)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            failure: ConnectFailed | None = None
            with trio.move_on_after(2) as waited:
                try:
                    await WebSocketTransport().connect(endpoint, nursery)
                except ConnectFailed as exc:
                    failure = exc
            nursery.cancel_scope.cancel()
    assert not waited.cancelled_caught, "still waiting for the upgrade after 2 s"
    assert failure is not None


async def test_a_server_that_never_answers_times_out_with_the_documented_stage() -> None:
    config = LiveConfig(response_modality="TEXT", connect_timeout=0.3)

    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            serve = functools.partial(trio.serve_tcp, silent, 0, host="127.0.0.1")
            listeners = await nursery.start(serve)
            port = listeners[0].socket.getsockname()[1]
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            with pytest.raises(SessionTimeout) as caught:
                async with open_live_session(config, endpoint=endpoint):
                    pass
            nursery.cancel_scope.cancel()
    assert "timed out after 0.3 s waiting for the connection" in str(caught.value)
    assert caught.value.stage == "connect"


# =============================================================================================
# Item 4: the strict emulator
# =============================================================================================


async def test_thinking_level_on_a_model_without_it_is_refused() -> None:
    config = LiveConfig(model=MODEL.removeprefix("models/"), thinking_level="low")
    body = json.loads(encode_client(config.to_setup(Endpoint.google_ai(KEY))))["setup"]
    emu, kind = await first_reply(body)
    assert kind is None
    conn = emu.connections[0]
    assert (conn.close_code, conn.close_reason) == (
        1007,
        "Thinking level is not supported for this model.",
    )


async def test_a_replicated_voice_gets_a_consent_signature_in_setup_complete() -> None:
    config = LiveConfig(model=MODEL.removeprefix("models/"), voice_sample=b"RIFF" + bytes(64))
    body = json.loads(encode_client(config.to_setup(Endpoint.google_ai(KEY))))["setup"]
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:
        conn = await emu.memory_transport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(json.dumps({"setup": body}))
        first: Any = json.loads(await conn.receive())
        await conn.aclose()
    signature = first["setupComplete"].get("voiceConsentSignature")
    assert isinstance(signature, dict) and signature.get("signature")


async def test_an_unknown_name_in_a_later_client_message_closes_1007(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, connect(emu) as (session, _):
        turn = user_text("hello")
        await session.send(m.ClientContent(turns=turn.turns, turn_complete=True, extra={"x": 1}))
        with trio.move_on_after(5):  # Trio time: the autojump clock skips the wait
            await emu.connections[0].wait_closed()
    conn = emu.connections[0]
    assert conn.close_code == 1007
    assert "Unknown name \"x\" at 'client_content'" in (conn.close_reason or "")


async def test_the_close_reason_echo_is_not_in_any_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The canary test sets DEBUG on "livehandle" only; a user who turns DEBUG on for the root
    # logger also sees the logs of the WebSocket library the default transport is built on.
    caplog.set_level(logging.DEBUG)
    secrets = Endpoint.google_ai(KEY, base_url="ws://127.0.0.1:1").resolve().secrets
    exposure = Exposure()
    with trio.fail_after(10):
        async with socket_server("close_1007", secrets) as port:
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            await run("close_1007", endpoint, WebSocketTransport(), exposure)
    # The fake server is trio-websocket too: leave out its own ("server-N ...") records.
    exposure.add_records(r for r in caplog.records if not r.getMessage().startswith("server-"))
    exposure.assert_free_of(CANARY)


# =============================================================================================
# Items 1-3: the codec
# =============================================================================================


@pytest.mark.usefixtures("fresh_unknown_names")
def test_an_unknown_top_level_member_beside_a_kind_is_kept_or_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle.wire")
    frame = '{"serverContent":{"turnComplete":true},"r13TopLevelField":{"a":1}}'
    message = decode_server(frame)
    assert isinstance(message, m.ServerContent) and message.turn_complete
    kept = "r13TopLevelField" in message.extra
    logged = any("r13TopLevelField" in r.getMessage() for r in caplog.records)
    assert kept and logged


# =============================================================================================
# LiveConfig's new options
# =============================================================================================


def test_an_empty_voice_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="voice_sample"):
        LiveConfig(voice_sample=b"")


def test_interim_transcript_timestamps_without_a_transcription_is_refused() -> None:
    with pytest.raises(ValueError, match="interim_transcript_timestamps"):
        LiveConfig(
            interim_transcript_timestamps=True,
            input_transcription=False,
            output_transcription=False,
        )
