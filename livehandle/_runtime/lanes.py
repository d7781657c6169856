"""The lanes: how raw session events become LiveEvents without a slow consumer stalling anything.

* the **router** (:meth:`Lanes.route`) is a tap on the L0 session: the session's reader calls it
  synchronously for every event, in wire order, so no event can be lost between the socket and
  the lanes and no scheduler round trip is paid per event.  It never blocks;
* the **fast path** (inside the router) turns audio, text, transcripts, thoughts and VAD signals
  into LiveEvents at once, on the non-blocking LiveEvent broadcast: a subscriber that does not
  read only loses its own oldest events, and learns how many through ``Lagged``;
* **barge-in**: on ``Interrupted`` the router first cancels the barge-in group (inline tools and
  hooks stop), drops the rest of the interrupted turn's audio, and holds new model audio until
  the control lane has published ``Interrupted``, so an application that flushes playback on
  ``Interrupted`` never flushes the next reply.  Without an ``on_event`` hook (which must see
  ``Interrupted`` before anyone), the router publishes ``Interrupted`` itself at once and
  nothing is held: a control lane busy with a turn pipeline step or a watcher never delays the
  next reply; the lane still marks the transcript and renews the barge-in group in event
  order.  ``Interrupted`` may then reach subscribers before control-lane events routed earlier
  that the busy lane has not published yet (a turn's ``TurnComplete``).  Held events are bounded
  (``lane_capacity``); classes with the ``drop_newest`` delivery policy are dropped instead of
  held (counted);
* **connection first**: from ``Connected`` until the control lane has published it, the fast
  path holds what it would deliver (bounded the same way, overflow counted), so a subscriber
  sees ``Connected`` before the connection's first audio or text;
* the **control lane** is a task owning the transcript and the turn pipeline: typed turns (in
  send order), tool calls, interruptions, finished transcripts at turn end, GoAway, errors,
  connection events.  Hooks run there, inline, inside the barge-in group.  Its channel is
  bounded and the router never waits for it: an overflow (only possible when a hook is stuck
  for hundreds of control events) drops transcripts and typed-text notices (counted, reported
  as a ``Lagged`` error event) and keeps the critical events (tool calls, interruptions, turn
  ends, GoAway, the connection's events) in a backlog bounded by ``backlog_limit``.  A full
  backlog ends the session with :class:`~livehandle.SessionTaskFailed`: the router cannot
  wait, and dropping a critical event would leave the model waiting for an answer or the audio
  held for ever, so a loud end is the only honest outcome;
* **telemetry** counters are updated by the router; an optional emitter task publishes
  ``Telemetry``/``TurnMetrics`` and refreshes the timing keys every ``telemetry_interval``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Literal

import attrs
import trio

from livehandle._errors import Lagged, SessionError, SessionTaskFailed
from livehandle._events import LiveEvent, SessionEvent
from livehandle._logs import library_logger
from livehandle._nursery import LazyEvent
from livehandle._runtime.bargein import BargeIn, CurrentBargeIn
from livehandle._runtime.mailbox import Mailbox
from livehandle._runtime.observe import SessionObserver
from livehandle._runtime.pipeline import TurnPipeline
from livehandle._runtime.transcript import TranscriptBuffer

if TYPE_CHECKING:
    from livehandle._broadcast import Broadcast
    from livehandle._config.delivery import Delivery
    from livehandle._runtime.answers import Screened
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._state import State
    from livehandle._wire.messages import Content, FunctionCall

__all__ = ["Hooks", "Lanes"]

#: Control-lane events that may be dropped (counted, reported as Lagged) when it is stuck.
_DROPPABLE = (
    SessionEvent.InputTranscription,
    SessionEvent.OutputTranscription,
    SessionEvent.TextComplete,
    SessionEvent.UserTextSent,
)

#: The most critical events the control lane may fall behind by (see ``_to_backlog``): they
#: come a few per turn, so this is hours with a hook stuck, far above any real burst.
CONTROL_BACKLOG_LIMIT = 4096

log = library_logger("livehandle.lanes")

FastKind = Literal["audio", "media", "text", "transcript", "thought", "vad"]


class _Wake:
    """Wakes the control lane to run queued watcher actions; never published."""


_WAKE = _Wake()


async def _no_context(contents: Sequence[Content], *, prompt: bool) -> None:
    raise RuntimeError("these lanes deliver no context: the handle sets a pipeline that does")


@attrs.frozen
class Hooks:
    """Application callbacks run by the lanes.

    Attributes:
        on_event: called on the control lane for every control-lane LiveEvent before it is
            published; may be async (awaited inline, inside the barge-in group: a barge-in
            cancels it).  It delays only the control lane.  Events the tool dispatcher, the
            voice runtime and a governing flow publish themselves (``ToolExecution``, a
            barge-in's ``ToolCancelled``, ``FlowViolation``, a ``PhaseTransition`` between turn
            boundaries, their ``Error`` reports) do not pass through it: subscribe to
            ``handle.events()`` to see everything.
        on_audio: called with each chunk of model audio as it arrives, synchronously, in the
            session's reader (keep it quick: feed a playback buffer; never block).
    """

    on_event: Callable[[LiveEvent], Awaitable[None] | None] | None = None
    on_audio: Callable[[bytes], None] | None = None


class Lanes:
    """The router and the control lane of one live session; see the module docstring.

    ``barge_in`` is the current-group holder shared with the voice runtime and the tool
    dispatcher (a private one when not given).  ``backlog_limit`` bounds the critical events
    kept while the control lane is stuck (:data:`CONTROL_BACKLOG_LIMIT` by default).
    ``scrub`` (the endpoint's credential scrubber) is applied to the transcript's joined text.
    ``screen_tools`` (the tool dispatcher's screening by the tool gate) runs first on every
    ``toolCall`` message: ``LiveEvent.ToolCall`` then carries only the admitted calls (none:
    no event), and ``dispatch_tools`` gets the screened message.  The control lane runs
    :meth:`TurnPipeline.session_started` once when it starts, before any event.
    """

    # fmt: off
    __slots__ = (  # one per session: no __dict__ (it would cost ~1.6 KiB)
        "_backlog", "_backlog_limit", "_barge_in", "_cancel_tools", "_capacity", "_connecting",
        "_connection_lost", "_control_done", "_control_overflow", "_control_scope", "_control_task",
        "_delivery", "_dispatch_tools", "_failed", "_held", "_hooks",
        "_interruptions_handled", "_interruptions_routed", "_interval", "_live", "_mailbox",
        "_observe", "_observer", "_on_interrupted", "_on_model_audio", "_published_early",
        "_running", "_screen_tools", "_stale_audio", "_state", "_telemetry", "_tools_arrived",
        "_turn_ended", "_watchers_due", "end_error", "pipeline", "transcript"
    )
    # fmt: on

    def __init__(
        self,
        live_events: Broadcast[LiveEvent],
        *,
        telemetry: SessionTelemetry,
        state: State,
        delivery: Delivery,
        capacity: int,
        telemetry_interval: float | None = None,
        hooks: Hooks | None = None,
        on_model_audio: Callable[[], None] | None = None,
        on_interrupted: Callable[[], None] | None = None,
        dispatch_tools: Callable[[tuple[FunctionCall, ...] | Screened], None] | None = None,
        screen_tools: Callable[[tuple[FunctionCall, ...]], Screened] | None = None,
        cancel_tools: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
        tools_arrived: Callable[[tuple[FunctionCall, ...]], None] | None = None,
        turn_ended: Callable[[], None] | None = None,
        connection_lost: Callable[[], None] | None = None,
        barge_in: CurrentBargeIn | None = None,
        backlog_limit: int = CONTROL_BACKLOG_LIMIT,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        if backlog_limit < 1:
            raise ValueError(f"backlog_limit must be at least 1 (got {backlog_limit})")
        self._live = live_events
        self._telemetry = telemetry
        self._state = state
        self._delivery = delivery
        self._capacity = capacity
        self._interval = telemetry_interval
        self._hooks = hooks or Hooks()
        # the voice runtime's playback tracking: audio delivered, barge-in
        self._on_model_audio = on_model_audio
        self._on_interrupted = on_interrupted
        # the tool dispatcher: started on the control lane, cancelled from the router at once
        self._dispatch_tools = dispatch_tools
        self._screen_tools = screen_tools  # the tool gate's verdicts, before anyone sees a call
        self._cancel_tools = cancel_tools
        # ... and told at once which calls are in flight (so a cancellation can only name those)
        self._tools_arrived = tools_arrived
        self._turn_ended = turn_ended
        self._connection_lost = connection_lost
        # never waits (the router runs in the session's reader); overflow is counted and
        # reported by the control lane as a Lagged error
        self._mailbox: Mailbox[SessionEvent | _Wake] = Mailbox(capacity)
        self._control_overflow = 0
        # Critical events that did not fit in the control channel (see _to_backlog; made at the
        # first): only while a hook is stuck, bounded by backlog_limit; full, the session ends.
        self._backlog: deque[SessionEvent] | None = None
        self._backlog_limit = backlog_limit
        self._failed = False  # the backlog overflowed: the session is ending, route nothing
        self.transcript = TranscriptBuffer(scrub=scrub)
        #: What runs at each turn boundary; the handle replaces it with one that has the
        #: session's extractors and context delivery.
        self.pipeline = TurnPipeline(
            state=state, transcript=self.transcript, emit=self.emit, deliver=_no_context
        )
        self._watchers_due = False
        #: When set, the error the session's Disconnected end carries (e.g. a lost lease).
        self.end_error: SessionError | None = None
        self._barge_in = barge_in if barge_in is not None else CurrentBargeIn()
        self._stale_audio = False  # the rest of an interrupted turn's audio: dropped
        # new audio waiting for Interrupted to go out (created at the first event held)
        self._held: deque[SessionEvent] | None = None
        self._interruptions_routed = 0
        self._interruptions_handled = 0
        self._published_early = 0  # Interrupted events the router published (see route)
        self._connecting = 0  # Connected events routed, not yet published by the control lane
        self._control_scope = trio.CancelScope()
        self._control_done = LazyEvent()
        self._control_task: trio.lowlevel.Task | None = None
        self._running = False
        self._observer = SessionObserver(telemetry, state, live_events)
        self._observe = self._observer.observe

    @property
    def barge_in(self) -> BargeIn:
        """The current barge-in group."""
        return self._barge_in.group

    @property
    def interrupted(self) -> bool:
        """True between a barge-in and the control lane having handled it."""
        return self._interruptions_handled < self._interruptions_routed

    @property
    def _holding(self) -> bool:
        """New model output waits in ``_held`` (after a barge-in, or before ``Connected``)."""
        return bool(self._connecting) or self.interrupted

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(
        self,
        nursery: trio.Nursery | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Be the control lane until the session has ended (this task runs it).

        The telemetry emitter (with an interval) runs in ``nursery``, or in one of this task's
        own; it ends with the lane, which reports started once the pipeline's start ran.
        """
        async with contextlib.AsyncExitStack() as stack:
            if nursery is None and self._interval is not None:
                nursery = await stack.enter_async_context(trio.open_nursery())
            await self.control_lane(nursery, task_status)

    def control_lane(
        self, nursery: trio.Nursery | None, task_status: trio.TaskStatus[None]
    ) -> Coroutine[object, object, None]:
        """:meth:`run` with no frame of its own while it waits (``nursery``: for the emitter)."""
        self._running = True
        self._observer.start()
        if self._interval is not None and nursery is not None:  # run() gives one if needed
            nursery.start_soon(self._observer.run_emitter, self._interval)
        return self._run_control_lane(task_status)

    def watchers_due(self) -> None:
        """Watcher actions were queued (by a state write in any task): run them soon.

        Never waits: the control lane is woken through its channel, or, when that is full or
        behind, finds the flag after the event it is handling.
        """
        if self._watchers_due:
            return
        self._watchers_due = True
        if self._backlog or self._failed:
            return
        with contextlib.suppress(
            trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError
        ):
            self._mailbox.send_nowait(_WAKE)

    def in_control_lane(self) -> bool:
        """True when called from the control lane itself (e.g. from a hook)."""
        return trio.lowlevel.current_task() is self._control_task

    async def drain(self, grace: float) -> None:
        """Let the control lane finish for at most ``grace`` seconds, then stop everything.

        Called after the session has ended (the router has handed over ``Disconnected``).  A
        control lane still busy after its grace (a stuck hook) is cancelled.  Called from the
        control lane itself (a hook that disconnects), it is left to finish on its own.
        """
        self._observer.stop_emitter()
        if self._running and not self.in_control_lane():
            with trio.move_on_after(grace):
                await self._control_done.wait()
            self._control_scope.cancel()

    # -- router: runs in the session's reader, synchronously ----------------------------------

    def route(self, event: SessionEvent) -> None:
        """Route one session event (the session calls this for every event, in order).

        Raises:
            SessionTaskFailed: the control lane's backlog is full (once; see ``_to_backlog``).
        """
        if self._failed:
            # The session is ending: only its very last event still goes out (once, one past
            # the backlog's bound), so every stream ends with Disconnected as usual.
            if isinstance(event, SessionEvent.Disconnected):
                self._observe(event)
                self._backlog_queue().append(event)
            return
        self._observe(event)
        match event:
            case SessionEvent.AudioData() | SessionEvent.Media():
                audio = isinstance(event, SessionEvent.AudioData)
                kind: FastKind = "audio" if audio else "media"
                if self._stale_audio:
                    self._telemetry.record_dropped(f"{kind}_after_interrupt")
                elif self._connecting:
                    self._hold(event, kind)
                elif not self.interrupted:
                    self._deliver(event)
                elif self._drops(kind):
                    self._telemetry.record_dropped(kind)
                else:
                    self._hold(event, kind)
            case SessionEvent.Interrupted():
                # Barge-in first: stop inline tools and hooks, and mark everything routed so
                # far as belonging to the interrupted turn; then let the control lane know.
                self._interruptions_routed += 1
                self.barge_in.cancel()
                if self._on_interrupted is not None:
                    self._on_interrupted()
                self._stale_audio = True
                if self._held:
                    self._telemetry.record_dropped("audio_after_interrupt", len(self._held))
                    self._held.clear()
                if self._hooks.on_event is None and not self._connecting:
                    # No hook must see it first: publish it now, so that a busy control lane
                    # (a pipeline step, a watcher) never holds the next reply's audio.  The
                    # lane still does its bookkeeping in order (see _control).
                    self._live.publish(LiveEvent.Interrupted())
                    self._interruptions_handled += 1
                    self._published_early += 1
                self._to_control(event)
            case SessionEvent.TurnComplete():
                self._stale_audio = False  # what follows belongs to the next turn
                if self._turn_ended is not None:
                    self._turn_ended()
                self._to_control(event)
            case SessionEvent.ToolCall(calls=calls):
                if self._tools_arrived is not None:
                    self._tools_arrived(calls)  # in flight from now: cancellable at once
                self._to_control(event)
            case SessionEvent.TextDelta() | SessionEvent.Thought():
                self._deliver_after_connected(event, "text")
            case (
                SessionEvent.TextComplete()
                | SessionEvent.InputTranscription()
                | SessionEvent.OutputTranscription()
            ):
                self._deliver_after_connected(event, "transcript")
                self._to_control(event)
            case SessionEvent.VoiceActivityStart() | SessionEvent.VoiceActivityEnd():
                self._deliver_after_connected(event, "vad")
            case SessionEvent.Connected() | SessionEvent.Resumed():
                # Hold the connection's output until the control lane has published this.
                self._connecting += 1
                self._to_control(event)
            case SessionEvent.Reconnecting(attempt=attempt):
                if attempt == 1 and self._connection_lost is not None:
                    self._connection_lost()  # its tools' answers could not be sent any more
                self._to_control(event)
            case SessionEvent.Disconnected():
                self._to_control(event)
                self._mailbox.close()  # the last event: the control lane ends after it
            case SessionEvent.ToolCallCancelled(ids=ids):
                # Stop the named tools now: the control lane may be busy, and a withdrawn
                # call must not be answered.  Only ids not reported yet become an event.
                if self._cancel_tools is not None:
                    ids = self._cancel_tools(ids)
                if ids:
                    self._to_control(SessionEvent.ToolCallCancelled(ids))
            case (
                SessionEvent.UserTextSent()
                | SessionEvent.GenerationComplete()
                | SessionEvent.GoAway()
                | SessionEvent.Error()
            ):
                self._to_control(event)
            case _:
                pass  # phases, usage, resumption updates: telemetry and state only

    def _hold(self, event: SessionEvent, kind: FastKind) -> None:
        if self._held is None:
            self._held = deque()
        if len(self._held) >= self._capacity:
            self._telemetry.record_dropped(kind)
        else:
            self._held.append(event)

    def _backlog_queue(self) -> deque[SessionEvent]:
        if self._backlog is None:
            self._backlog = deque()
        return self._backlog

    def _deliver_after_connected(self, event: SessionEvent, kind: FastKind) -> None:
        if self._connecting:
            self._hold(event, kind)
        else:
            self._deliver(event)

    def _drops(self, kind: FastKind) -> bool:
        return bool(getattr(self._delivery, kind) == "drop_newest")

    def _to_control(self, event: SessionEvent) -> None:
        if self._backlog:  # behind already: keep the order
            self._to_backlog(event)
            return
        try:
            self._mailbox.send_nowait(event)
        except trio.WouldBlock:
            self._to_backlog(event)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # after Disconnected, or the control lane was cancelled: nothing to do

    def _to_backlog(self, event: SessionEvent) -> None:
        """The control channel is full (a stuck hook): keep what must not be lost, in order.

        Tool calls, interruptions, turn ends and the connection's events are kept (a lost one
        would leave the model waiting for ever or the audio held for ever); transcripts and
        typed-text notices are dropped, counted and reported as a ``Lagged`` error.

        Raises:
            SessionTaskFailed: ``backlog_limit`` events are kept already: one more critical
                event cannot be dropped and the router cannot wait, so the session ends.
        """
        if isinstance(event, _DROPPABLE):
            self._control_overflow += 1
            self._telemetry.record_lagged(1)
        elif len(backlog := self._backlog_queue()) >= self._backlog_limit:
            self._failed = True
            self._mailbox.close()  # the control lane ends once it gets going again
            kind = type(event).__name__
            raise SessionTaskFailed(
                f"the control lane is stuck (a hook that never returns?): "
                f"{len(backlog)} critical events are waiting and a {kind} cannot be "
                f"dropped, so the session ends"
            )
        else:
            backlog.append(event)

    def _deliver(self, event: SessionEvent) -> None:
        publish = self._live.publish
        match event:
            case SessionEvent.AudioData(data=data):
                if self._hooks.on_audio is not None:
                    self._hooks.on_audio(data)
                if self._on_model_audio is not None:
                    self._on_model_audio()
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

    def _release_held(self) -> None:
        held = self._held
        while held and not self._holding:
            self._deliver(held.popleft())

    # -- control lane -------------------------------------------------------------------------

    async def _run_control_lane(
        self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._control_task = trio.lowlevel.current_task()
        try:
            with self._control_scope:
                # The session's starting boundary (a flow's first guidance and events), before
                # any event and before the lane reports started: its context is delivered (or
                # queued) before the application's first send, and its LiveEvents are retained
                # for the first subscribers.
                try:
                    await self.pipeline.session_started()
                finally:
                    task_status.started()
                while (event := await self._next_control_event()) is not None:
                    if self._control_overflow:
                        missed, self._control_overflow = self._control_overflow, 0
                        await self.emit(LiveEvent.Error(Lagged(missed)))
                    if not isinstance(event, _Wake):
                        await self._control(event)
                    if self._watchers_due:
                        self._watchers_due = False
                        await self.pipeline.run_watchers()
        finally:
            self._observer.stop_emitter()  # the emitter never outlives the control lane
            self._mailbox.close_receiver()
            self._control_done.set()
            self._live.close()  # every stream() ends right after Disconnected

    async def _next_control_event(self) -> SessionEvent | _Wake | None:
        """The next event in routing order: the channel first, then the backlog behind it."""
        try:
            return self._mailbox.receive_nowait()
        except trio.WouldBlock:
            if self._backlog:
                await trio.lowlevel.checkpoint()
                return self._backlog.popleft()
        except trio.EndOfChannel:
            return self._backlog.popleft() if self._backlog else None
        try:
            return await self._mailbox.receive()
        except trio.EndOfChannel:
            return self._backlog.popleft() if self._backlog else None

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
                # Calls the tool gate refuses are answered by the dispatcher; nobody else (the
                # hooks, the application) ever sees them.
                screened = None if self._screen_tools is None else self._screen_tools(calls)
                if screened is None:
                    await self.emit(LiveEvent.ToolCall(calls))
                elif screened.admitted:
                    await self.emit(LiveEvent.ToolCall(screened.admitted))
                if self._dispatch_tools is not None:
                    self._dispatch_tools(calls if screened is None else screened)
            case SessionEvent.ToolCallCancelled(ids=ids):
                await self.emit(LiveEvent.ToolCancelled(ids))
            case SessionEvent.GenerationComplete():
                await self.emit(LiveEvent.GenerationComplete())
                await self.pipeline.generation_complete()
            case SessionEvent.Interrupted():
                transcript.mark_interrupted()
                self._barge_in.renew()  # new work belongs to the next turn
                if self._published_early:  # the router published it already
                    self._published_early -= 1
                else:
                    await self.emit(LiveEvent.Interrupted())
                    self._interruptions_handled += 1
                self._release_held()  # the next reply's audio, held meanwhile
            case SessionEvent.TurnComplete(reason=reason):
                await self.pipeline.turn_complete(reason)
            case SessionEvent.GoAway(time_left=time_left):
                await self.emit(LiveEvent.GoAway(time_left))
            case SessionEvent.Reconnecting(reason=reason, attempt=attempt):
                await self.emit(LiveEvent.Reconnecting(reason, attempt))
            case SessionEvent.Resumed(
                connection=connection, gap_ms=gap, replayed=replayed, lost_audio_ms=lost
            ):
                try:
                    await self.emit(LiveEvent.Resumed(connection, gap, replayed, lost))
                finally:
                    self._connecting -= 1
                    self._release_held()  # the new connection's first output
            case SessionEvent.Connected(session_id=session_id, resumed=resumed):
                try:
                    await self.emit(LiveEvent.Connected(session_id, resumed))
                    await self.pipeline.connected()  # the start's events (a flow's first step)
                finally:
                    self._connecting -= 1
                    self._release_held()  # the connection's first output, held meanwhile
            case SessionEvent.Error(error=error):
                await self.emit(LiveEvent.Error(error))
            case SessionEvent.Disconnected(end=end):
                if self.end_error is not None:
                    end = attrs.evolve(end, error=self.end_error)
                await self.emit(LiveEvent.Disconnected(end))
            case _:
                pass

    async def emit(self, event: LiveEvent) -> None:
        """Publish ``event`` as the control lane does: the ``on_event`` hook, then subscribers."""
        hook = self._hooks.on_event
        if hook is not None:
            with self.barge_in.scope():
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
        self._live.publish(event)
