"""The lanes: how raw session events become LiveEvents without a slow consumer stalling anything.

Four tasks, started together in the session's nursery:

* the **router** reads its own subscription to the L0 events and forwards each one to the fast
  lane, the control lane, or both (original-runtime §2.3).  On ``Interrupted`` it first cancels
  the current barge-in scope and marks the session interrupted, then forwards;
* the **fast lane** turns audio, text, transcripts, thoughts and VAD signals into LiveEvents at
  once.  Model audio is dropped while the session is marked interrupted, until the control lane
  has handled the interruption;
* the **control lane** owns the transcript and the turn pipeline: tool calls, interruptions,
  finished transcripts at turn end, GoAway, errors, connection events.  Async hooks run here,
  inline (a slow hook delays only this lane);
* the **telemetry lane** reads a second subscription (so it never waits for the others), updates
  :class:`~livehandle.runtime.telemetry.SessionTelemetry` and the ``session:`` state keys, and
  ticks every 100 ms; an optional emitter publishes ``Telemetry``/``TurnMetrics`` periodically.

LiveEvents go out on a :class:`~livehandle.broadcast.Broadcast`, which never blocks: a subscriber
that does not read only loses its own oldest events.  Lane channels are bounded: the control lane
is always lossless (the router waits); fast-lane classes follow the configured delivery policy,
lossless (wait) or drop-newest (counted in telemetry as dropped).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import attrs
import trio

from livehandle.errors import Lagged
from livehandle.events import LiveEvent, SessionEvent, SessionPhase
from livehandle.runtime.transcript import TranscriptBuffer

if TYPE_CHECKING:
    from livehandle.broadcast import Broadcast, Subscription
    from livehandle.config import Delivery
    from livehandle.runtime.state import State
    from livehandle.runtime.telemetry import SessionTelemetry

__all__ = ["Hooks", "Lanes", "UserTyped"]

log = logging.getLogger("livehandle.lanes")

TELEMETRY_TICK = 0.1  # seconds between telemetry-lane ticks (timing signals)

FastKind = Literal["audio", "media", "text", "transcript", "thought", "vad"]


@attrs.frozen
class UserTyped:
    """A control-lane command: the user typed ``text`` (sent successfully)."""

    text: str


ControlItem = SessionEvent | UserTyped


@attrs.frozen
class Hooks:
    """Application callbacks run by the lanes.

    Attributes:
        on_event: called on the control lane for every control-lane LiveEvent before it is
            published; may be async (awaited inline, so it delays only the control lane).
        on_audio: called on the fast lane with each chunk of model audio, synchronously (keep
            it quick: feed a playback buffer).
    """

    on_event: Callable[[LiveEvent], Awaitable[None] | None] | None = None
    on_audio: Callable[[bytes], None] | None = None


class Lanes:
    """The router and the lanes of one live session; see the module docstring."""

    def __init__(
        self,
        events: Subscription[SessionEvent],
        telemetry_events: Subscription[SessionEvent],
        live_events: Broadcast[LiveEvent],
        *,
        telemetry: SessionTelemetry,
        state: State,
        delivery: Delivery,
        capacity: int,
        telemetry_interval: float | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self._events = events
        self._telemetry_events = telemetry_events
        self._live = live_events
        self._telemetry = telemetry
        self._state = state
        self._delivery = delivery
        self._interval = telemetry_interval
        self._hooks = hooks or Hooks()
        # lossless or drop-newest per class (see _to_fast); the router is the only sender
        self._fast_send, self._fast_receive = trio.open_memory_channel[SessionEvent](capacity)
        # lossless: the router waits (control events are rare and must never be lost)
        self._control_send, self._control_receive = trio.open_memory_channel[ControlItem](capacity)
        self.transcript = TranscriptBuffer()
        self.interrupted = False
        self.barge_in_scope = trio.CancelScope()
        self._fast_scope = trio.CancelScope()
        self._control_scope = trio.CancelScope()
        self._background: list[trio.CancelScope] = []  # telemetry lane, emitter, router
        self._stopping = False
        self._errors = 0
        self._interruptions = 0
        self._fast_done = trio.Event()
        self._control_done = trio.Event()
        self._started_at = 0.0
        self._last_activity = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every lane until the session ends and the lanes have drained."""
        self._started_at = self._last_activity = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_router)
            nursery.start_soon(self._run_fast_lane)
            nursery.start_soon(self._run_control_lane)
            nursery.start_soon(self._run_telemetry_lane)
            if self._interval is not None:
                nursery.start_soon(self._run_emitter, self._interval)
            nursery.start_soon(self._end_stream_when_drained)
            task_status.started()

    async def _end_stream_when_drained(self) -> None:
        """Close the LiveEvent broadcast once both lanes published their last event.

        The lanes end after the session has ended (the router closes their channels), so every
        ``stream()`` ends right after ``Disconnected``, whoever ended the session.
        """
        await self._fast_done.wait()
        await self._control_done.wait()
        self._live.close()

    async def drain(self, grace: float) -> None:
        """Let the fast, then the control lane finish for at most ``grace`` seconds each.

        Called after the session has ended (so the router has closed the lane channels).  A lane
        still busy after its grace (a stuck hook) is cancelled; then the telemetry lane, the
        emitter and the router stop.
        """
        with trio.move_on_after(grace):
            await self._fast_done.wait()
        self._fast_scope.cancel()
        with trio.move_on_after(grace):
            await self._control_done.wait()
        self._control_scope.cancel()
        self._stopping = True
        for scope in self._background:
            scope.cancel()

    def _background_scope(self) -> trio.CancelScope:
        scope = trio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._background.append(scope)
        return scope

    async def send_control(self, item: ControlItem) -> None:
        """Queue a command for the control lane (lossless); dropped once the lane has ended."""
        try:
            await self._control_send.send(item)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            log.debug("control lane closed; dropping %r", item)

    # -- router -------------------------------------------------------------------------------

    async def _run_router(self) -> None:
        try:
            with self._background_scope():
                while True:
                    try:
                        event = await self._events.receive()
                    except Lagged as lag:
                        log.warning("router fell behind the session by %d events", lag.missed)
                        self._telemetry.record_lagged(lag.missed)
                        continue
                    except trio.EndOfChannel:
                        break
                    try:
                        await self._route(event)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        break  # a lane was cancelled during disconnect: nothing left to feed
        finally:
            self._fast_send.close()
            self._control_send.close()

    async def _route(self, event: SessionEvent) -> None:
        match event:
            case SessionEvent.AudioData():
                await self._to_fast(event, "audio")
            case SessionEvent.Media():
                await self._to_fast(event, "media")
            case SessionEvent.TextDelta():
                await self._to_fast(event, "text")
            case SessionEvent.TextComplete():
                await self._to_fast(event, "text")
                await self._control_send.send(event)  # the model side of a TEXT turn
            case SessionEvent.InputTranscription() | SessionEvent.OutputTranscription():
                await self._to_fast(event, "transcript")
                await self._control_send.send(event)
            case SessionEvent.Thought():
                await self._to_fast(event, "thought")
            case SessionEvent.VoiceActivityStart() | SessionEvent.VoiceActivityEnd():
                await self._to_fast(event, "vad")
            case SessionEvent.Interrupted():
                # Barge-in first: stop inline tools and blocking prompt work, stop audio.
                self.interrupted = True
                self.barge_in_scope.cancel()
                await self._control_send.send(event)
            case (
                SessionEvent.TurnComplete()
                | SessionEvent.GenerationComplete()
                | SessionEvent.ToolCall()
                | SessionEvent.ToolCallCancelled()
                | SessionEvent.GoAway()
                | SessionEvent.Connected()
                | SessionEvent.Disconnected()
                | SessionEvent.Error()
            ):
                await self._control_send.send(event)
            case _:
                pass  # phases, usage, resumption: the telemetry lane reads them itself

    async def _to_fast(self, event: SessionEvent, kind: FastKind) -> None:
        if getattr(self._delivery, kind) == "lossless":
            await self._fast_send.send(event)
            return
        try:
            self._fast_send.send_nowait(event)
        except trio.WouldBlock:
            self._telemetry.record_dropped(kind)

    # -- fast lane ----------------------------------------------------------------------------

    async def _run_fast_lane(self) -> None:
        try:
            with self._fast_scope:
                async for event in self._fast_receive:
                    self._fast(event)
        finally:
            self._fast_receive.close()  # a router waiting on a cancelled lane is released
            self._fast_done.set()

    def _fast(self, event: SessionEvent) -> None:
        publish = self._live.publish
        match event:
            case SessionEvent.AudioData(data=data):
                if self.interrupted:
                    self._telemetry.record_dropped("audio_after_interrupt")
                    return
                if self._hooks.on_audio is not None:
                    self._hooks.on_audio(data)
                publish(LiveEvent.Audio(data))
            case SessionEvent.Media(mime_type=mime, data=data):
                if not self.interrupted:
                    publish(LiveEvent.Media(mime, data))
            case SessionEvent.TextDelta(text=text):
                publish(LiveEvent.TextDelta(text))
            case SessionEvent.TextComplete(text=text):
                publish(LiveEvent.TextComplete(text))
            case SessionEvent.InputTranscription(text=text):
                publish(LiveEvent.InputTranscript(text))
            case SessionEvent.OutputTranscription(text=text):
                publish(LiveEvent.OutputTranscript(text))
            case SessionEvent.Thought(text=text):
                publish(LiveEvent.Thought(text))
            case SessionEvent.VoiceActivityStart():
                publish(LiveEvent.VadStart())
            case SessionEvent.VoiceActivityEnd():
                publish(LiveEvent.VadEnd())

    # -- control lane -------------------------------------------------------------------------

    async def _run_control_lane(self) -> None:
        try:
            with self._control_scope:
                async for item in self._control_receive:
                    await self._control(item)
        finally:
            self._control_receive.close()
            self._control_done.set()

    async def _control(self, item: ControlItem) -> None:
        transcript = self.transcript
        match item:
            case UserTyped(text=text):
                transcript.add_typed(text)
            case SessionEvent.InputTranscription(text=text, interim=False):
                transcript.add_user_speech(text)
            case SessionEvent.OutputTranscription(text=text):
                transcript.add_model_speech(text)
            case SessionEvent.TextComplete(text=text):
                if not transcript.model_text:  # AUDIO turns are already transcribed
                    transcript.add_model_speech(text)
            case SessionEvent.ToolCall(calls=calls):
                await self._emit(LiveEvent.ToolCall(calls))
            case SessionEvent.ToolCallCancelled(ids=ids):
                await self._emit(LiveEvent.ToolCancelled(ids))
            case SessionEvent.GenerationComplete():
                await self._emit(LiveEvent.GenerationComplete())
            case SessionEvent.Interrupted():
                transcript.mark_interrupted()
                self.interrupted = False  # model audio flows again (the next reply's)
                self.barge_in_scope = trio.CancelScope()
                await self._emit(LiveEvent.Interrupted())
            case SessionEvent.TurnComplete(reason=reason):
                turn = transcript.finish_turn()
                if turn.user:
                    await self._emit(LiveEvent.InputTranscript(turn.user, is_final=True))
                if turn.model:
                    await self._emit(LiveEvent.OutputTranscript(turn.model, is_final=True))
                await self._emit(LiveEvent.TurnComplete(reason))
            case SessionEvent.GoAway(time_left=time_left):
                await self._emit(LiveEvent.GoAway(time_left))
            case SessionEvent.Connected(session_id=session_id, resumed=resumed):
                await self._emit(LiveEvent.Connected(session_id, resumed))
            case SessionEvent.Error(error=error):
                await self._emit(LiveEvent.Error(error))
            case SessionEvent.Disconnected(end=end):
                await self._emit(LiveEvent.Disconnected(end))
            case _:
                pass

    async def _emit(self, event: LiveEvent) -> None:
        hook = self._hooks.on_event
        if hook is not None:
            result = hook(event)
            if inspect.isawaitable(result):
                await result
        self._live.publish(event)

    # -- telemetry lane -----------------------------------------------------------------------

    async def _run_telemetry_lane(self) -> None:
        self._init_signals()
        next_tick = trio.current_time() + TELEMETRY_TICK
        with self._background_scope():
            while True:
                with trio.move_on_at(next_tick):
                    try:
                        event = await self._telemetry_events.receive()
                    except Lagged as lag:
                        self._telemetry.record_lagged(lag.missed)
                        continue
                    except trio.EndOfChannel:
                        return
                    self._observe(event)
                    continue
                self._tick()
                next_tick += TELEMETRY_TICK

    def _init_signals(self) -> None:
        state = self._state
        for key, value in (
            ("session:interrupt_count", 0),
            ("session:error_count", 0),
            ("session:is_user_speaking", False),
            ("session:is_model_speaking", False),
            ("session:go_away_received", False),
            ("session:resumable", False),
        ):
            state.set(key, value)

    def _observe(self, event: SessionEvent) -> None:
        telemetry, state = self._telemetry, self._state
        match event:
            case SessionEvent.AudioData(data=data):
                telemetry.record_audio_out(len(data))
            case SessionEvent.TextDelta():
                telemetry.record_text_out()
            case SessionEvent.VoiceActivityStart():
                telemetry.record_turn_start()
                state.set("session:is_user_speaking", True)
            case SessionEvent.VoiceActivityEnd():
                telemetry.record_speech_end()
                state.set("session:is_user_speaking", False)
            case SessionEvent.Interrupted():
                telemetry.record_interruption()
                self._interruptions += 1
                state.set("session:interrupt_count", self._interruptions)
            case SessionEvent.TurnComplete():
                telemetry.record_turn_complete()
            case SessionEvent.Usage(usage=usage):
                telemetry.record_usage(usage)
            case SessionEvent.PhaseChanged(new=phase):
                state.set("session:phase", phase.value)
                state.set("session:is_model_speaking", phase is SessionPhase.MODEL_SPEAKING)
            case SessionEvent.GoAway(time_left=time_left):
                state.set("session:go_away_received", True)
                state.set("session:go_away_time_left", time_left)
            case SessionEvent.SessionResumeUpdate(resumable=resumable):
                state.set("session:resumable", resumable)
            case SessionEvent.Error(error=error):
                self._errors += 1
                state.set("session:error_count", self._errors)
                state.set("session:last_error", str(error))
            case SessionEvent.Disconnected():
                state.set("session:disconnected", True)
            case _:
                return
        self._last_activity = trio.current_time()

    def _tick(self) -> None:
        now = trio.current_time()
        self._state.set("session:elapsed_ms", round((now - self._started_at) * 1000))
        self._state.set("session:silence_ms", round((now - self._last_activity) * 1000))

    async def _run_emitter(self, interval: float) -> None:
        """Publish Telemetry (and TurnMetrics after new turns) every ``interval`` seconds.

        Keeps running with no subscriber: publishing to nobody is a no-op, never an error.
        """
        turns = 0
        with self._background_scope():
            while True:
                await trio.sleep(interval)
                snapshot = self._telemetry.snapshot()
                count = snapshot.get("turn_count")
                if isinstance(count, int) and count > turns:
                    turns = count
                    self._live.publish(
                        LiveEvent.TurnMetrics(
                            turns,
                            _maybe_float(snapshot.get("last_response_latency_ms")),
                            _maybe_int(snapshot.get("prompt_token_count")),
                            _maybe_int(snapshot.get("response_token_count")),
                        )
                    )
                self._live.publish(LiveEvent.Telemetry(snapshot))


def _maybe_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _maybe_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
