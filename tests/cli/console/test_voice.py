"""The voice console on fake devices: generated speech in, the emulator answers, audio captured.

Everything runs in memory on the mock clock; the assertions are on what the user would see (the
plain lines printed when the output is not a terminal) and on what the speaker played.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import trio
import trio.testing

from livehandle import open_live_session
from livehandle._cli.console.fake import FakeBackend, FakeSpeaker, spoken
from livehandle._cli.console.loop import Stats, converse
from livehandle._cli.console.model import console_config, console_scenario
from livehandle._cli.console.view import View
from livehandle.testing import LiveEmulator

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle._cli.console.fake import ScriptItem


def hear(emulator: LiveEmulator, words: str) -> list[ScriptItem]:
    """Say ``words``: the emulator takes them as the transcript of the generated speech."""

    async def queue() -> None:
        emulator.queue_transcript(words)

    return [queue, spoken(words)]


def after(wait: Callable[[FakeSpeaker], Awaitable[object]], backend: FakeBackend) -> ScriptItem:
    """A script item that waits on the backend's speaker."""

    async def waiting() -> None:
        assert backend.speaker is not None
        await wait(backend.speaker)

    return waiting


async def run_console(
    script: Callable[[LiveEmulator, FakeBackend], list[ScriptItem]],
) -> tuple[list[str], Stats, FakeSpeaker, list[float]]:
    """Converse with the console's emulated model; the lines shown, stats, speaker, drains."""
    out = io.StringIO()
    stats = Stats()
    drained: list[float] = []
    emulator = LiveEmulator(console_scenario(), realtime=True)
    async with emulator.in_memory():
        backend = FakeBackend()
        backend.script = script(emulator, backend)
        transport = emulator.memory_transport()
        async with open_live_session(
            console_config(), endpoint=emulator.url, transport=transport
        ) as handle:
            reported = handle.playback_drained

            async def counting() -> None:
                drained.append(trio.current_time())
                await reported()

            handle.playback_drained = counting  # type: ignore[method-assign]
            async with backend.open(None, None) as (microphone, speaker):
                end = await converse(
                    handle, microphone, speaker, View(out, tty=False), stats, reply_timeout=20
                )
    assert end is None  # the microphone ended the conversation, not the server
    assert backend.speaker is not None
    return out.getvalue().splitlines(), stats, backend.speaker, drained


async def test_the_model_is_heard_with_its_tool_call_and_a_barge_in_flushes_playback(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def script(emulator: LiveEmulator, backend: FakeBackend) -> list[ScriptItem]:
        return [
            *hear(emulator, "What is the weather in Paris?"),
            after(FakeSpeaker.wait_dry, backend),  # the answer has played
            *hear(emulator, "Tell me a story."),
            after(lambda speaker: speaker.wait_played(1.5), backend),
            *hear(emulator, "Stop there, thanks."),
            after(FakeSpeaker.wait_dry, backend),
        ]

    lines, stats, speaker, drained = await run_console(script)

    assert "-- you speaking" in lines
    assert "you: What is the weather in Paris?" in lines
    assert "tool: get_weather(city='Paris') called" in lines
    assert "tool: get_weather -> sunny and 21 degrees" in lines
    assert "model: In Paris it is sunny and 21 degrees." in lines
    assert "-- model speaking" in lines
    # the story is cut off: the barge-in line says how much queued audio was dropped
    barge_ins = [line for line in lines if line.startswith("!! barge-in: model interrupted")]
    assert len(barge_ins) == 1
    assert speaker.flushes and speaker.flushes[0] > 0
    flushed_ms = round(speaker.flushes[0] / 48)
    assert barge_ins[0] == f"!! barge-in: model interrupted, {flushed_ms} ms of playback flushed"
    story = [line for line in lines if line.startswith("model: Once upon a time")]
    assert len(story) == 1 and story[0].endswith(" [interrupted]")
    assert "you: Stop there, thanks." in lines
    # every turn's end is shown with its latency (the interrupted one says so)
    ends = [line for line in lines if line.startswith("-- turn ")]
    assert ends[0].startswith("-- turn 1 done (latency ")
    assert any(line.endswith("(interrupted)") for line in ends)
    assert stats.interruptions == 1
    assert stats.tool_calls == 1
    assert stats.turns == len(ends) >= 3
    assert stats.latencies_ms and all(ms >= 0 for ms in stats.latencies_ms)
    # the speaker heard the model, and each time it ran dry the session was told
    assert len(speaker.played) > 24000 * 2  # more than a second of model audio
    assert speaker.dry_count >= 2
    assert len(drained) == speaker.dry_count
    summary = stats.summary()
    assert summary.startswith(f"summary: {stats.turns} turns, 1 interruption, 1 tool call, ")
    assert summary.endswith(" ms")


async def test_speech_the_emulator_cannot_understand_is_answered_and_summarised(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def script(emulator: LiveEmulator, backend: FakeBackend) -> list[ScriptItem]:
        return [spoken("hello, can you hear me"), after(FakeSpeaker.wait_dry, backend)]

    lines, stats, speaker, drained = await run_console(script)

    heard = [line for line in lines if line.startswith("you: [speech ")]
    assert len(heard) == 1
    assert any(line.startswith('model: I heard "[speech ') for line in lines)
    assert stats.turns == 1 and stats.interruptions == 0 and stats.tool_calls == 0
    assert speaker.flushes == []
    assert drained
