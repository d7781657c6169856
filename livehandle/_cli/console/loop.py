"""The console's session loop: microphone to the session, the session's events to the view.

:class:`Narrator` is the one reader of the session's events, in voice and text mode alike: it
feeds the speaker, flushes it on a barge-in, and tells the view who speaks, the transcripts,
tool calls and results, barge-ins and each turn's latency, while :class:`Stats` counts what the
summary reports.  :func:`converse` runs a voice conversation: it streams the microphone into the
session, reports ``playback_drained()`` each time the speaker runs dry, and when the microphone
ends lets the last reply finish before returning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle._cli.console.devices import MIC_CHUNK_MS

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Callable

    from livehandle._cli.console.devices import Microphone, Speaker
    from livehandle._cli.console.view import View
    from livehandle._events import LiveEvent, SessionEnd
    from livehandle._handle import LiveHandle

__all__ = ["SETTLE_SECONDS", "Narrator", "Stats", "converse"]

#: A microphone chunk at least this loud (dBFS) shows the user as speaking.
SPEECH_DBFS = -40.0
#: After this long below it the user is no longer shown as speaking.
QUIET_SECONDS = 0.5
#: After the microphone ends, how long a quiet session is given to start one more reply.
SETTLE_SECONDS = 1.0


class Stats:
    """What the closing summary reports."""

    def __init__(self) -> None:
        self.turns = 0
        self.interruptions = 0
        self.tool_calls = 0
        self.latencies_ms: list[float] = []
        self.dropped_ms = 0.0  # model audio the speaker had no room for
        self.mic_dropped_ms = 0.0  # microphone audio lost while the loop was behind

    def summary(self) -> str:
        """One line: turns, interruptions, tool calls and the mean latency."""
        mean = (
            f"{sum(self.latencies_ms) / len(self.latencies_ms):.0f} ms"
            if self.latencies_ms
            else "n/a"
        )
        line = (
            f"summary: {_count(self.turns, 'turn')}, "
            f"{_count(self.interruptions, 'interruption')}, "
            f"{_count(self.tool_calls, 'tool call')}, mean latency {mean}"
        )
        if self.dropped_ms:
            line += f"; {self.dropped_ms:.0f} ms of model audio dropped (playback queue full)"
        if self.mic_dropped_ms:
            line += (
                f"; {self.mic_dropped_ms:.0f} ms of microphone audio dropped "
                "(the console fell behind)"
            )
        return line


class Narrator:
    """Reads the session's events, feeds the speaker (if any) and tells the view."""

    def __init__(
        self,
        handle: LiveHandle,
        view: View,
        stats: Stats,
        *,
        speaker: Speaker | None = None,
        show_user_text: bool = True,
    ) -> None:
        self.handle = handle
        self.view = view
        self.stats = stats
        self.speaker = speaker
        self.show_user_text = show_user_text
        self.busy = False  # a turn is under way (user speech or model output since the last end)
        self.model_speaking = False
        self.end: SessionEnd | None = None  # how the session ended, once it has
        self._interrupted = False  # the current turn was barged in on
        self._latencies_seen = 0
        self._changed = trio.Event()

    async def run(self, events: AsyncIterable[LiveEvent]) -> None:
        """Narrate ``events`` (a subscription) until the session ends or this is cancelled."""
        async for event in events:
            self.show(event)
            self.notify()
            if self.end is not None:
                return

    def show(self, event: LiveEvent) -> None:
        """Handle one event."""
        from livehandle._events import LiveEvent

        view = self.view
        match event:
            case LiveEvent.Audio(data=data):
                self.busy = True
                if self.speaker is not None:
                    self.speaker.write(data)
                    if not self.model_speaking:
                        self.model_speaking = True
                        view.speaking("model")
            case LiveEvent.VadStart():
                self.busy = True
                view.speaking("you")
            case LiveEvent.InputTranscript(text=text, is_final=final):
                self.busy = True
                if self.show_user_text:
                    view.final("you", text) if final else view.partial("you", text)
            case (
                LiveEvent.OutputTranscript(text=text, is_final=False)
                | LiveEvent.TextDelta(text=text)
            ):
                self.busy = True
                view.partial("model", text)
            case LiveEvent.OutputTranscript(text=text) | LiveEvent.TextComplete(text=text):
                view.final("model", text, " [interrupted]" if self._interrupted else "")
            case LiveEvent.ToolCall(calls=calls):
                for call in calls:
                    shown = ", ".join(f"{k}={v!r}" for k, v in (call.args or {}).items())
                    view.line(f"tool: {call.name}({shown}) called", tag="tool")
                self.stats.tool_calls += len(calls)
            case LiveEvent.ToolExecution(name=name, result=result):
                view.line(f"tool: {name} -> {_result_text(result)}", tag="tool")
            case LiveEvent.ToolCancelled(ids=ids, reason=reason):
                view.line(f"tool: {len(ids)} call(s) cancelled ({reason})", tag="tool")
            case LiveEvent.Interrupted():
                self._barge_in()
            case LiveEvent.TurnComplete():
                self._turn_complete()
            case LiveEvent.Reconnecting(reason=reason, attempt=attempt):
                view.line(
                    f"!! connection lost ({reason}); reconnecting, attempt {attempt}", tag="!"
                )
            case LiveEvent.Resumed(gap_ms=gap):
                view.line(f"-- resumed after {gap:.0f} ms")
            case LiveEvent.Error(error=error):
                view.line(f"!! {type(error).__name__}: {error}", tag="!")
            case LiveEvent.Disconnected(end=end):
                self.end = end

    def _barge_in(self) -> None:
        flushed = self.speaker.flush() if self.speaker is not None else 0
        self.stats.interruptions += 1
        self._interrupted = True
        self.model_speaking = False
        ms = flushed / 2 / 24000 * 1000
        self.view.line(f"!! barge-in: model interrupted, {ms:.0f} ms of playback flushed", tag="!")
        self.view.speaking("you")

    def _turn_complete(self) -> None:
        self.stats.turns += 1
        latency = self.handle.telemetry.response_latency
        if self._interrupted:
            shown = "interrupted"
        elif latency.count > self._latencies_seen:
            self.stats.latencies_ms.append(latency.last)
            shown = f"latency {latency.last:.0f} ms"
        else:
            shown = "latency n/a"
        self._latencies_seen = latency.count
        self._interrupted = False
        self.busy = False
        self.view.line(f"-- turn {self.stats.turns} done ({shown})")
        if self.speaker is None:
            self.view.speaking(None)

    def ran_dry(self) -> None:
        """The speaker played everything queued."""
        if self.model_speaking:
            self.model_speaking = False
            self.view.speaking(None)
        self.notify()

    def notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checked after each event."""
        while not condition():
            await self._changed.wait()

    async def wait_quiet(self, settle: float = SETTLE_SECONDS) -> None:
        """Wait until no turn is under way and the speaker is empty, and stays so ``settle`` s."""
        while True:
            await self.wait_until(self._quiet)
            with trio.move_on_after(settle):
                await self.wait_until(lambda: not self._quiet())
                continue
            return

    def _quiet(self) -> bool:
        queued = self.speaker.queued if self.speaker is not None else 0
        return not self.busy and not queued


async def converse(
    handle: LiveHandle,
    microphone: Microphone,
    speaker: Speaker,
    view: View,
    stats: Stats,
    *,
    reply_timeout: float = 30.0,
) -> SessionEnd | None:
    """A voice conversation until the microphone ends (or this is cancelled).

    Returns how the session ended when it ended on its own, else None.
    """
    narrator = Narrator(handle, view, stats, speaker=speaker)
    try:
        with handle.stream() as events:  # subscribed before anything is sent: nothing missed
            async with trio.open_nursery() as nursery:

                async def narrate() -> None:
                    await narrator.run(events)
                    nursery.cancel_scope.cancel()  # the session ended

                nursery.start_soon(narrate)
                nursery.start_soon(_report_drained, handle, speaker, narrator)
                await _stream_microphone(handle, microphone, view)
                await handle.writer().send_audio_stream_end()
                with trio.move_on_after(reply_timeout):
                    await narrator.wait_quiet()
                nursery.cancel_scope.cancel()
    finally:
        stats.dropped_ms = speaker.dropped / 2 / 24000 * 1000
        stats.mic_dropped_ms = microphone.dropped * MIC_CHUNK_MS
    return narrator.end


async def _stream_microphone(handle: LiveHandle, microphone: Microphone, view: View) -> None:
    """Send the microphone's chunks; meter them, and say "you" speak while they are loud."""
    from livehandle.testing import audio

    quiet_since: float | None = None
    while (chunk := await microphone.read()) is not None:
        level = audio.rms_dbfs(chunk)
        view.level(level)
        now = trio.current_time()
        if level >= SPEECH_DBFS:
            quiet_since = None
            view.speaking("you")
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_SECONDS and view.who == "you":
            view.speaking(None)
        await handle.send_audio(chunk)


async def _report_drained(handle: LiveHandle, speaker: Speaker, narrator: Narrator) -> None:
    while True:
        await speaker.wait_dry()
        narrator.ran_dry()
        await handle.playback_drained()


def _result_text(result: dict[str, object]) -> str:
    if len(result) == 1:  # {"output": ...} or {"result": ...}: the value says it all
        return str(next(iter(result.values())))
    return ", ".join(f"{k}={v!r}" for k, v in result.items())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
