"""A voice bot: stream speech in, play the model's audio out, and barge in while it talks.

Run it with no API key and it talks to the in-process emulator::

    python examples/voice_bot.py

Set ``GEMINI_API_KEY`` (or pass ``--endpoint wss://...``) to run the same script against
another server.  The "microphone" is generated speech and the "speaker" is a buffer written to
``voice_bot_reply.wav``; swap in your audio devices in a real bot.

What it shows:

* ``send_audio`` at real-time pace: the input VAD calls ``user_speech_started`` /
  ``user_speech_ended`` around the audio on its own;
* model audio from ``handle.stream()`` into a playback buffer, and ``playback_drained()`` when
  the buffer has played out;
* barge-in: the user talks over a long reply, the server interrupts it, the bot flushes its
  playback buffer on ``LiveEvent.Interrupted`` and no audio of the old reply plays after it.
"""

from __future__ import annotations

import argparse
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from livehandle import LiveConfig, LiveEvent, open_live_session
from livehandle.testing import Audio, LiveEmulator, Rule, Scenario, When, audio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle import LiveHandle

MIC_CHUNK_MS = 40
STORY = Scenario(
    rules=[
        Rule(When(text="story"), [Audio(6000, "Once upon a time, a long story began...")]),
        Rule(When(kind="speech"), [Audio(1200, "Sure, I stopped. What now?")]),
    ]
)


@asynccontextmanager
async def server(endpoint: str | None) -> AsyncIterator[str | None]:
    """The endpoint to use: the given one, Gemini (GEMINI_API_KEY), or an emulator started here."""
    if endpoint is not None or os.environ.get("GEMINI_API_KEY"):
        yield endpoint
        return
    async with LiveEmulator(STORY, realtime=True).running() as emu:
        emu.queue_transcript("Stop, stop, that is enough.")
        yield emu.url


async def speak(handle: LiveHandle, speech_ms: float) -> None:
    """Stream a breath of room tone, generated speech, then silence, at real-time pace."""
    pcm = (
        audio.silence(200)  # a real microphone hears the room before the user speaks
        + audio.synth_voice(speech_ms, sample_rate=16000)
        + audio.silence(1000)
    )
    for chunk in audio.chunked(pcm, MIC_CHUNK_MS, sample_rate=16000):
        await handle.send_audio(chunk)
        await trio.sleep(MIC_CHUNK_MS / 1000)


class Speaker:
    """A stand-in for a sound card: model audio goes into a buffer that plays in real time."""

    def __init__(self) -> None:
        self.played = bytearray()
        self.queued = bytearray()

    def write(self, pcm: bytes) -> None:
        """Queue model audio for playback."""
        self.queued += pcm

    def flush(self) -> None:
        """Barge-in: drop everything that has not played yet."""
        self.queued.clear()

    async def play(self, handle: LiveHandle) -> None:
        """Play 40 ms at a time; tell the handle whenever the buffer runs dry."""
        step = 24000 * 2 * MIC_CHUNK_MS // 1000
        while True:
            await trio.sleep(MIC_CHUNK_MS / 1000)
            if self.queued:
                self.played += self.queued[:step]
                del self.queued[:step]
                if not self.queued:
                    await handle.playback_drained()


async def main(endpoint: str | None, output: str) -> None:
    """Ask for a story, talk over it after a second, and wait for the answer to the barge-in."""
    speaker = Speaker()
    config = LiveConfig(instruction="You are a storyteller who stops when interrupted.")
    async with server(endpoint) as where, open_live_session(config, endpoint=where) as handle:
        began = trio.current_time()

        def say(line: str) -> None:
            print(f"[{trio.current_time() - began:5.2f}s] {line}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(speaker.play, handle)
            await handle.send_text("Tell me a story.")
            talked_over = False
            turns_after_barge_in = 0  # the interrupted turn's end, then the answer's end
            async for event in handle.stream():
                match event:
                    case LiveEvent.Audio(data=pcm):
                        speaker.write(pcm)
                        if not talked_over and len(speaker.played) >= 24000 * 2:
                            talked_over = True  # a second of the story has played
                            say("user starts talking over the model")
                            nursery.start_soon(speak, handle, 1500)
                    case LiveEvent.Interrupted():
                        speaker.flush()
                        turns_after_barge_in = 0
                        say("model interrupted: unplayed audio flushed")
                    case LiveEvent.InputTranscript(text=text, is_final=True):
                        say(f"user said: {text}")
                    case LiveEvent.OutputTranscript(text=text, is_final=True):
                        say(f"model said: {text}")
                    case LiveEvent.TurnComplete() if talked_over:
                        turns_after_barge_in += 1
                        if turns_after_barge_in == 2:
                            break
            nursery.cancel_scope.cancel()
        interruptions = handle.telemetry.snapshot()["interruptions"]
        say(f"done: {interruptions} barge-in(s); client VAD saw the user: {handle.voice_state()}")
    played = bytes(speaker.played)
    audio.write_wav(output, played, sample_rate=24000)
    print(f"model audio played: {audio.duration_ms(played, sample_rate=24000):.0f} ms -> {output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL (default: emulator)")
    parser.add_argument("--output", default="voice_bot_reply.wav")
    args = parser.parse_args()
    trio.run(main, args.endpoint, args.output)
