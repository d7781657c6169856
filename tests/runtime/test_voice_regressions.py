"""Regressions from the review of the voice runtime, through a real session on the emulator.

Each test names the way it went wrong before the fix.  The recording is read once the session
has closed (its graceful close sends everything it accepted first).
"""

from __future__ import annotations

import pytest
import trio

from livehandle._config.live import LiveConfig
from livehandle._config.voice import TurnCommitConfig
from livehandle._errors import InvalidArgument
from livehandle._events import LiveEvent, SessionEvent
from livehandle._open import open_live_session
from livehandle._runtime.context import DeferredWriter
from livehandle._runtime.vad import (
    BackendInputVad,
    VadEvent,
)
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator, audio
from tests.runtime.test_voice import recorded, wire
from tests.testing.helpers import until

CLIENT = LiveConfig(server_vad=False)


def chunks(pcm: bytes, ms: int = 100) -> list[bytes]:
    return audio.chunked(pcm, ms, sample_rate=16000)


def speech(ms: float = 600, *, tail_ms: float = 1000) -> bytes:
    return audio.silence(300) + audio.synth_voice(ms, sample_rate=16000) + audio.silence(tail_ms)


def chunk_with(edge: VadEvent, pieces: list[bytes]) -> int:
    vad = BackendInputVad(clock=lambda: 0.0)
    return next(i for i, c in enumerate(pieces) if edge in vad.process(c))


def marks(labels: list[str]) -> list[str]:
    return [label for label in labels if label in ("start", "end")]


async def test_a_pending_barge_in_does_not_swallow_the_activity_end() -> None:
    pieces = chunks(speech())
    end = chunk_with(VadEvent.SPEECH_END, pieces)
    async with LiveEmulator().running() as emu:
        async with open_live_session(CLIENT, endpoint=emu.url) as h:
            for i, piece in enumerate(pieces):
                if i == end:
                    # What the reader does when `interrupted` arrives: the barge-in group is
                    # cancelled until the control lane has handled it.
                    h._lanes.route(SessionEvent.Interrupted())
                await h.send_audio(piece)
        labels = await recorded(emu)
    assert marks(labels) == ["start", "end"]


async def test_a_short_answer_after_a_reply_is_not_taken_for_a_backchannel() -> None:
    # Before: "model speaking" was playback_active, which stays true after every reply when the
    # application never reports drains, so a short answer was dropped as a backchannel.
    config = LiveConfig(server_vad=False, turn_commit=TurnCommitConfig.responsive())
    yes = speech(250, tail_ms=900)
    async with LiveEmulator().running() as emu:
        async with open_live_session(config, endpoint=emu.url) as h:
            events = h.events()
            for piece in chunks(speech()):
                await h.send_audio(piece)
            await until(events, LiveEvent.TurnComplete)  # the model answered
            assert h.voice_state().playback_active  # and nobody reported a drain
            for piece in chunks(yes):
                await h.send_audio(piece)
        labels = await recorded(emu)
    assert marks(labels) == ["start", "end", "start", "end"]


async def test_an_end_and_a_start_in_one_chunk_keep_both_turns() -> None:
    config = LiveConfig(server_vad=False, turn_commit=TurnCommitConfig.immediate())
    pcm = speech(600, tail_ms=400) + audio.synth_voice(600, sample_rate=16000)
    pcm += audio.silence(900)
    async with LiveEmulator().running() as emu:
        async with open_live_session(config, endpoint=emu.url) as h:
            for piece in chunks(pcm, 500):
                await h.send_audio(piece)
            # The emulator is busy answering while the last mark travels: wait for it to
            # arrive rather than rely on the close handshake.
            await emu.connections[0].wait_for(lambda c: marks(wire(c)).count("end") == 2)
        labels = await recorded(emu)
    assert marks(labels) == ["start", "end", "start", "end"]


async def test_a_cancelled_send_audio_does_not_lose_the_speech_end() -> None:
    pieces = chunks(speech(tail_ms=2000))
    end = chunk_with(VadEvent.SPEECH_END, pieces)
    async with LiveEmulator().running() as emu:
        async with open_live_session(CLIENT, endpoint=emu.url) as h:
            for i, piece in enumerate(pieces):
                if i == end:
                    with trio.CancelScope() as scope:
                        scope.cancel()  # the application drops a late chunk
                        await h.send_audio(piece)
                else:
                    await h.send_audio(piece)
            state = h.voice_state()
        labels = await recorded(emu)
    assert marks(labels) == ["start", "end"]
    assert not state.user_speaking


async def test_client_authority_sends_no_audio_outside_an_activity() -> None:
    pcm = speech() + speech()
    async with LiveEmulator().running() as emu:
        async with open_live_session(CLIENT, endpoint=emu.url) as h:
            for piece in chunks(pcm):
                await h.send_audio(piece)
            held = h._voice.audio_held_back
        labels = await recorded(emu)
    assert labels[0] == "start" and labels[-1] == "end"
    between = "".join(labels).split("end")[1]  # from the first end to the second start
    assert not between.startswith("audio")
    assert held > 0  # the quiet audio outside the turns was not sent
    assert emu.connections[0].close_code == 1000


async def test_the_emulator_refuses_audio_before_the_first_activity_start() -> None:
    from livehandle._session import open_session
    from livehandle._transport import Endpoint

    async with LiveEmulator().running() as emu:
        endpoint = Endpoint.from_url(emu.url)
        setup = CLIENT.to_setup(endpoint)
        async with open_session(setup, endpoint=endpoint) as session:
            events = session.subscribe()
            await session.send(m.RealtimeInput(audio=m.Blob("audio/pcm;rate=16000", b"\0\0")))
            async for event in events:
                if isinstance(event, SessionEvent.Disconnected):
                    break
        assert isinstance(session.end.error if session.end else None, InvalidArgument)


async def test_a_content_that_cannot_be_sent_is_refused_when_deferred() -> None:
    # Before: it was accepted, then put back after every failed flush, so every later user
    # send raised ProtocolError for the rest of the session.
    config = LiveConfig(context_delivery="deferred")
    good = m.Content(parts=(m.Part(text="ok"),), role="model")
    bad = m.Content(parts=(m.Part(text=float("nan")),), role="model")  # type: ignore[arg-type]
    async with LiveEmulator().running() as emu:
        async with open_live_session(config, endpoint=emu.url) as h:
            writer = h.writer()
            assert isinstance(writer, DeferredWriter)
            with pytest.raises(ValueError, match="cannot be sent"):
                writer.defer([good, bad])
            assert len(writer.pending) == 0  # all or nothing
            await h.send_audio(audio.silence(100))  # nothing poisoned the queue
        labels = await recorded(emu)
    assert labels == ["audio"]
