"""``python -m livehandle demo``: a whole voice conversation, printed as it happens, no API key.

It starts the emulator in-process (unless ``--endpoint`` or ``GEMINI_API_KEY`` names another
server) and runs a scripted conversation through a real :class:`~livehandle.LiveHandle`:

1. the user asks for the weather, in generated speech streamed at real-time pace; the model
   calls a real ``@tool`` (``get_weather``) and speaks the answer;
2. the user asks for a story; while the model tells it, the user talks over it: the server
   interrupts the model, the demo flushes its playback buffer, and the model answers the
   interruption;
3. the session ends with a clean disconnect.

The timeline shows who speaks, the transcripts, the tool call and the interruption, with times.
The model audio that "played" is written to a WAV file, and a telemetry summary closes the run.
Against another server the same script runs; every wait is bounded, so a model that does not
follow the script only makes the timeline shorter.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import trio

from livehandle._cli._exit import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    import argparse

    from livehandle._handle import LiveHandle

__all__ = ["add_parser", "run"]

PROG = "livehandle demo"
MIC_MS = 20  # microphone chunk
PLAYBACK_MS = 40  # speaker tick
REPLY_TIMEOUT = 15.0  # seconds to wait for each answer
WEATHER = "What is the weather in Paris?"
STORY = "Tell me a story about the sea."
STOP = "Sorry, stop there. Thank you!"


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register the ``demo`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a scripted voice conversation against the built-in emulator",
        description=(
            "Run a scripted voice conversation (speech in, speech out, a tool call, a barge-in) "
            "through a real LiveHandle and print its timeline.  No API key is needed: it talks "
            "to the built-in Gemini Live emulator unless --endpoint or GEMINI_API_KEY is given."
        ),
    )
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL to use instead")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(tempfile.gettempdir()) / "livehandle-demo.wav",
        help="where to write the model audio (default: %(default)s)",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the demo; return the exit status."""
    from livehandle._errors import SessionError

    try:
        trio.run(demo, args.endpoint, args.output, sys.stdout)
    except SessionError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


async def demo(endpoint: str | None, output: Path, out: TextIO) -> None:
    """The scripted conversation (see the module docstring); prints to ``out``."""
    from livehandle import LiveConfig, open_live_session
    from livehandle.testing import audio

    config = LiveConfig(
        instruction="You are a friendly voice assistant. Keep answers short.",
        tools=[_weather_tool()],
    )
    print(
        "livehandle demo: a scripted voice conversation (speech in, speech out, a tool call, "
        "a barge-in)\n",
        file=out,
    )
    timeline = _Timeline(out)
    async with _server(endpoint, timeline) as (where, emulator):
        async with open_live_session(config, endpoint=where) as handle:
            timeline.say("session", f"connected; model {config.model}")
            speaker = _Speaker(handle)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(speaker.play)
                turns = _Narrator(handle, speaker, timeline)
                await nursery.start(turns.run)
                await _ask(handle, emulator, timeline, WEATHER)
                await turns.wait_for_reply()
                await _ask(handle, emulator, timeline, STORY)
                if await speaker.wait_for_playback(1.5):
                    timeline.say("user", "starts talking over the story")
                    await _ask(handle, emulator, timeline, STOP)
                    await turns.wait_for_reply(after_interruption=True)
                else:
                    await turns.wait_for_reply()
                await speaker.wait_until_drained()
                nursery.cancel_scope.cancel()
            await handle.disconnect()
            end = await handle.done()
            timeline.say("session", f"disconnected cleanly (close code {end.code})")
        played = bytes(speaker.played)
        audio.write_wav(output, played, sample_rate=24000)
        _summary(handle, played, output, out)


def _weather_tool() -> Any:
    from livehandle import tool

    @tool
    async def get_weather(city: str) -> str:
        """Current weather for a city.

        Args:
            city: the city's name, e.g. "Paris".
        """
        forecasts = {"paris": "sunny and 21 degrees", "oslo": "snowing at minus 3 degrees"}
        return forecasts.get(city.lower(), "mild and dry")

    return get_weather


class _Timeline:
    """Prints one line per moment of the conversation, timed from the start."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._began = trio.current_time()

    def say(self, who: str, what: str) -> None:
        elapsed = trio.current_time() - self._began
        print(f"[{elapsed:6.2f}s] {who:>7}  {what}", file=self._out, flush=True)


class _server:  # an async context manager used like a function
    """The endpoint to talk to, and the emulator when it is the built-in one."""

    def __init__(self, endpoint: str | None, timeline: _Timeline) -> None:
        self._endpoint = endpoint
        self._timeline = timeline
        self._emulator: Any = None

    async def __aenter__(self) -> tuple[str | None, Any]:
        if self._endpoint is not None:
            self._timeline.say("session", f"using {self._endpoint}")
            return self._endpoint, None
        if os.environ.get("GEMINI_API_KEY"):
            self._timeline.say("session", "using Gemini (GEMINI_API_KEY is set)")
            return None, None
        from livehandle.testing import LiveEmulator

        self._emulator = LiveEmulator(_script(), realtime=True)
        self._context = self._emulator.running()
        emulator = await self._context.__aenter__()
        self._timeline.say("session", f"built-in Gemini Live emulator at {emulator.url}")
        return emulator.url, emulator

    async def __aexit__(self, *exc_info: object) -> None:
        if self._emulator is not None:
            await self._context.__aexit__(*exc_info)


def _script() -> Any:
    """What the emulated model does in the demo."""
    from livehandle.testing import Audio, CallTools, Rule, Say, Scenario, ToolCallSpec, When

    return Scenario(
        rules=[
            Rule(
                When(text="weather"),
                [
                    CallTools([ToolCallSpec("get_weather", {"city": "Paris"})]),
                    Say("In Paris it is {result}."),
                ],
            ),
            Rule(
                When(text="story"),
                [
                    Audio(
                        9000,
                        "Once upon a time, a small boat left the harbour at dawn. The sea was "
                        "calm, the gulls were loud, and the old captain hummed a song about "
                        "the islands far away, where the water is warm and green.",
                    )
                ],
            ),
            Rule(When(text="stop"), [Say("Of course. Anything else I can do for you?")]),
        ]
    )


async def _ask(handle: LiveHandle, emulator: Any, timeline: _Timeline, words: str) -> None:
    """Say ``words`` (generated speech) into the microphone at real-time pace."""
    from livehandle.testing import audio

    if emulator is not None:
        emulator.queue_transcript(words)  # what the emulator "hears" in the generated voice
    speech = audio.synth_voice(len(words) * 60, sample_rate=16000, seed=words)
    pcm = audio.silence(200) + speech + audio.silence(900)
    seconds = audio.duration_ms(speech, sample_rate=16000) / 1000
    timeline.say("user", f'speaking: "{words}" ({seconds:.1f} s of generated speech)')
    for chunk in audio.chunked(pcm, MIC_MS, sample_rate=16000):
        await handle.send_audio(chunk)
        await trio.sleep(MIC_MS / 1000)


class _Speaker:
    """A stand-in sound card: model audio plays out in real time.

    The handle hears when it runs dry (``playback_drained``); a barge-in flushes it.
    """

    def __init__(self, handle: LiveHandle) -> None:
        self._handle = handle
        self.played = bytearray()
        self.queued = bytearray()
        self._progress = trio.Condition()

    def write(self, pcm: bytes) -> None:
        self.queued += pcm

    def flush(self) -> int:
        dropped = len(self.queued)
        self.queued.clear()
        return dropped

    async def play(self) -> None:
        step = 24000 * 2 * PLAYBACK_MS // 1000
        while True:
            await trio.sleep(PLAYBACK_MS / 1000)
            if self.queued:
                self.played += self.queued[:step]
                del self.queued[:step]
                async with self._progress:
                    self._progress.notify_all()
                if not self.queued:
                    await self._handle.playback_drained()

    async def wait_for_playback(self, seconds: float) -> bool:
        """Wait until ``seconds`` of the current reply have played; False on timeout."""
        target = len(self.played) + int(seconds * 24000) * 2
        with trio.move_on_after(REPLY_TIMEOUT):
            async with self._progress:
                while len(self.played) < target:
                    await self._progress.wait()
            return True
        return False

    async def wait_until_drained(self) -> None:
        with trio.move_on_after(REPLY_TIMEOUT):
            async with self._progress:
                while self.queued:
                    await self._progress.wait()


class _Narrator:
    """The one reader of the session's events: prints the timeline and feeds the speaker.

    The script waits on it (:meth:`wait_for_reply`), so a turn's lines are printed before the
    script goes on to the next thing it says.
    """

    def __init__(self, handle: LiveHandle, speaker: _Speaker, timeline: _Timeline) -> None:
        self._handle = handle
        self._speaker = speaker
        self._timeline = timeline
        self._completed = 0  # TurnCompletes narrated so far
        self._waited = 0  # of those, the ones a wait has consumed
        self._changed = trio.Condition()

    async def wait_for_reply(self, *, after_interruption: bool = False) -> None:
        """Wait (at most REPLY_TIMEOUT) for the model's answer to be complete and narrated."""
        target = self._waited + (2 if after_interruption else 1)  # a cut turn ends first
        with trio.move_on_after(REPLY_TIMEOUT):
            async with self._changed:
                while self._completed < target:
                    await self._changed.wait()
        self._waited = max(target, self._completed)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Narrate until cancelled."""
        from livehandle import LiveEvent

        say, speaker = self._timeline.say, self._speaker
        speaking_since: float | None = None
        stream = self._handle.stream()
        task_status.started()
        async for event in stream:
            match event:
                case LiveEvent.Audio(data=pcm):
                    speaker.write(pcm)
                    if speaking_since is None:
                        speaking_since = trio.current_time()
                        say("model", "speaking...")
                case LiveEvent.InputTranscript(text=text, is_final=True):
                    say("user", f'said: "{text}"')
                case LiveEvent.ToolCall(calls=calls):
                    for call in calls:
                        args = ", ".join(f"{k}={v!r}" for k, v in (call.args or {}).items())
                        say("model", f"calls the tool {call.name}({args})")
                case LiveEvent.ToolExecution(name=name, result=result):
                    say("tool", f"{name} answered {result}")
                case LiveEvent.Interrupted():
                    speaker.flush()
                    spoke = trio.current_time() - (speaking_since or trio.current_time())
                    speaking_since = None
                    say("model", f"interrupted after {spoke:.1f} s; playback flushed")
                case LiveEvent.OutputTranscript(text=text, is_final=True):
                    say("model", f'said: "{text}"')
                case LiveEvent.TurnComplete():
                    speaking_since = None
                    async with self._changed:
                        self._completed += 1
                        self._changed.notify_all()


def _summary(handle: LiveHandle, played: bytes, output: Path, out: TextIO) -> None:
    from livehandle.testing import audio

    t: dict[str, Any] = handle.telemetry.snapshot()
    latency = t["response_latency"]
    sent_s = t["audio_kbytes_in"] * 1024 / 32000
    received_s = t["audio_kbytes_out"] * 1024 / 48000
    lines = [
        "",
        "summary",
        f"  turns: {t['turn_count']}   interruptions: {t['interruptions']}   "
        f"tool calls answered: {handle.tool_stats.answered}",
        f"  response latency (end of speech -> first audio): p50 {latency['p50_ms']:.0f} ms, "
        f"p99 {latency['p99_ms']:.0f} ms over {latency['count']} replies",
        f"  audio sent: {sent_s:.1f} s ({t['audio_kbytes_in']:.0f} KiB)   "
        f"received: {received_s:.1f} s ({t['audio_kbytes_out']:.0f} KiB)",
        f"  model audio as played ({audio.duration_ms(played, sample_rate=24000) / 1000:.1f} s) "
        f"written to {output}",
    ]
    print("\n".join(lines), file=out, flush=True)
