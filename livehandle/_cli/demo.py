"""``python -m livehandle demo``: a whole voice conversation, printed as it happens, no API key.

It starts the emulator in-process (unless ``--endpoint``, ``GEMINI_API_KEY`` or
``GOOGLE_API_KEY`` names another server, chosen as ``talk`` chooses) and runs a scripted
conversation through a real :class:`~livehandle.LiveHandle`:

1. the user asks for the weather, in generated speech streamed at real-time pace; the model
   calls a real ``@tool`` (``get_weather``) and speaks the answer;
2. the user asks for a story; while the model tells it, the user talks over it: the server
   interrupts the model, the demo flushes its playback buffer, and the model answers the
   interruption;
3. the session ends with a clean disconnect.

The timeline shows who speaks, the transcripts, the tool call and the interruption, with times.
The model audio that "played" is written to a WAV file, and a telemetry summary closes the run.
Against another server the same script runs and every wait is bounded.  A server that sends
nothing back within ``ANSWER_TIMEOUT`` of a question ends the demo at once with a one-line reason;
a model that answers but does not follow the script (no tool call, an answer too short to talk
over, no interruption) makes the demo name each step that did not happen, in the summary and in a
one-line reason, and exit with status 1.

Ctrl-C stops it cleanly: the session is closed, ``livehandle demo: interrupted`` is the one line
on stderr, and the exit status is 0 (a second Ctrl-C stops waiting for the clean close).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import trio

from livehandle._cli._exit import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, find_exception
from livehandle._cli._options import add_endpoint_option
from livehandle._cli.console.model import get_weather_tool

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from livehandle._cli.talk import Target
    from livehandle._handle import LiveHandle
    from livehandle._transport import Transport

__all__ = ["add_parser", "run"]

PROG = "livehandle demo"
MIC_MS = 20  # microphone chunk
PLAYBACK_MS = 40  # speaker tick
ANSWER_TIMEOUT = 8.0  # seconds after a question for the first sign of an answer
REPLY_TIMEOUT = 15.0  # seconds to wait for each answer to finish
BARGE_IN_AFTER = 1.5  # seconds of the story played before the user talks over it
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
            "to the built-in Gemini Live emulator unless --endpoint, GEMINI_API_KEY or "
            "GOOGLE_API_KEY is given."
        ),
        epilog=(
            "Exit status: 0 every step happened (or Ctrl-C); 1 a step did not happen, the server "
            "answered nothing, or the session failed; 2 bad arguments."
        ),
    )
    add_endpoint_option(parser)
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(tempfile.gettempdir()) / "livehandle-demo.wav",
        help="where to write the model audio (default: %(default)s)",
    )
    parser.set_defaults(handler=run)
    return parser


class DemoFailed(Exception):
    """The demo cannot go on (the server answers nothing); the message is the one-line reason."""


def run(args: argparse.Namespace) -> int:
    """Run the demo; return the exit status."""
    from livehandle._cli.talk import choose_target
    from livehandle._errors import SessionError

    try:
        target = choose_target(args.endpoint, os.environ)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        missing = trio.run(_until_interrupted, target, args.output, sys.stdout)
    except BaseException as exc:  # trio wraps task errors in exception groups
        if (
            find_exception(exc, KeyboardInterrupt) is not None
        ):  # before the signal handler, or a second
            _error("interrupted")
            return EXIT_OK
        failure = find_exception(exc, DemoFailed) or find_exception(exc, SessionError)
        if failure is None:
            raise
        _error(str(failure) or type(failure).__name__)
        return EXIT_FAILURE
    if missing is None:
        _error("interrupted")
        return EXIT_OK
    if missing:
        steps = "; ".join(step.split(":", 1)[0] for step in missing)
        _error(f"{len(missing)} step(s) of the demo did not happen: {steps} (see the summary)")
        return EXIT_FAILURE
    return EXIT_OK


async def _until_interrupted(target: Target, output: Path, out: TextIO) -> list[str] | None:
    """Run :func:`demo` until it ends or SIGINT cancels it; None when it was interrupted."""
    missing: list[str] | None = None
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def watch() -> None:
                async for _ in signals:
                    if scope.cancel_called:
                        raise KeyboardInterrupt  # a second Ctrl-C: stop waiting for a clean end
                    scope.cancel()

            nursery.start_soon(watch)
            with scope:
                missing = await demo(target, output, out)
            nursery.cancel_scope.cancel()
    return missing


async def demo(
    target: Target | None, output: Path, out: TextIO, *, transport: Transport | None = None
) -> list[str]:
    """The scripted conversation (see the module docstring); prints to ``out``.

    ``target`` None (or one without an endpoint) means the built-in emulator; ``transport``
    replaces trio-websocket (tests use an emulator's in-memory transport).  Returns the steps
    that did not happen, each as ``"what: why"`` (empty when the script ran as written).

    Raises:
        DemoFailed: the server sent nothing back within ``ANSWER_TIMEOUT`` of a question.
    """
    from livehandle import LiveConfig, open_live_session
    from livehandle.testing import audio

    config = LiveConfig(
        instruction="You are a friendly voice assistant. Keep answers short.",
        tools=[get_weather_tool()],
    )
    print(
        "livehandle demo: a scripted voice conversation (speech in, speech out, a tool call, "
        "a barge-in)\n",
        file=out,
    )
    timeline = _Timeline(out)
    async with _server(target, timeline) as (where, emulator):
        async with open_live_session(config, endpoint=where, transport=transport) as handle:
            timeline.say("session", f"connected; model {config.model}")
            speaker = _Speaker(handle)
            turns = _Narrator(handle, speaker, timeline)
            missing: list[str] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(speaker.play)
                await nursery.start(turns.run)
                await _exchange(handle, emulator, timeline, turns, WEATHER, missing)
                await _exchange(handle, emulator, timeline, turns, STORY, None)
                barged = await speaker.wait_for_playback(BARGE_IN_AFTER, turns.reply_ended)
                if barged:
                    timeline.say("user", "starts talking over the story")
                    await _exchange(handle, emulator, timeline, turns, STOP, missing)
                elif not await turns.wait_for_reply():
                    missing.append(_unfinished(STORY))
                await speaker.wait_until_drained()
                nursery.cancel_scope.cancel()
            missing += _skipped_steps(turns, barged=barged)
            await handle.disconnect()
            end = await handle.done()
            timeline.say("session", f"disconnected cleanly (close code {end.code})")
        played = bytes(speaker.played)
        try:
            audio.write_wav(output, played, sample_rate=24000)
        except OSError as exc:
            raise DemoFailed(f"cannot write {output}: {exc.strerror or exc}") from None
        _summary(handle, played, output, out, missing)
    return missing


async def _exchange(
    handle: LiveHandle,
    emulator: Any,
    timeline: _Timeline,
    turns: _Narrator,
    words: str,
    missing: list[str] | None,
) -> None:
    """Say ``words``; fail fast if nothing answers; with ``missing``, wait for the whole reply.

    After a barge-in (``words`` is :data:`STOP`) the cut turn ends before the reply does.
    """
    mark = turns.answers
    await _ask(handle, emulator, timeline, words)
    await turns.wait_for_answer(words, mark)
    if missing is not None and not await turns.wait_for_reply(after_interruption=words == STOP):
        missing.append(_unfinished(words))


def _unfinished(words: str) -> str:
    return f'a reply: the answer to "{words}" did not finish within {REPLY_TIMEOUT:g} s'


def _skipped_steps(turns: _Narrator, *, barged: bool) -> list[str]:
    """The scripted steps the model did not take, each as ``"what: why"``."""
    skipped = []
    if not turns.tool_calls:
        skipped.append("the tool call: the model answered without calling get_weather")
    if not barged:
        skipped.append(
            f"the barge-in: the answer to the story ended before {BARGE_IN_AFTER:g} s of it "
            "had played, so the user never talked over it"
        )
    elif not turns.interruptions:
        skipped.append(
            "the barge-in: the user talked over the story but the server never interrupted "
            "the model"
        )
    return skipped


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

    def __init__(self, target: Target | None, timeline: _Timeline) -> None:
        self._target = target
        self._timeline = timeline
        self._emulator: Any = None

    async def __aenter__(self) -> tuple[Any, Any]:
        if self._target is not None and self._target.endpoint is not None:
            self._timeline.say("session", self._target.description)  # never shows a key
            return self._target.endpoint, None
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


class _Changes:
    """Wakes the tasks waiting for a condition on its owner's state whenever that state changes."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._event.wait()


class _Speaker:
    """A stand-in sound card: model audio plays out in real time.

    The handle hears when it runs dry (``playback_drained``); a barge-in flushes it.  Every tick
    wakes its waiters, whether or not anything played, so a wait also sees other conditions
    (a reply that ended) within a tick.
    """

    def __init__(self, handle: LiveHandle) -> None:
        self._handle = handle
        self.played = bytearray()
        self.queued = bytearray()
        self._ticks = _Changes()

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
                if not self.queued:
                    await self._handle.playback_drained()
            self._ticks.notify()

    async def wait_for_playback(self, seconds: float, ended: Callable[[], bool]) -> bool:
        """Wait until ``seconds`` of the current reply have played.

        False when the reply ``ended()`` and played out before that, or after REPLY_TIMEOUT.
        """
        target = len(self.played) + int(seconds * 24000) * 2

        def reached_or_over() -> bool:
            return len(self.played) >= target or (ended() and not self.queued)

        with trio.move_on_after(REPLY_TIMEOUT):
            await self._ticks.wait_until(reached_or_over)
        return len(self.played) >= target

    async def wait_until_drained(self) -> None:
        with trio.move_on_after(REPLY_TIMEOUT):
            await self._ticks.wait_until(lambda: not self.queued)


class _Narrator:
    """The one reader of the session's events: prints the timeline and feeds the speaker.

    The script waits on it (:meth:`wait_for_answer`, :meth:`wait_for_reply`), so a turn's lines
    are printed before the script goes on to the next thing it says.  It counts what the script
    checks afterwards: answers (any model output), tool calls and interruptions.
    """

    def __init__(self, handle: LiveHandle, speaker: _Speaker, timeline: _Timeline) -> None:
        self._handle = handle
        self._speaker = speaker
        self._timeline = timeline
        self.answers = 0  # model output events (audio, transcript, text, tool call, turn end)
        self.tool_calls = 0
        self.interruptions = 0
        self._completed = 0  # TurnCompletes narrated so far
        self._waited = 0  # of those, the ones a wait has consumed
        self._changes = _Changes()

    def reply_ended(self) -> bool:
        """A turn has completed that no wait has consumed yet."""
        return self._completed > self._waited

    async def wait_for_answer(self, question: str, mark: int) -> None:
        """Wait for any model output counted after ``mark`` (the count before ``question``).

        Raises:
            DemoFailed: nothing came within ANSWER_TIMEOUT.
        """
        with trio.move_on_after(ANSWER_TIMEOUT):
            await self._changes.wait_until(lambda: self.answers > mark)
        if self.answers == mark:
            raise DemoFailed(
                f"the server sent no answer within {ANSWER_TIMEOUT:g} s after the user said "
                f'"{question}" (is it a Live API server that hears speech?)'
            )

    async def wait_for_reply(self, *, after_interruption: bool = False) -> bool:
        """Wait (at most REPLY_TIMEOUT) for the model's answer to be complete and narrated.

        Returns False when it timed out.
        """
        target = self._waited + (2 if after_interruption else 1)  # a cut turn ends first
        with trio.move_on_after(REPLY_TIMEOUT):
            await self._changes.wait_until(lambda: self._completed >= target)
        done = self._completed >= target
        self._waited = max(target, self._completed)
        return done

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Narrate until cancelled."""
        from livehandle import LiveEvent

        say, speaker = self._timeline.say, self._speaker
        answer_kinds = _answer_kinds()
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
                    self.tool_calls += len(calls)
                    for call in calls:
                        args = ", ".join(f"{k}={v!r}" for k, v in (call.args or {}).items())
                        say("model", f"calls the tool {call.name}({args})")
                case LiveEvent.ToolExecution(name=name, result=result):
                    say("tool", f"{name} answered {result}")
                case LiveEvent.Interrupted():
                    self.interruptions += 1
                    speaker.flush()
                    spoke = trio.current_time() - (speaking_since or trio.current_time())
                    speaking_since = None
                    say("model", f"interrupted after {spoke:.1f} s; playback flushed")
                case LiveEvent.OutputTranscript(text=text, is_final=True):
                    say("model", f'said: "{text}"')
                case LiveEvent.TurnComplete():
                    speaking_since = None
                    self._completed += 1
            if isinstance(event, answer_kinds):
                self.answers += 1
            self._changes.notify()


def _answer_kinds() -> tuple[type, ...]:
    from livehandle import LiveEvent

    return (
        LiveEvent.Audio,
        LiveEvent.OutputTranscript,
        LiveEvent.TextDelta,
        LiveEvent.ToolCall,
        LiveEvent.TurnComplete,
    )


def _summary(
    handle: LiveHandle, played: bytes, output: Path, out: TextIO, missing: list[str]
) -> None:
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
    if missing:
        lines.append("  did not happen:")
        lines += [f"    - {step}" for step in missing]
    print("\n".join(lines), file=out, flush=True)


def _error(reason: str) -> None:
    """Print ``reason`` as a single line on stderr."""
    print(f"{PROG}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
