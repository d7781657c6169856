"""The emulator's protocol behaviour, through a real WebSocket on 127.0.0.1."""

from __future__ import annotations

import json

import attrs
import pytest
import trio
import trio.testing

from livehandle._errors import InvalidArgument, PolicyViolation
from livehandle._events import SessionEvent
from livehandle._session import open_session
from livehandle._transport import Endpoint, WebSocketTransport
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator, Rule, Say, Scenario, When, audio
from tests.testing.helpers import (
    MODEL,
    SETUP_AUDIO,
    SETUP_TEXT,
    audio_of,
    connect,
    kinds,
    mic,
    text_of,
    transcript_of,
    until,
    user_text,
)


async def send_audio(session, pcm: bytes, chunk_ms: int = 100) -> None:
    for chunk in audio.chunked(pcm, chunk_ms, sample_rate=16000):
        await session.send(mic(chunk))


def speech(ms: float) -> bytes:
    return audio.synth_voice(ms, sample_rate=16000)


# -- setup ------------------------------------------------------------------------------------


async def test_setup_is_answered_with_setup_complete() -> None:
    async with LiveEmulator().running() as emu, connect(emu) as (session, _):
        assert session.phase.value == "active"
    assert emu.connections[0].setup == SETUP_TEXT
    assert isinstance(emu.connections[0].sent[0].message, m.SetupComplete)


async def test_first_message_other_than_setup_closes_1007() -> None:
    async with LiveEmulator().running() as emu, trio.open_nursery() as nursery:
        conn = await WebSocketTransport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(json.dumps({"clientContent": {"turnComplete": True}}))
        with pytest.raises(InvalidArgument) as info:
            await conn.receive()
        await conn.aclose()
    assert info.value.reason == "Request contains an invalid argument."


async def test_unknown_model_closes_1008_with_the_real_reason_shape() -> None:
    setup = m.Setup(model="models/gemini-0.1-imaginary")
    async with LiveEmulator().running() as emu:
        with pytest.raises(PolicyViolation) as info:
            async with open_session(setup, endpoint=Endpoint.from_url(emu.url)):
                pytest.fail("must not connect")
    assert info.value.reason.startswith(
        "models/gemini-0.1-imaginary is not found for API version v1beta, "
        "or is not supported for bidiGenerateContent."
    )


async def test_both_modalities_is_an_invalid_argument() -> None:
    both = m.GenerationConfig(response_modalities=(m.Modality.AUDIO, m.Modality.TEXT))
    async with LiveEmulator().running() as emu:
        with pytest.raises(InvalidArgument):
            async with open_session(
                m.Setup(model=MODEL, generation_config=both), endpoint=Endpoint.from_url(emu.url)
            ):
                pytest.fail("must not connect")


# -- replies ----------------------------------------------------------------------------------


async def test_text_turn_gets_text_parts_generation_complete_turn_complete_and_usage() -> None:
    async with LiveEmulator().running() as emu, connect(emu) as (session, events):
        await session.send(user_text("hello there, my friend"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "You said: hello there, my friend"
    assert kinds(seen)[-3:] == ["GenerationComplete", "TextComplete", "TurnComplete"]
    usage = [e.usage for e in seen if isinstance(e, SessionEvent.Usage)]
    assert usage and usage[-1].total_token_count == (
        usage[-1].prompt_token_count + usage[-1].response_token_count
    )
    assert usage[-1].response_token_count > 0


async def test_audio_reply_is_deterministic_24khz_pcm_with_its_transcript() -> None:
    replies = []
    async with LiveEmulator().running() as emu:
        for _ in range(2):
            async with connect(emu, SETUP_AUDIO) as (session, events):
                await session.send(user_text("hello"))
                replies.append(await until(events, SessionEvent.TurnComplete))
    first, second = replies
    pcm = audio_of(first)
    assert pcm == audio_of(second)  # deterministic
    assert len(pcm) % 2 == 0
    assert audio.duration_ms(pcm, sample_rate=24000) >= 200
    assert all(
        e.mime_type == "audio/pcm;rate=24000"
        for e in first
        if isinstance(e, SessionEvent.AudioData)
    )
    assert audio.rms_dbfs(pcm) > -30
    assert transcript_of(first) == "You said: hello"
    assert "GenerationComplete" in kinds(first)


async def test_realtime_text_input_is_a_user_turn() -> None:
    async with LiveEmulator().running() as emu, connect(emu) as (session, events):
        await session.send(m.RealtimeInput(text="typed live"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "You said: typed live"


async def test_client_content_without_turn_complete_is_context_only() -> None:
    async with LiveEmulator().running() as emu, connect(emu) as (session, events):
        await session.send(user_text("remember this", turn_complete=False))
        await session.send(user_text("and now answer"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "You said: and now answer"
    history = emu.connections[0].conversation.history
    assert ("user", "remember this") in history


async def test_fast_pace_sends_everything_at_once_and_realtime_paces_audio(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(
        default=(m_audio := __import__("livehandle.testing", fromlist=["Audio"]).Audio(2000),)
    )
    del m_audio
    for realtime, expected in ((False, 0.0), (True, 2.0)):
        async with (
            LiveEmulator(scenario, realtime=realtime).in_memory() as emu,
            connect(emu, SETUP_AUDIO) as (session, events),
        ):
            await session.send(user_text("go"))
            start = trio.current_time()
            seen = await until(events, SessionEvent.TurnComplete)
            elapsed = trio.current_time() - start
        assert audio.duration_ms(audio_of(seen), sample_rate=24000) == pytest.approx(2000)
        assert elapsed == pytest.approx(expected, abs=0.05)


# -- server VAD -------------------------------------------------------------------------------


async def test_speech_turn_is_detected_transcribed_and_answered() -> None:
    async with LiveEmulator().running() as emu, connect(emu, SETUP_AUDIO) as (session, events):
        await send_audio(session, audio.silence(300) + speech(1200) + audio.silence(1000))
        seen = await until(events, SessionEvent.TurnComplete)
    inputs = [e.text for e in seen if isinstance(e, SessionEvent.InputTranscription)]
    assert inputs == ["[speech 1.2 s]"]
    assert transcript_of(seen) == "You said: [speech 1.2 s]"


async def test_attached_transcript_replaces_the_default_description() -> None:
    async with LiveEmulator().running() as emu, connect(emu, SETUP_AUDIO) as (session, events):
        emu.queue_transcript("Book a table for two")
        await send_audio(session, speech(800) + audio.silence(1000))
        seen = await until(events, SessionEvent.TurnComplete)
    assert transcript_of(seen) == "You said: Book a table for two"


async def test_short_pause_does_not_split_a_turn_and_silence_duration_is_honoured() -> None:
    vad = m.AutomaticActivityDetection(silence_duration_ms=500)
    setup = attrs.evolve(SETUP_AUDIO, realtime_input_config=m.RealtimeInputConfig(vad))
    async with LiveEmulator().running() as emu, connect(emu, setup) as (session, events):
        await send_audio(
            session, speech(600) + audio.silence(300) + speech(600) + audio.silence(450)
        )
        await session.send(m.RealtimeInput(text="marker"))  # a typed turn after the audio
        seen = await until(events, SessionEvent.TurnComplete)
    # 450 ms of trailing silence is less than 500 ms: no speech turn has ended yet.
    assert [e.text for e in seen if isinstance(e, SessionEvent.InputTranscription)] == []
    async with LiveEmulator().running() as emu, connect(emu, setup) as (session, events):
        await send_audio(
            session, speech(600) + audio.silence(300) + speech(600) + audio.silence(600)
        )
        seen = await until(events, SessionEvent.TurnComplete)
    assert [e.text for e in seen if isinstance(e, SessionEvent.InputTranscription)] == [
        "[speech 1.5 s]"
    ]


async def test_a_click_shorter_than_prefix_padding_is_not_speech() -> None:
    vad = m.AutomaticActivityDetection(prefix_padding_ms=100, silence_duration_ms=300)
    setup = attrs.evolve(SETUP_AUDIO, realtime_input_config=m.RealtimeInputConfig(vad))
    async with LiveEmulator().running() as emu, connect(emu, setup) as (session, events):
        await send_audio(session, speech(40) + audio.silence(600))
        await session.send(m.RealtimeInput(text="marker"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert transcript_of(seen) == "You said: marker"
    assert not any(isinstance(e, SessionEvent.InputTranscription) for e in seen)


async def test_audio_stream_end_ends_a_pending_speech_turn() -> None:
    async with LiveEmulator().running() as emu, connect(emu, SETUP_AUDIO) as (session, events):
        await send_audio(session, speech(700))
        await session.send(m.RealtimeInput(audio_stream_end=True))
        seen = await until(events, SessionEvent.TurnComplete)
    assert transcript_of(seen) == "You said: [speech 0.7 s]"


async def test_manual_activity_marks_delimit_the_turn() -> None:
    manual = m.RealtimeInputConfig(m.AutomaticActivityDetection(disabled=True))
    setup = attrs.evolve(SETUP_AUDIO, realtime_input_config=manual)
    async with LiveEmulator().running() as emu, connect(emu, setup) as (session, events):
        await session.send(m.RealtimeInput(activity_start=m.ActivityStart()))
        await send_audio(session, audio.silence(500))  # manual: even silence is the turn
        await session.send(m.RealtimeInput(activity_end=m.ActivityEnd()))
        seen = await until(events, SessionEvent.TurnComplete)
    assert transcript_of(seen) == "You said: [speech 0.5 s]"


async def test_activity_marks_with_automatic_detection_close_1007_with_the_real_reason() -> None:
    async with LiveEmulator().running() as emu, connect(emu) as (session, _):
        await session.send(m.RealtimeInput(activity_start=m.ActivityStart()))
        end = await session.wait_closed()
    assert isinstance(end.error, InvalidArgument)
    assert end.error.reason == (
        "Explicit activity control is not supported when automatic activity detection is enabled"
    )


# -- barge-in ---------------------------------------------------------------------------------


LONG = Scenario(rules=[Rule(When(text="talk"), [Say("This is a long answer " * 10)])])


async def test_user_speech_during_a_reply_interrupts_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator(LONG, realtime=True).in_memory() as emu,
        connect(emu, SETUP_AUDIO) as (
            session,
            events,
        ),
    ):
        await session.send(user_text("talk"))
        await until(events, SessionEvent.AudioData)
        await send_audio(session, speech(300))  # the user talks over the model
        seen = await until(events, SessionEvent.TurnComplete)
    assert kinds(seen)[-2:] == ["Interrupted", "TurnComplete"]
    assert "GenerationComplete" not in kinds(seen)
    reply_ms = audio.duration_ms(audio_of(seen), sample_rate=24000)
    assert reply_ms < 1000  # the long answer was cut short


async def test_a_new_text_turn_interrupts_the_reply(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        LiveEmulator(LONG, realtime=True).in_memory() as emu,
        connect(emu, SETUP_AUDIO) as (
            session,
            events,
        ),
    ):
        await session.send(user_text("talk"))
        await until(events, SessionEvent.AudioData)
        await session.send(user_text("stop"))
        first = await until(events, SessionEvent.TurnComplete)
        second = await until(events, SessionEvent.TurnComplete)
    assert kinds(first)[-2:] == ["Interrupted", "TurnComplete"]
    assert transcript_of(second) == "You said: stop"


async def test_no_interruption_lets_the_model_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = m.RealtimeInputConfig(activity_handling=m.ActivityHandling.NO_INTERRUPTION)
    setup = attrs.evolve(SETUP_AUDIO, realtime_input_config=config)
    async with (
        LiveEmulator(LONG, realtime=True).in_memory() as emu,
        connect(emu, setup) as (
            session,
            events,
        ),
    ):
        await session.send(user_text("talk"))
        await until(events, SessionEvent.AudioData)
        await session.send(user_text("stop"))
        first = await until(events, SessionEvent.TurnComplete)
        second = await until(events, SessionEvent.TurnComplete)
    assert "Interrupted" not in kinds(first)
    assert "GenerationComplete" in kinds(first)
    assert transcript_of(second) == "You said: stop"


# -- instructions -----------------------------------------------------------------------------


INSTRUCTED = Scenario(default=(Say("[{instruction}] {user_text}"),))


@pytest.mark.parametrize("how", ["context_update", "system_turn"])
async def test_instruction_changes_are_recorded_and_change_later_replies(how: str) -> None:
    setup = attrs.evolve(
        SETUP_TEXT, system_instruction=m.Content(parts=(m.Part(text="Be brief."),))
    )
    async with LiveEmulator(INSTRUCTED).running() as emu, connect(emu, setup) as (session, events):
        await session.send(user_text("one"))
        before = await until(events, SessionEvent.TurnComplete)
        if how == "context_update":
            new = m.Content(parts=(m.Part(text="Speak like a pirate."),))
            await session.send(m.ContextUpdate(system_instruction=new))
        else:
            await session.send(
                user_text("Speak like a pirate.", turn_complete=False, role="system")
            )
        await session.send(user_text("two"))
        after = await until(events, SessionEvent.TurnComplete)
    assert text_of(before) == "[Be brief.] one"
    assert text_of(after) == "[Speak like a pirate.] two"
    assert emu.connections[0].conversation.instructions == ["Be brief.", "Speak like a pirate."]


# -- rules ------------------------------------------------------------------------------------


async def test_rules_match_typed_text_by_regex_and_fall_back_to_the_echo() -> None:
    scenario = Scenario(
        rules=[Rule(When(text=r"\bweather\b", kind="text"), [Say("Sunny.")], times=1)]
    )
    async with LiveEmulator(scenario).running() as emu, connect(emu) as (session, events):
        replies = []
        for text in ("What's the WEATHER?", "weather again", "hi"):
            await session.send(user_text(text))
            replies.append(text_of(await until(events, SessionEvent.TurnComplete)))
    assert replies == ["Sunny.", "You said: weather again", "You said: hi"]


async def test_speech_rules_answer_only_speech_turns() -> None:
    scenario = Scenario(rules=[Rule(When(kind="speech"), [Say("I heard you.")])])
    async with (
        LiveEmulator(scenario).running() as emu,
        connect(emu, SETUP_AUDIO) as (
            session,
            events,
        ),
    ):
        await session.send(user_text("typed"))
        typed = await until(events, SessionEvent.TurnComplete)
        await send_audio(session, speech(500) + audio.silence(900))
        spoken = await until(events, SessionEvent.TurnComplete)
    assert transcript_of(typed) == "You said: typed"
    assert transcript_of(spoken) == "I heard you."
