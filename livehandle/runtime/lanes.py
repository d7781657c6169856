"""The lanes: how raw session events become LiveEvents without a slow consumer stalling anything.

* the **router** reads one subscription to the L0 events, in wire order, and feeds the fast lane
  and the control lane.  On ``Interrupted`` it first cancels the barge-in group (inline tools and
  hooks stop) and marks everything routed so far as the interrupted turn, then tells the control
  lane.  It never waits for the control lane: control events are rare, its channel is bounded,
  and an overflow is counted and reported as a ``Lagged`` error event, never lost silently;
* the **fast lane** turns audio, text, transcripts, thoughts and VAD signals into LiveEvents at
  once.  Model audio of an interrupted turn is dropped; new audio after a barge-in is held (not
  dropped) until the control lane has published ``Interrupted``, so an application that flushes
  playback on ``Interrupted`` never flushes the next reply;
* the **control lane** owns the transcript and the turn pipeline: typed turns (in send order),
  tool calls, interruptions, finished transcripts at turn end, GoAway, errors, connection events.
  Hooks run here, inline, inside the barge-in group;
* the **telemetry lane** reads its own subscription, updates
  :class:`~livehandle.runtime.telemetry.SessionTelemetry` and the ``session:`` state keys, and
  ticks every 100 ms; an optional emitter publishes ``Telemetry``/``TurnMetrics`` periodically.

LiveEvents go out on a :class:`~livehandle.broadcast.Broadcast`, which never blocks: a subscriber
that does not read only loses its own oldest events.  The fast lane's channel is bounded; each
event class follows the configured delivery policy, lossless (the router waits) or drop-newest
(counted in telemetry as dropped).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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

__all__ = ["CONTROL_EVENTS", "ROUTED_EVENTS", "BargeIn", "Hooks", "Lanes"]

log = logging.getLogger("livehandle.lanes")

TELEMETRY_TICK = 0.1  # seconds between telemetry-lane ticks (timing signals)

FastKind = Literal["audio", "media", "text", "transcript", "thought", "vad"]

#: Events the fast lane turns into LiveEvents (the router also sees the control events).
ROUTED_EVENTS: tuple[type, ...] = (
    SessionEvent.AudioData,
    SessionEvent.Media,
    SessionEvent.TextDelta,
    SessionEvent.TextComplete,
    SessionEvent.InputTranscription,
    SessionEvent.OutputTranscription,
    SessionEvent.Thought,
    SessionEvent.VoiceActivityStart,
    SessionEvent.VoiceActivityEnd,
    SessionEvent.Interrupted,
    SessionEvent.TurnComplete,
)

#: Events the router hands to the control lane.
CONTROL_EVENTS: tuple[type, ...] = (
    SessionEvent.UserTextSent,
    SessionEvent.InputTranscription,
    SessionEvent.OutputTranscription,
    SessionEvent.TextComplete,
    SessionEvent.ToolCall,
    SessionEvent.ToolCallCancelled,
    SessionEvent.GenerationComplete,
    SessionEvent.Interrupted,
    SessionEvent.TurnComplete,
    SessionEvent.GoAway,
    SessionEvent.Connected,
    SessionEvent.Error,
    SessionEvent.Disconnected,
)


@attrs.frozen
class Hooks:
    """Application callbacks run by the lanes.

    Attributes:
        on_event: called on the control lane for every control-lane LiveEvent before it is
            published; may be async (awaited inline, inside the barge-in group: a barge-in
            cancels it).  It delays only the control lane.
        on_audio: called on the fast lane with each chunk of model audio, synchronously (keep
            it quick: feed a playback buffer).
    """

    on_event: Callable[[LiveEvent], Awaitable[None] | None] | None = None
    on_audio: Callable[[bytes], None] | None = None


class BargeIn:
    """The cancel scopes a barge-in cancels together: inline tools, hooks, blocking effects.

    The router calls :meth:`cancel` the moment ``interrupted`` arrives; the control lane replaces
    the whole group with a fresh one once it has handled the interruption.  Work started in a
    cancelled group is cancelled at once.
    """

    def __init__(self) -> None:
        self._scopes: set[trio.CancelScope] = set()
        self.cancelled = False

    @contextmanager
    def scope(self) -> Iterator[trio.CancelScope]:
        """Run the ``with`` body as part of this group."""
        with trio.CancelScope() as scope:
            if self.cancelled:
                scope.cancel()
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)

    def cancel(self) -> None:
        """Cancel everything running in the group now, and anything started in it later."""
        self.cancelled = True
        for scope in list(self._scopes):
            scope.cancel()


class Lanes:
    """The router and the lanes of one live session; see the module docstring."""

    def __init__(
        self,
        router_events: Subscription[SessionEvent],
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
        self._router_events = router_events
        self._telemetry_events = telemetry_events
        self._live = live_events
        self._telemetry = telemetry
        self._state = state
        self._delivery = delivery
        self._interval = telemetry_interval
        self._hooks = hooks or Hooks()
        # lossless or drop-newest per event class (see _to_fast); the router is the only sender
        # Each item carries the number of interruptions routed before it (its epoch).
        self._fast_send, self._fast_receive = trio.open_memory_channel[tuple[int, SessionEvent]](
            capacity
        )
        # never waits: the router must not stall on a slow hook; overflow is counted and
        # reported by the control lane as a Lagged error (control events are rare)
        self._control_send, self._control_receive = trio.open_memory_channel[SessionEvent](capacity)
        self._control_overflow = 0
        self.transcript = TranscriptBuffer()
        self.barge_in = BargeIn()
        self._stale_audio = False  # the rest of an interrupted turn's audio: dropped
        self._interruptions_routed = 0
        self._interruptions_handled = 0
        self._handled = trio.lowlevel.ParkingLot()
        self._fast_scope = trio.CancelScope()
        self._control_scope = trio.CancelScope()
        self._background: list[trio.CancelScope] = []  # telemetry lane, emitter, router
        self._fast_done = trio.Event()
        self._control_done = trio.Event()
        self._control_task: trio.lowlevel.Task | None = None
        self._running = False
        self._stopping = False
        self._errors = 0
        self._started_at = 0.0
        self._last_activity = 0.0

    @property
    def interrupted(self) -> bool:
        """True between a barge-in and the control lane having handled it."""
        return self._interruptions_handled < self._interruptions_routed

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every lane until the session ends and the lanes have drained."""
        self._running = True
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

    def in_control_lane(self) -> bool:
        """True when called from the control lane itself (e.g. from a hook)."""
        return trio.lowlevel.current_task() is self._control_task

    async def drain(self, grace: float) -> None:
        """Let the fast, then the control lane finish for at most ``grace`` seconds each.

        Called after the session has ended (so the lanes' subscriptions are ending).  A lane
        still busy after its grace (a stuck hook) is cancelled; then the telemetry lane, the
        emitter and the router stop.  Called from the control lane itself (a hook that
        disconnects), the control lane is left to finish on its own.
        """
        self._stopping = True
        if self._running:
            with trio.move_on_after(grace):
                await self._fast_done.wait()
            self._fast_scope.cancel()
            if not self.in_control_lane():
                with trio.move_on_after(grace):
                    await self._control_done.wait()
                self._control_scope.cancel()
        for scope in self._background:
            scope.cancel()

    def _background_scope(self) -> trio.CancelScope:
        scope = trio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._background.append(scope)
        return scope

    async def _end_stream_when_drained(self) -> None:
        """Close the LiveEvent broadcast once both lanes published their last event.

        The lanes end after the session has ended, so every ``stream()`` ends right after
        ``Disconnected``, whoever ended the session.
        """
        await self._fast_done.wait()
        await self._control_done.wait()
        self._live.close()

    # -- router -------------------------------------------------------------------------------

    async def _run_router(self) -> None:
        try:
            with self._background_scope():
                while True:
                    try:
                        event = await self._router_events.receive()
                    except Lagged as lag:
                        log.warning("the router fell %d events behind the session", lag.missed)
                        self._telemetry.record_lagged(lag.missed)
                        continue
                    except trio.EndOfChannel:
                        break
                    try:
                        await self._route(event)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        break  # the fast lane was cancelled during disconnect
        finally:
            self._fast_send.close()
            self._control_send.close()

    async def _route(self, event: SessionEvent) -> None:
        match event:
            case SessionEvent.Interrupted():
                # Barge-in first: stop inline tools and hooks, and mark everything routed so
                # far as belonging to the interrupted turn; then let the control lane know.
                self._interruptions_routed += 1
                self.barge_in.cancel()
                self._stale_audio = True
                self._to_control(event)
            case SessionEvent.TurnComplete():
                self._stale_audio = False  # what follows belongs to the next turn
                self._to_control(event)
            case SessionEvent.AudioData():
                if self._stale_audio:
                    self._telemetry.record_dropped("audio_after_interrupt")
                else:
                    await self._to_fast(event, "audio")
            case SessionEvent.Media():
                if not self._stale_audio:
                    await self._to_fast(event, "media")
            case SessionEvent.TextDelta():
                await self._to_fast(event, "text")
            case SessionEvent.TextComplete():
                await self._to_fast(event, "text")
                self._to_control(event)
            case SessionEvent.InputTranscription() | SessionEvent.OutputTranscription():
                await self._to_fast(event, "transcript")
                self._to_control(event)
            case SessionEvent.Thought():
                await self._to_fast(event, "thought")
            case SessionEvent.VoiceActivityStart() | SessionEvent.VoiceActivityEnd():
                await self._to_fast(event, "vad")
            case _:
                self._to_control(event)

    def _to_control(self, event: SessionEvent) -> None:
        try:
            self._control_send.send_nowait(event)
        except trio.WouldBlock:
            self._control_overflow += 1
            self._telemetry.record_lagged(1)
            log.warning("the control lane is full; dropping %s", type(event).__name__)

    async def _to_fast(self, event: SessionEvent, kind: FastKind) -> None:
        item = (self._interruptions_routed, event)
        if getattr(self._delivery, kind) == "lossless":
            await self._fast_send.send(item)
            return
        try:
            self._fast_send.send_nowait(item)
        except trio.WouldBlock:
            self._telemetry.record_dropped(kind)

    # -- fast lane ----------------------------------------------------------------------------

    async def _run_fast_lane(self) -> None:
        try:
            with self._fast_scope:
                async for epoch, event in self._fast_receive:
                    if isinstance(event, SessionEvent.AudioData | SessionEvent.Media):
                        if epoch < self._interruptions_routed:
                            # Routed before a later interruption: the interrupted turn's audio.
                            self._telemetry.record_dropped("audio_after_interrupt")
                            continue
                        while self.interrupted:  # hold new audio until Interrupted is out
                            await self._handled.park()
                    self._fast(event)
        finally:
            self._fast_receive.close()  # a router waiting on a cancelled lane is released
            self._fast_done.set()

    def _fast(self, event: SessionEvent) -> None:
        publish = self._live.publish
        match event:
            case SessionEvent.AudioData(data=data):
                if self._hooks.on_audio is not None:
                    self._hooks.on_audio(data)
                publish(LiveEvent.Audio(data))
            case SessionEvent.Media(mime_type=mime, data=data):
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
        self._control_task = trio.lowlevel.current_task()
        try:
            with self._control_scope:
                async for event in self._control_receive:
                    if self._control_overflow:
                        missed, self._control_overflow = self._control_overflow, 0
                        await self._emit(LiveEvent.Error(Lagged(missed)))
                    await self._control(event)
        finally:
            self._control_receive.close()
            self._control_done.set()

    async def _control(self, event: SessionEvent) -> None:
        transcript = self.transcript
        match event:
            case SessionEvent.UserTextSent(text=text):
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
                self.barge_in = BargeIn()  # new work belongs to the next turn
                await self._emit(LiveEvent.Interrupted())
                self._interruptions_handled += 1
                self._handled.unpark_all()  # the fast lane may deliver new audio again
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
            with self.barge_in.scope():
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
                state.set("session:interrupt_count", telemetry.snapshot()["interruptions"])
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
