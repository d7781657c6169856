"""The voice runtime through a real session on the emulator: VAD edges, activity marks, the
reactor's rows, deferred context on the wire, playback tracking and barge-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle._config.live import LiveConfig
from livehandle._config.voice import (
    TurnCommitConfig,
    VadConfig,
)
from livehandle._events import LiveEvent
from livehandle._open import open_live_session
from livehandle._runtime.context import DeferredWriter
from livehandle._runtime.vad import (
    BackendInputVad,
    VadEvent,
)
from livehandle._runtime.voice import PREROLL_MS
from livehandle._wire import messages as m
from livehandle.testing import Audio, LiveEmulator, Rule, Scenario, When, audio
from tests.testing.helpers import until

if TYPE_CHECKING:
    from livehandle._handle import LiveHandle
    from livehandle.testing import EmulatorConnection

VOICE = LiveConfig()  # server VAD, AUDIO out, immediate context
CLIENT = LiveConfig(server_vad=False)  # client authority: the client marks activity
DEFERRED = LiveConfig(context_delivery="deferred")
LONG = Scenario(rules=[Rule(When(text="story"), [Audio(8000, "Once upon a time")])])
CHUNK_MS = 100


def utterance(speech_ms: float = 900, *, lead_ms: float = 300, tail_ms: float = 1000) -> bytes:
    """Quiet lead-in, a synthetic voice, then silence: 16 kHz PCM16."""
    return (
        audio.silence(lead_ms)
        + audio.synth_voice(speech_ms, sample_rate=16000)
        + audio.silence(tail_ms)
    )


def chunks_of(pcm: bytes) -> list[bytes]:
    return audio.chunked(pcm, CHUNK_MS, sample_rate=16000)


def edges_per_chunk(chunks: list[bytes], config: VadConfig | None = None) -> list[list[VadEvent]]:
    """What a fresh input VAD detects in each chunk (the handle's VAD sees the same audio)."""
    vad = BackendInputVad(config, clock=lambda: 0.0)
    return [vad.process(chunk) for chunk in chunks]


def wire(conn: EmulatorConnection) -> list[str]:
    """The client's realtime/client-content messages as short labels, in wire order."""
    labels: list[str] = []
    for message in (r.message for r in conn.received):
        match message:
            case m.RealtimeInput(audio=m.Blob()):
                labels.append("audio")
            case m.RealtimeInput(activity_start=m.ActivityStart()):
                labels.append("start")
            case m.RealtimeInput(activity_end=m.ActivityEnd()):
                labels.append("end")
            case m.ClientContent(turns=turns, turn_complete=complete):
                if not turns:
                    labels.append("prompt" if complete else "empty")
                elif complete:
                    labels.append("turn")
                else:
                    labels.append("context")
            case _:
                pass
    return labels


async def stream(handle: LiveHandle, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await handle.send_audio(chunk)


async def recorded(emu: LiveEmulator) -> list[str]:
    """The wire labels of the emulator's first connection, once it has closed.

    The session's graceful close sends everything it accepted before its close frame, so after
    the close every message is in the recording.
    """
    conn = emu.connections[0]
    await conn.wait_closed()
    return wire(conn)


def context(text: str) -> m.Content:
    return m.Content(parts=(m.Part(text=text),), role="model")


# -- send_audio: VAD edges and their order on the wire -------------------------------------------


async def test_client_marks_bracket_the_speech_chunks_once_per_edge() -> None:
    chunks = chunks_of(utterance() + utterance())
    edges = edges_per_chunk(chunks)
    starts = [i for i, e in enumerate(edges) if VadEvent.SPEECH_START in e]
    ends = [i for i, e in enumerate(edges) if VadEvent.SPEECH_END in e]
    assert len(starts) == len(ends) == 2  # the audio really has two utterances

    async with LiveEmulator().running() as emu:
        async with open_live_session(CLIENT, endpoint=emu.url) as h:
            await stream(h, chunks)
            await h.user_speech_ended()  # already ended: no second activityEnd
        labels = await recorded(emu)

    assert labels.count("start") == labels.count("end") == 2
    # Audio goes out only between activityStart and activityEnd (the Live API refuses audio
    # before activityStart): the chunks from the one where speech started to the one where it
    # ended, preceded by up to PREROLL_MS of what came just before.
    assert labels[0] == "start" and labels[-1] == "end"
    brackets = "".join("s" if x == "start" else "e" if x == "end" else "a" for x in labels)
    preroll = PREROLL_MS // CHUNK_MS
    pairs = zip(starts, ends, strict=True)
    for (start, end), bracket in zip(pairs, brackets.split("e")[:2], strict=True):
        spoken = end - start + 1
        assert bracket == "s" + "a" * (spoken + preroll)


async def test_no_activity_marks_with_server_vad_but_the_edges_drive_the_reactor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    chunks = chunks_of(utterance())
    edges = edges_per_chunk(chunks)
    start = next(i for i, e in enumerate(edges) if VadEvent.SPEECH_START in e)
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(VOICE, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        await stream(h, chunks[: start + 1])
        assert h.voice_state().user_speaking
        assert h.input_vad_state() is not None and h.input_vad_state().speaking  # type: ignore[union-attr]
        await stream(h, chunks[start + 1 :])
        assert not h.voice_state().user_speaking
        await until(events, LiveEvent.TurnComplete)  # the server's own VAD took the turn
        labels = wire(emu.connections[0])
    assert "start" not in labels and "end" not in labels
    assert emu.connections[0].close_code is None or emu.connections[0].close_code == 1000


async def test_manual_speech_edges_under_client_authority_mark_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = LiveConfig(server_vad=False, input_vad=None)  # the application runs its own VAD
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        await h.user_speech_started()
        await h.user_speech_started()  # a repeated edge sends nothing more
        await stream(h, chunks_of(audio.synth_voice(600, sample_rate=16000)))
        await h.user_speech_ended()
        await h.user_speech_ended()
        await until(events, LiveEvent.TurnComplete)  # the emulator answered the marked turn
        labels = wire(emu.connections[0])
    assert h.input_vad_state() is None
    assert labels[0] == "start"
    assert labels.count("start") == labels.count("end") == 1
    assert labels.index("end") > max(i for i, label in enumerate(labels) if label == "audio")


async def test_turn_commit_policy_holds_the_end_mark() -> None:
    hold = TurnCommitConfig.conversational()  # activityEnd 800 ms after the VAD's end
    config = LiveConfig(server_vad=False, turn_commit=hold)
    chunks = chunks_of(utterance(tail_ms=2000))
    edges = edges_per_chunk(chunks)
    end = next(i for i, e in enumerate(edges) if VadEvent.SPEECH_END in e)
    async with LiveEmulator().running() as emu:
        async with open_live_session(config, endpoint=emu.url) as h:
            await stream(h, chunks)
        labels = await recorded(emu)
    assert labels.count("start") == labels.count("end") == 1
    audio_positions = [i for i, label in enumerate(labels) if label == "audio"]
    held_chunks = hold.eot_hold_ms // CHUNK_MS
    assert labels[audio_positions[end + held_chunks] + 1] == "end"


async def test_odd_length_audio_raises_and_sends_nothing() -> None:
    async with LiveEmulator().running() as emu, open_live_session(VOICE, endpoint=emu.url) as h:
        before = h.input_vad_state()
        with pytest.raises(ValueError, match="even number of bytes"):
            await h.send_audio(b"\x00" * 961)
        with pytest.raises(TypeError, match="PCM16 bytes"):
            await h.send_audio("not audio")  # type: ignore[arg-type]
        after = h.input_vad_state()
        await h.send_text("ping")  # a marker: everything before it has been received
        events = h.events()
        await until(events, LiveEvent.TurnComplete)
        labels = wire(emu.connections[0])
    assert labels == ["turn"]
    assert before is not None and after is not None
    assert after.frames_processed == before.frames_processed == 0


# -- the reactor's rows, through the handle -----------------------------------------------------


async def test_playback_drained_sends_the_armed_prompt_and_the_model_answers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(DEFERRED, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        writer = h.writer()
        assert isinstance(writer, DeferredWriter)
        writer.defer([context("The user is called Ada.")], prompt=True)
        assert h.voice_state().prompt_pending is False  # armed, not yet offered by the reactor
        await h.playback_drained()
        state = h.voice_state()
        await until(events, LiveEvent.TurnComplete)  # the prompt made the model speak
        labels = wire(emu.connections[0])
    assert labels == ["context", "prompt"]
    assert not writer.pending.has_prompt() and len(writer.pending) == 0
    assert state.last_playback_drained_at is not None and not state.playback_active
    assert h.voice_state().playback_active  # the answer's audio is playing now


async def test_user_sends_flush_context_first_and_leave_the_prompt_armed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(DEFERRED, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        writer = h.writer()
        assert isinstance(writer, DeferredWriter)
        writer.defer([context("one"), context("two")], prompt=True)
        await h.send_text("hello")
        await until(events, LiveEvent.TurnComplete)
        writer.defer([context("three")])
        await h.send_audio(audio.silence(100))
        writer.defer([context("four")])
        await h.send_video(b"\xff\xd8 a jpeg")
        writer.defer([context("five")])
        await h.update_instruction("Be brief.")  # passes through: no flush
        await h.send_text("bye")
        await until(events, LiveEvent.TurnComplete)
        conn = emu.connections[0]
    contexts = [
        [part.text for turn in msg.turns or () for part in turn.parts]
        for msg in conn.messages(m.ClientContent)
        if not msg.turn_complete and msg.turns and msg.turns[0].role == "model"
    ]
    assert contexts[0] == ["one", "two"]
    assert ["three"] in contexts and ["four"] in contexts and ["five"] in contexts
    labels = wire(conn)
    assert labels[:2] == ["context", "turn"]
    assert labels[2:4] == ["context", "audio"]
    assert writer.pending.has_prompt()  # user sends never send the prompt
    assert "prompt" not in labels


async def test_speech_start_cancels_the_armed_prompt_but_keeps_context() -> None:
    async with LiveEmulator().running() as emu, open_live_session(DEFERRED, endpoint=emu.url) as h:
        writer = h.writer()
        assert isinstance(writer, DeferredWriter)
        writer.defer([context("keep me")], prompt=True)
        await h.playback_drained()  # the prompt goes...
        writer.defer([context("keep me too")], prompt=True)
        await h.user_speech_started()  # ...this one is cancelled by the barge-in edge
        state = h.voice_state()
        assert not writer.pending.has_prompt()
        assert len(writer.pending) == 1
        await h.playback_drained()  # nothing armed: nothing sent
        await h.user_speech_ended()
        await h.disconnect()
        labels = await recorded(emu)
    assert labels == ["context", "prompt"]
    assert state.user_speaking and state.last_barge_in_at is not None


async def test_drained_while_the_user_speaks_waits_for_the_end_of_speech() -> None:
    async with LiveEmulator().running() as emu, open_live_session(DEFERRED, endpoint=emu.url) as h:
        writer = h.writer()
        assert isinstance(writer, DeferredWriter)
        await h.user_speech_started()
        writer.defer([context("later")], prompt=True)
        await h.playback_drained()
        assert h.voice_state().prompt_pending  # remembered, not sent
        assert writer.pending.has_prompt()
        await h.user_speech_ended()
        assert not writer.pending.has_prompt()
        await h.disconnect()
        labels = await recorded(emu)
    assert labels == ["context", "prompt"]
    assert h.voice_state().prompt_epoch == 0


async def test_model_audio_makes_playback_active_until_drained(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(DEFERRED, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        writer = h.writer()
        assert isinstance(writer, DeferredWriter)
        assert not h.voice_state().playback_active
        await h.send_text("hello")
        await until(events, LiveEvent.TurnComplete)
        assert h.voice_state().playback_active  # model audio was delivered
        writer.defer([], prompt=True)
        await h.user_speech_started()
        await h.user_speech_ended()  # ...but the barge-in already stopped playback
        assert not h.voice_state().playback_active
        await h.send_text("again")
        await until(events, LiveEvent.TurnComplete)
        writer.defer([], prompt=True)
        await h.user_speech_ended()  # speaker still playing: the prompt waits
        assert writer.pending.has_prompt()
        await h.flush_deferred_prompt()  # = playback_drained: now it goes
        assert not writer.pending.has_prompt()
        assert not h.voice_state().playback_active


async def test_immediate_delivery_has_nothing_to_prompt() -> None:
    async with LiveEmulator().running() as emu, open_live_session(VOICE, endpoint=emu.url) as h:
        assert not isinstance(h.writer(), DeferredWriter)
        await h.playback_drained()
        await h.user_speech_started()
        await h.user_speech_ended()
        await h.disconnect()
        labels = await recorded(emu)
    assert labels == []
    assert h.voice_state().last_playback_drained_at is not None


# -- barge-in ---------------------------------------------------------------------------------


async def test_barge_in_during_a_reply_drops_its_audio_and_cancels_the_prompt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emulator = LiveEmulator(LONG, realtime=True)
    async with (
        emulator.in_memory() as emu,
        open_live_session(DEFERRED, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        writer = h.writer()
        assert isinstance(writer, DeferredWriter)
        await h.send_text("tell me a story")
        await until(events, LiveEvent.Audio)
        writer.defer([context("after the story")], prompt=True)
        assert h.voice_state().playback_active
        # The user talks over the model, in real time: the client VAD cancels the prompt and
        # the server's VAD interrupts the reply.
        for chunk in chunks_of(utterance(lead_ms=100)):
            await h.send_audio(chunk)
            await trio.sleep(CHUNK_MS / 1000)
        seen = await until(events, LiveEvent.Interrupted)
        rest = await until(events, LiveEvent.TurnComplete)
        labels = wire(emu.connections[0])
    heard_ms = audio.duration_ms(
        b"".join(e.data for e in seen if isinstance(e, LiveEvent.Audio)), sample_rate=24000
    )
    assert heard_ms < 4000  # the 8 s reply was cut short
    assert not any(isinstance(e, LiveEvent.Audio) for e in rest)
    assert "prompt" not in labels
    assert not writer.pending.has_prompt() and len(writer.pending) == 0  # flushed with audio
    state = h.voice_state()
    assert state.prompt_epoch == 1 and state.last_barge_in_at is not None


async def test_a_server_interruption_stops_playback(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emulator = LiveEmulator(LONG, realtime=True)
    async with (
        emulator.in_memory() as emu,
        open_live_session(VOICE, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        events = h.events()
        await h.send_text("tell me a story")
        await until(events, LiveEvent.Audio)
        assert h.voice_state().playback_active
        await emu.connections[0].send(m.ServerContent(interrupted=True))
        await until(events, LiveEvent.Interrupted)
        assert not h.voice_state().playback_active
        assert h.voice_state().last_barge_in_at is None  # not a client barge-in


def test_turn_commit_needs_client_authority_and_an_input_vad() -> None:
    with pytest.raises(ValueError, match="server_vad=False"):
        LiveConfig(turn_commit=TurnCommitConfig.responsive())
    with pytest.raises(ValueError, match="input VAD"):
        LiveConfig(server_vad=False, input_vad=None, turn_commit=TurnCommitConfig.responsive())
    with pytest.raises(ValueError, match="context_delivery"):
        LiveConfig(context_delivery="later")
    with pytest.raises(ValueError, match="input_vad"):
        LiveConfig(input_vad="on")  # type: ignore[arg-type]


async def test_client_vad_edges_time_the_turn_and_the_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(VOICE, endpoint=emu.url, transport=emu.memory_transport()) as h,
    ):
        emu.queue_transcript("hello there")
        events = h.events()
        for chunk in chunks_of(utterance()):
            await h.send_audio(chunk)
            await trio.sleep(CHUNK_MS / 1000)
        await until(events, LiveEvent.TurnComplete)
        snapshot = h.telemetry.snapshot()
    # The emulator sends no server VAD events: the client's own speech end started the clock.
    assert snapshot["response_latency"]["count"] == 1
    assert 0 < snapshot["response_latency"]["last_ms"] < 3000
    assert snapshot["last_turn_duration_ms"] > 900  # from the speech start, not from the reply
