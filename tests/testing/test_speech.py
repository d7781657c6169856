"""speech(): a user turn the emulator's VAD detects and whose words the emulator hears."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from livehandle import LiveConfig, LiveEvent, open_live_session
from livehandle.testing import LiveEmulator, Rule, Say, Scenario, ServerVad, When, audio, speech
from livehandle.testing._mark import MAX_PENDING, MAX_TEXT_BYTES, MarkReader, embed

QUESTION = "What is the weather in Paris?"


def read_marks(pcm: bytes, sizes: list[int]) -> str | None:
    """Feed ``pcm`` to a reader in chunks of the given sample counts (cycled)."""
    reader = MarkReader()
    at, index = 0, 0
    while at < len(pcm):
        size = 2 * sizes[index % len(sizes)]
        reader.feed(pcm[at : at + size])
        at += size
        index += 1
    return reader.take()


def test_speech_is_voice_then_silence_of_the_documented_lengths() -> None:
    pcm = speech(QUESTION)
    voiced = round(70 * len(QUESTION) * 16000 / 1000)
    assert len(pcm) == 2 * (voiced + 16000)  # the voice, then 1000 ms of silence
    assert pcm[2 * voiced :] == bytes(2 * 16000)
    assert abs(audio.rms_dbfs(pcm[: 2 * voiced]) - -16.0) < 0.1
    assert len(speech("Hi", 24000, silence_ms=0)) == 2 * 12000  # at least 500 ms of voice


def test_speech_is_deterministic_and_each_text_has_its_own_voice() -> None:
    assert speech("hello") == speech("hello")
    assert speech("hello")[:2000] != speech("hullo")[:2000]


def test_the_mark_moves_no_sample_by_more_than_its_lowest_bit() -> None:
    voice = audio.synth_voice(70 * len(QUESTION), sample_rate=16000, seed=QUESTION)
    marked = speech(QUESTION)[: len(voice)]
    assert marked != voice
    assert all(a ^ b in (0, 1) for a, b in zip(marked[0::2], voice[0::2], strict=True))
    assert marked[1::2] == voice[1::2]


def test_the_vad_sees_exactly_one_turn() -> None:
    vad = ServerVad()
    edges = vad.feed(speech(QUESTION))
    assert [edge.kind for edge in edges] == ["start", "end"]
    assert edges[1].at_ms == pytest.approx(70 * len(QUESTION), abs=20)


@pytest.mark.parametrize(
    "sizes",
    [[320], [7, 13, 1000], [4800 + 40, 1000], [10**6]],
    ids=["20ms", "ragged", "header-split", "whole"],
)
def test_the_text_is_read_back_however_the_audio_is_chunked(sizes: list[int]) -> None:
    text = "Réservez une table pour 4, s'il vous plaît"
    assert read_marks(audio.silence(300) + speech(text), sizes) == text


def test_ordinary_audio_holds_no_mark() -> None:
    pcm = audio.synth_voice(5000, sample_rate=16000) + audio.noise(5000, level_dbfs=-30)
    assert read_marks(pcm + audio.silence(500), [320]) is None


def test_a_sync_word_with_an_impossible_length_is_skipped() -> None:
    sync = [(0xB5E319A7 >> (31 - i)) & 1 for i in range(32)]
    bogus = bytearray(200)  # silence whose lowest bits say: sync, then a length of 0
    for index, bit in enumerate(sync):
        bogus[2 * index] = bit
    assert read_marks(bytes(bogus) + speech("real words"), [320]) == "real words"


def test_a_damaged_mark_is_ignored() -> None:
    pcm = bytearray(speech(QUESTION))
    pcm[2 * 60] ^= 1  # one bit of the text
    assert read_marks(bytes(pcm), [320]) is None


def test_marks_before_one_turn_end_are_joined_and_take_empties() -> None:
    reader = MarkReader()
    reader.feed(speech("first", silence_ms=0) + speech("second"))
    assert reader.take() == "first second"
    assert reader.take() is None


def test_a_reader_keeps_at_most_max_pending_texts() -> None:
    reader = MarkReader()
    clip = audio.synth_voice(100, sample_rate=16000)
    for index in range(MAX_PENDING + 3):
        reader.feed(embed(clip, f"t{index}"))
    texts = (reader.take() or "").split()
    assert len(texts) == MAX_PENDING
    assert texts[0] == "t3"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: speech(""), "the text of speech must not be empty"),
        (lambda: speech("x" * (MAX_TEXT_BYTES + 1)), "4097 UTF-8 bytes; at most 4096"),
        (lambda: speech("hi", 0), "rate must be positive"),
        (lambda: speech("hi", silence_ms=-1), "silence_ms must be a finite number >= 0"),
        (lambda: speech("hi", silence_ms=math.inf), "silence_ms must be a finite number >= 0"),
        (lambda: speech("hi", level_dbfs=1), "level_dbfs must be a finite number <= 0"),
        (lambda: embed(bytes(100), "hi"), "50 samples cannot carry a 96-bit speech mark"),
    ],
)
def test_bad_arguments_raise_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


async def _speak(emulator: LiveEmulator, pcm_turns: list[bytes]) -> list[LiveEvent]:
    config = LiveConfig(response_modality="TEXT")
    seen: list[LiveEvent] = []
    async with open_live_session(
        config, endpoint=emulator.url, transport=emulator.memory_transport()
    ) as handle:
        events = handle.stream()
        for pcm in pcm_turns:
            for chunk in audio.chunked(pcm, 100, sample_rate=16000):
                await handle.send_audio(chunk)
                await trio.sleep(0.1)
            async for event in events:
                seen.append(event)
                if isinstance(event, LiveEvent.TurnComplete):
                    break
    return seen


async def test_the_emulator_hears_the_words_and_a_speech_rule_answers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(rules=[Rule(When(text="weather", kind="speech"), [Say("Sunny.")])])
    async with LiveEmulator(scenario).in_memory() as emulator:
        seen = await _speak(emulator, [speech(QUESTION), speech("Thank you")])
    assert LiveEvent.InputTranscript(QUESTION, is_final=True) in seen
    assert LiveEvent.TextComplete("Sunny.") in seen
    assert LiveEvent.TextComplete("You said: Thank you") in seen  # no rule: the echo
    assert [text for role, text in emulator.conversations[0].history if role == "user"] == [
        QUESTION,
        "Thank you",
    ]


async def test_a_mark_takes_precedence_over_queued_transcripts_and_leaves_them_queued(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plain = audio.synth_voice(800, sample_rate=16000) + audio.silence(1000)
    async with LiveEmulator().in_memory() as emulator:
        emulator.queue_transcript("queued words")
        seen = await _speak(emulator, [speech("marked words"), plain])
    finals = [e.text for e in seen if isinstance(e, LiveEvent.InputTranscript) and e.is_final]
    assert finals == ["marked words", "queued words"]
