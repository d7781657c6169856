"""WebsocketsTransport end to end: full sessions on the emulator, TLS, and the upgrade's failures.

The emulator serves a real socket on 127.0.0.1 and, for the mock-clock tests, WebSocket bytes
over in-memory streams (its own connection handler on one end of a memory stream pair).
"""

from __future__ import annotations

import ssl

import attrs
import pytest
import trio
import trio.testing
import trustme

from tests.transport.websockets_required import require_websockets

require_websockets()

from livehandle import LiveEvent, open_live_session  # noqa: E402
from livehandle._config.live import LiveConfig  # noqa: E402
from livehandle._errors import ConnectFailed  # noqa: E402
from livehandle._transport import Endpoint, WebsocketsConnection  # noqa: E402
from livehandle._transport.handshake import REJECTION_GRACE  # noqa: E402
from livehandle.lowlevel import WebsocketsTransport  # noqa: E402
from livehandle.testing import LiveEmulator, audio  # noqa: E402
from tests.testing.helpers import until  # noqa: E402
from tests.transport.test_websocket import (  # noqa: E402
    KEY as WS_KEY,
    TIMEOUT,
    echo,
    start_server,
)
from tests.transport.test_websocket_handshake import KEY, raw_server, switching  # noqa: E402

TEXT = LiveConfig(response_modality="TEXT")
VOICE = LiveConfig()


@attrs.frozen
class EmulatorOverMemoryStreams:
    """A transport: WebsocketsTransport over a memory stream pair whose other end the emulator
    serves with its WebSocket connection handler (as it serves a socket), in its own nursery."""

    emulator: LiveEmulator
    inner: WebsocketsTransport = attrs.field(factory=WebsocketsTransport)

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> WebsocketsConnection:
        client, server = trio.testing.memory_stream_pair()
        assert self.emulator._nursery is not None
        self.emulator._nursery.start_soon(self.emulator._handle_stream, server)
        return await self.inner.connect_stream(client, endpoint.resolve(), nursery)


# -- full sessions ------------------------------------------------------------------------------


async def test_a_text_turn_over_a_real_socket() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            LiveEmulator().running() as emu,
            open_live_session(TEXT, endpoint=emu.url, transport=WebsocketsTransport()) as handle,
        ):
            events = handle.events()
            await handle.send_text("hello")
            seen = await until(events, LiveEvent.TurnComplete)
    assert LiveEvent.TextComplete("You said: hello") in seen
    assert [(t.user, t.model) for t in handle.transcript] == [("hello", "You said: hello")]
    assert emu.connections[0].close_code == 1000


async def test_a_voice_turn_over_a_real_socket_with_a_key() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            LiveEmulator(api_key=KEY).running() as emu,
            open_live_session(
                VOICE, api_key=KEY, endpoint=emu.url, transport=WebsocketsTransport()
            ) as handle,
        ):
            emu.queue_transcript("What time is it")
            events = handle.events()
            pcm = audio.synth_voice(900, sample_rate=16000) + audio.silence(1000)
            for chunk in audio.chunked(pcm, 100, sample_rate=16000):
                await handle.send_audio(chunk)
            seen = await until(events, LiveEvent.TurnComplete)
    model_audio = b"".join(e.data for e in seen if isinstance(e, LiveEvent.Audio))
    assert audio.duration_ms(model_audio, sample_rate=24000) > 500
    assert LiveEvent.OutputTranscript("You said: What time is it", is_final=True) in seen
    assert emu.connections[0].headers["x-goog-api-key"] == KEY


async def test_a_turn_in_memory_on_a_mock_clock(autojump_clock: trio.testing.MockClock) -> None:
    emulator = LiveEmulator()
    async with emulator.in_memory() as emu:
        transport = EmulatorOverMemoryStreams(emu)
        async with open_live_session(TEXT, endpoint=emu.url, transport=transport) as handle:
            events = handle.events()
            await handle.send_text("one")
            first = await until(events, LiveEvent.TurnComplete)
            await handle.send_text("two")
            second = await until(events, LiveEvent.TurnComplete)
    assert LiveEvent.TextComplete("You said: one") in first
    assert LiveEvent.TextComplete("You said: two") in second
    assert len(emu.connections) == 1


async def test_an_unknown_path_is_a_connect_failed_with_its_status() -> None:
    with trio.fail_after(TIMEOUT):
        async with LiveEmulator().running() as emu, trio.open_nursery() as nursery:
            with pytest.raises(ConnectFailed) as info:
                await WebsocketsTransport().connect(Endpoint.from_url(emu.url + "/nope"), nursery)
            nursery.cancel_scope.cancel()
    assert info.value.status_code == 404


# -- TLS ----------------------------------------------------------------------------------------


async def test_wss_uses_the_endpoints_ssl_context(nursery) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo, server_context)
        endpoint = Endpoint.from_url(f"wss://127.0.0.1:{port}/live", ssl_context=client_context)
        connection = await WebsocketsTransport().connect(endpoint, nursery)

        await connection.send("over tls")
        assert await connection.receive() == "over tls"
        await connection.aclose()
    assert connection.close_code == 1000


async def test_an_untrusted_certificate_is_a_connect_failed(nursery) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_context)

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo, server_context)
        url = f"wss://127.0.0.1:{port}"
        endpoint = Endpoint.google_ai(WS_KEY, key_in_query=True, base_url=url)

        with pytest.raises(ConnectFailed, match="TLS handshake") as info:
            await WebsocketsTransport().connect(endpoint, nursery)

    assert "certificate" in str(info.value)
    assert WS_KEY not in str(info.value)


# -- the upgrade's failures (the answers of tests/transport/test_websocket_handshake.py) --------


async def connect_failure(answer, *, keep_open: bool = False) -> ConnectFailed:
    """The ConnectFailed that connecting to a server giving ``answer`` raises, within 2 s."""
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await raw_server(nursery, answer, keep_open=keep_open)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            with trio.fail_after(2), pytest.raises(ConnectFailed) as caught:
                await WebsocketsTransport().connect(endpoint, nursery)
            nursery.cancel_scope.cancel()
    assert KEY not in f"{caught.value} {caught.value!r} {caught.value.url}"
    assert caught.value.__context__ is None
    return caught.value


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (switching(b"d3Jvbmc="), "Sec-WebSocket-Accept does not match the request's key"),
        (switching(None, upgrade=b"h2c"), "without the header 'Upgrade: websocket'"),
        (switching(None, extra=b"\r\nSec-WebSocket-Protocol: chat"), "subprotocol"),
        (switching(None, extra=b"\r\nSec-WebSocket-Extensions: x-zip"), "extension"),
    ],
    ids=["accept", "upgrade", "subprotocol", "extension"],
)
async def test_a_101_the_client_cannot_accept_says_why(answer, expected) -> None:
    failure = await connect_failure(answer, keep_open=True)

    assert "101 Switching Protocols" in str(failure)
    assert expected in str(failure)
    assert failure.status_code is None


async def test_a_rejection_delimited_by_the_close_keeps_status_and_scrubbed_body() -> None:
    body = f'{{"error": {{"code": 403, "message": "API key {KEY} is not valid"}}}}'.encode()
    failure = await connect_failure(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n" + body)

    assert failure.status_code == 403
    assert "rejected the WebSocket upgrade with HTTP 403" in str(failure)
    assert "API key *** is not valid" in str(failure)


async def test_a_rejection_cut_short_by_the_close_keeps_its_status_and_the_body_so_far() -> None:
    answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 500\r\n\r\nmissing credential"
    failure = await connect_failure(answer)

    assert failure.status_code == 401
    assert "missing credential" in str(failure)


async def test_a_non_http_answer_fails_at_once_and_shows_how_it_begins() -> None:
    failure = await connect_failure(f"SSH-2.0-OpenSSH_9.6 {KEY}\r\n".encode(), keep_open=True)

    assert "answer to the WebSocket upgrade is not HTTP" in str(failure)
    assert "it begins 'SSH-2.0-OpenSSH_9.6 ***..'" in str(failure)


async def test_a_malformed_http_answer_fails_at_once() -> None:
    failure = await connect_failure(b"HTTP/1.1 abc\r\n\r\n", keep_open=True)

    assert "answer to the WebSocket upgrade is not valid HTTP" in str(failure)


async def test_a_rejection_with_a_length_still_reports_status_and_body() -> None:
    body = b"quota exceeded"
    head = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: %d\r\n\r\n" % len(body)
    failure = await connect_failure(head + body, keep_open=True)

    assert failure.status_code == 429
    assert str(failure).endswith("HTTP 429: quota exceeded")


async def test_a_rejection_whose_body_never_ends_is_reported_after_a_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client, server = trio.testing.memory_stream_pair()
    endpoint = Endpoint.google_ai(KEY, base_url="ws://h").resolve()

    async def answer_and_stay() -> None:
        await server.receive_some()  # the request
        await server.send_all(b"HTTP/1.1 403 Forbidden\r\n\r\nno access, and more to come")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_and_stay)
        with pytest.raises(ConnectFailed) as caught:
            await WebsocketsTransport().connect_stream(client, endpoint, nursery)
        nursery.cancel_scope.cancel()

    assert trio.current_time() == pytest.approx(REJECTION_GRACE)
    assert caught.value.status_code == 403
    assert str(caught.value).endswith("HTTP 403: no access, and more to come")
