"""The handle's one send path, over the in-memory transport (no sockets, MockClock time).

Input is checked once per send, whichever public way it came in (the handle, or the writer the
handle hands out); both ways put the same messages on the wire and count the same telemetry,
and only a send the session accepted is counted.  The handle has no public constructor.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

import livehandle._handle as handle_module
import livehandle._runtime.writer as writer_module
from livehandle._config.live import LiveConfig
from livehandle._errors import ConnectionClosed, SessionClosed
from livehandle._handle import LiveHandle
from livehandle._open import open_live_session
from livehandle._runtime.context import DeferredWriter
from livehandle._runtime.writer import SessionWriter
from livehandle._session import Session
from livehandle._transport import Endpoint, MemoryTransport
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, encode_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from livehandle._transport.memory import MemoryConnection

ENDPOINT = Endpoint.from_url("ws://127.0.0.1:1/live")
PCM = b"\x01\x00\x02\x00" * 160  # 10 ms of 16 kHz PCM16
JPEG = b"\xff\xd8\xff\xe0jpeg"
IMMEDIATE = LiveConfig(response_modality="TEXT", input_vad=None)
DEFERRED = attrs.evolve(IMMEDIATE, context_delivery="deferred")


@attrs.define
class Server:
    """Answers the setup, then records every client message (optionally never reading again)."""

    reading: bool = True
    received: list[m.ClientMessage] = attrs.field(factory=list)

    async def handler(self, conn: MemoryConnection) -> None:
        assert isinstance(decode_client(await conn.receive()), m.Setup)
        await conn.send(encode_server(m.SetupComplete()).encode())
        if not self.reading:
            await trio.sleep_forever()
        try:
            while True:
                self.received.append(decode_client(await conn.receive()))
        except ConnectionClosed:
            return


@asynccontextmanager
async def live(
    config: LiveConfig, server: Server, *, capacity: int = 64
) -> AsyncIterator[LiveHandle]:
    transport = MemoryTransport(server.handler, capacity=capacity)
    async with open_live_session(config, endpoint=ENDPOINT, transport=transport) as handle:
        yield handle


def user_input(received: list[m.ClientMessage]) -> list[m.ClientMessage]:
    return [msg for msg in received if isinstance(msg, m.RealtimeInput | m.ClientContent)]


def count_pcm_checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Count every PCM check, wherever it is called from (the handle or the writer)."""
    checked: list[object] = []
    real = writer_module.check_pcm16

    def counting(data: object) -> bytes:
        checked.append(data)
        return real(data)

    # Every livehandle module that imported the check by name, so a re-check anywhere counts.
    for name, module in list(sys.modules.items()):
        if name.startswith("livehandle") and getattr(module, "check_pcm16", None) is real:
            monkeypatch.setattr(module, "check_pcm16", counting)
    assert handle_module.check_pcm16 is counting
    return checked


# -- one check per send, on both public paths -----------------------------------------------------


@pytest.mark.parametrize("config", [IMMEDIATE, DEFERRED], ids=["immediate", "deferred"])
@pytest.mark.parametrize("path", ["handle", "writer"])
async def test_pcm_is_checked_once_per_send(
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    config: LiveConfig,
    path: str,
) -> None:
    checked = count_pcm_checks(monkeypatch)
    queued: list[bytes] = []
    real_send_audio = Session.send_audio

    async def counting_send_audio(self: Session, pcm: bytes, mime_type: str) -> None:
        queued.append(pcm)
        await real_send_audio(self, pcm, mime_type)

    monkeypatch.setattr(Session, "send_audio", counting_send_audio)
    server = Server()
    async with live(config, server) as handle:
        send = handle.send_audio if path == "handle" else handle.writer().send_audio
        for _ in range(5):
            await send(PCM)
    assert len(checked) == 5  # one check per chunk, not one per layer
    assert queued == [PCM] * 5  # one queue put per chunk, the caller's bytes uncopied
    assert all(chunk is PCM for chunk in queued)
    assert (
        user_input(server.received)
        == [m.RealtimeInput(audio=m.Blob(writer_module.INPUT_AUDIO_MIME, PCM))] * 5
    )


# -- the handle and the writer are one path -------------------------------------------------------


async def run_sends(handle: LiveHandle, path: str) -> None:
    target: LiveHandle | SessionWriter = handle if path == "handle" else handle.writer()
    await target.send_audio(PCM)
    await target.send_text("hello")
    await target.send_video(JPEG, "image/png")
    await target.update_instruction("Be brief.")
    await target.send_audio(PCM)


@pytest.mark.parametrize("config", [IMMEDIATE, DEFERRED], ids=["immediate", "deferred"])
async def test_the_handle_and_its_writer_send_and_count_the_same(
    autojump_clock: trio.testing.MockClock, config: LiveConfig
) -> None:
    wire: dict[str, list[m.ClientMessage]] = {}
    counts: dict[str, tuple[object, ...]] = {}
    for path in ("handle", "writer"):
        server = Server()
        async with live(config, server) as handle:
            await run_sends(handle, path)
            snapshot = handle.telemetry.snapshot()
        wire[path] = server.received
        counts[path] = (snapshot["audio_chunks_in"], snapshot["audio_kbytes_in"])
    assert wire["handle"] == wire["writer"]
    assert len(user_input(wire["handle"])) == 4  # audio, text, video, audio
    assert counts["handle"] == counts["writer"]
    assert counts["handle"][0] == 2
    assert counts["handle"][1] == round(2 * len(PCM) / 1024, 1)


@pytest.mark.parametrize(
    ("send", "error"),
    [
        (lambda h: h.send_audio("pcm"), TypeError),
        (lambda h: h.send_audio(b"\x01\x00\x02"), ValueError),
        (lambda h: h.send_text(b"hi"), TypeError),
        (lambda h: h.send_text(""), ValueError),
        (lambda h: h.send_video(JPEG, "audio/pcm"), ValueError),
        (lambda h: h.send_tool_response(m.FunctionResponse(id="1", name="f")), TypeError),
        (lambda h: h.update_instruction(""), ValueError),
    ],
    ids=["audio-type", "audio-odd", "text-type", "text-empty", "video-mime", "tools", "instr"],
)
async def test_bad_input_at_the_handle_is_typed_and_sends_and_counts_nothing(
    autojump_clock: trio.testing.MockClock,
    send: Callable[[LiveHandle], Awaitable[None]],
    error: type[Exception],
) -> None:
    server = Server()
    async with live(IMMEDIATE, server) as handle:
        with pytest.raises(error) as info:
            await send(handle)
        assert type(info.value) is error
        snapshot = handle.telemetry.snapshot()
    assert user_input(server.received) == []
    assert snapshot["audio_chunks_in"] == 0


# -- telemetry: only what the session accepted ----------------------------------------------------


async def test_a_cancelled_send_is_not_counted(autojump_clock: trio.testing.MockClock) -> None:
    # The server never reads: the transport fills, one send is stuck in its write, the outbound
    # queue fills behind it, and the next send waits until it is cancelled.
    config = attrs.evolve(IMMEDIATE, outbound_capacity=2)
    async with live(config, Server(reading=False), capacity=1) as handle:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(handle.send_audio, PCM)  # fills the transport
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(handle.send_audio, PCM)  # stuck in its caller's write
            await trio.testing.wait_all_tasks_blocked()
            accepted = 1
            while True:
                with trio.move_on_after(1) as waited:
                    await handle.send_audio(PCM)
                if waited.cancelled_caught:
                    break
                accepted += 1
            assert accepted == 3  # the two queued behind the stuck write
            assert handle.telemetry.snapshot()["audio_chunks_in"] == accepted
            nursery.cancel_scope.cancel()
        await handle.disconnect()


async def test_a_send_after_the_end_is_not_counted(autojump_clock: trio.testing.MockClock) -> None:
    async with live(IMMEDIATE, Server()) as handle:
        await handle.send_audio(PCM)
        await handle.disconnect()
        with pytest.raises(SessionClosed):
            await handle.send_audio(PCM)
        with pytest.raises(SessionClosed):
            await handle.writer().send_audio(PCM)
        assert handle.telemetry.snapshot()["audio_chunks_in"] == 1


# -- construction ---------------------------------------------------------------------------------


def test_a_handle_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match=r"open_live_session\(\)"):
        LiveHandle()
    with pytest.raises(TypeError, match="no public constructor"):
        LiveHandle(None, IMMEDIATE, ENDPOINT)  # the seed's old signature
    assert LiveHandle.__final__ is True


async def test_the_writer_is_one_object_deferring_only_when_deferred(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with live(IMMEDIATE, Server()) as handle:
        assert type(handle.writer()) is SessionWriter
        assert handle.writer() is handle.writer()
    async with live(DEFERRED, Server()) as handle:
        assert type(handle.writer()) is DeferredWriter
        assert handle.writer() is handle.writer()


async def test_properties_are_the_sessions_records_and_methods_snapshots(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with live(IMMEDIATE, Server()) as handle:
        # records: the same live object at every read, updated in place
        telemetry, state, stats = handle.telemetry, handle.state, handle.tool_stats
        await handle.send_audio(PCM)
        assert handle.telemetry is telemetry and telemetry.snapshot()["audio_chunks_in"] == 1
        assert handle.state is state
        assert handle.tool_stats is stats
        # snapshots: values computed at the call, which do not change afterwards
        before = handle.voice_state()
        await handle.user_speech_started()
        assert handle.voice_state() != before
        assert not before.user_speaking
        assert isinstance(handle.transcript, list)
