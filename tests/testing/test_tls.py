"""The emulator over TLS: ``wss://`` with a trustme CA, and a client that does not trust it."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme

from livehandle._errors import ConnectFailed
from livehandle._events import SessionEvent
from livehandle._session import open_session
from livehandle._transport import Endpoint
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator

SETUP = m.Setup(
    model="models/gemini-3.8-live",
    generation_config=m.GenerationConfig(response_modalities=(m.Modality.TEXT,)),
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def reply_to(endpoint: Endpoint, text: str) -> str:
    async with open_session(SETUP, endpoint=endpoint) as session:
        with session.subscribe() as events:
            turn = m.Content(parts=(m.Part(text=text),), role="user")
            await session.send(m.ClientContent(turns=(turn,), turn_complete=True))
            async for event in events:
                if isinstance(event, SessionEvent.TextComplete):
                    return event.text
    raise AssertionError("the session ended before the reply was complete")


async def test_emulator_serves_wss_and_a_trusting_client_completes_a_turn(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    with trio.fail_after(10):
        async with LiveEmulator(ssl_context=server_context).running() as emu:
            assert emu.url.startswith("wss://127.0.0.1:")
            endpoint = Endpoint.from_url(emu.url, ssl_context=client_context)
            assert await reply_to(endpoint, "hello") == "You said: hello"
            assert emu.connections[0].setup == SETUP


async def test_untrusted_certificate_fails_to_connect_and_the_emulator_keeps_serving(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    untrusting = ssl.create_default_context()  # system CAs only: the trustme CA is unknown
    with trio.fail_after(10):
        async with LiveEmulator(ssl_context=server_context).running() as emu:
            with pytest.raises(ConnectFailed, match="TLS handshake") as failure:
                await reply_to(Endpoint.from_url(emu.url, ssl_context=untrusting), "hello")
            assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
            assert emu.connections == []  # it never got as far as a WebSocket

            endpoint = Endpoint.from_url(emu.url, ssl_context=client_context)
            assert await reply_to(endpoint, "again") == "You said: again"
            assert len(emu.connections) == 1
