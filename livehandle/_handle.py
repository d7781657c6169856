"""LiveHandle: the one object a voice bot holds for a live session.

It is created by :func:`~livehandle.open_live_session` and is valid inside its ``async with``
block.  Sends go through one bounded outbound queue (lossless: a send waits while it is full), so
calls from one task keep their order; several tasks may share the handle.  Events come out three
ways: :meth:`LiveHandle.subscribe` (raw wire events), :meth:`LiveHandle.events` (LiveEvents; a
subscriber that falls behind gets ``Lagged``) and :meth:`LiveHandle.stream` (LiveEvents, skipping
lag, ending with the session).  After the session has ended every send raises ``SessionClosed``
at once.

:func:`assemble_live_handle` builds a handle and its parts in dependency order and returns the
:class:`LiveRunner` that ``open_live_session`` starts in its nursery.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, final, overload

import attrs
import trio

from livehandle._broadcast import Broadcast, Subscription
from livehandle._config.delivery import ContextDelivery
from livehandle._errors import StateFailed
from livehandle._events import LiveEvent, SessionPhase
from livehandle._extract.llm import LlmExtractor
from livehandle._extract.runner import ExtractionRunner
from livehandle._persist.capture import SnapshotSource, config_fingerprint, new_session_id
from livehandle._public import NoPublicConstructor
from livehandle._runtime.bargein import CurrentBargeIn
from livehandle._runtime.context import DeferredWriter, PendingContext
from livehandle._runtime.dispatch import ToolDispatcher
from livehandle._runtime.lanes import (
    Hooks,
    Lanes,
)
from livehandle._runtime.pipeline import TurnPipeline, context_contents, deliver_context
from livehandle._runtime.telemetry import SessionTelemetry
from livehandle._runtime.voice import VoiceRuntime
from livehandle._runtime.writer import SessionWriter, check_pcm16, check_tool_responses
from livehandle._state import State, StateProblem

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livehandle._config.live import LiveConfig
    from livehandle._errors import SessionError
    from livehandle._events import SessionEnd, SessionEvent
    from livehandle._extract.turns import TranscriptTurn
    from livehandle._persist.saver import SnapshotSaver
    from livehandle._persist.snapshot import SessionSnapshot
    from livehandle._runtime.answers import Screened, ToolStats
    from livehandle._runtime.gate import ToolGate
    from livehandle._runtime.pipeline import FlowStep
    from livehandle._runtime.reactor import VoiceRuntimeState
    from livehandle._runtime.vad import BackendVadSnapshot
    from livehandle._session.port import SessionPort
    from livehandle._transport.endpoints import Endpoint
    from livehandle._wire import messages as m

__all__ = ["DISCONNECT_GRACE", "LiveHandle", "LiveRunner", "assemble_live_handle"]

_T = TypeVar("_T")

DISCONNECT_GRACE = 0.25  # seconds each lane may spend draining during disconnect()
CLOSE_GRACE = 1.0  # seconds the LLM extractors' HTTP clients may take to close


def assemble_live_handle(
    session: SessionPort,
    config: LiveConfig,
    endpoint: Endpoint,
    *,
    hooks: Hooks | None = None,
    session_id: str | None = None,
    fingerprint: str | None = None,
    gate: ToolGate | None = None,
    flow_step: FlowStep | None = None,
) -> tuple[LiveHandle, LiveRunner]:
    """Build a handle for ``session``, each part after the parts it needs.

    The session's one writer comes first (a :class:`~livehandle.lowlevel.DeferredWriter` when
    context delivery is deferred); the voice runtime and the tool dispatcher send through it; the
    lanes, built last, call into both; the current barge-in group is shared by all three.  The
    lanes are tapped into the session at once, so they see every event from ``Connected`` on.
    The snapshot source (``handle.snapshot()``) is tapped after them; ``session_id`` defaults to
    a generated one and ``fingerprint`` to that of ``config``.  A governing flow plugs in through
    ``gate`` (the tool dispatcher's ToolGate) and ``flow_step`` (step 5 of the turn pipeline).

    Returns:
        the handle, and the runner to start in the session's nursery once the session runs.
    """
    events: Broadcast[LiveEvent] = Broadcast(config.event_capacity)
    events.retain()  # until the runner's release_events(): see open_live_session
    state = State(config.state)
    telemetry = SessionTelemetry()
    barge_in = CurrentBargeIn()
    writer = SessionWriter(
        session,
        functools.partial(config.instruction_update_message, endpoint=endpoint),
        telemetry=telemetry,
    )
    if config.context_delivery is ContextDelivery.DEFERRED:
        writer = DeferredWriter(writer, PendingContext())
    voice = VoiceRuntime(
        writer,
        emit=events.publish,
        barge_in=barge_in,
        vad=config.input_vad,
        turn_commit=config.turn_commit,
        client_authority=not config.server_vad,
        on_speech_start=telemetry.record_turn_start,
        on_speech_end=telemetry.record_speech_end,
        model_speaking=lambda: session.phase is SessionPhase.MODEL_SPEAKING,
    )

    def tool_event(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.ToolExecution):  # summarised with the turn
            lanes.transcript.add_tool_call(event.name, event.args, event.result)
        events.publish(event)

    tools = ToolDispatcher(
        config.function_tools,
        writer=writer,
        emit=tool_event,
        state=state,
        barge_in=barge_in,
        connection_id=lambda: session.connection_id,
        on_tool_call=config.on_tool_call,
        before_tool_response=config.before_tool_response,
        manual=config.manual_tools,
        declared=config.declared_functions,
        acknowledge=endpoint.backend != "vertex",  # Vertex has no willContinue
        gate=gate,
    )

    def dispatch_tools(calls: tuple[m.FunctionCall, ...] | Screened) -> None:
        session.mark_tools_executing()
        tools.dispatch(calls)

    lanes = Lanes(
        events,
        telemetry=telemetry,
        state=state,
        delivery=config.delivery,
        capacity=config.lane_capacity,
        telemetry_interval=config.telemetry_interval,
        hooks=hooks,
        on_model_audio=voice.model_audio_delivered,
        on_interrupted=voice.interrupted,
        dispatch_tools=dispatch_tools,
        screen_tools=tools.screen if gate is not None else None,
        cancel_tools=tools.cancel,
        tools_arrived=tools.arrived,
        turn_ended=tools.turn_ended,
        connection_lost=tools.connection_lost,
        barge_in=barge_in,
        scrub=endpoint.scrub_content,
    )
    # An LlmExtractor without an endpoint of its own asks the session's (same credentials).
    extractors = tuple(
        item.for_endpoint(endpoint) if isinstance(item, LlmExtractor) else item
        for item in config.extractors
    )
    extraction = ExtractionRunner(extractors) if extractors else None
    lanes.pipeline = TurnPipeline(
        state=state,
        transcript=lanes.transcript,
        emit=lanes.emit,
        deliver=functools.partial(deliver_context, writer, telemetry),
        extraction=extraction,
        step_timeout=config.turn_step_timeout,
        flow=flow_step,
    )

    def state_problem(problem: StateProblem) -> None:
        error = StateFailed(problem.detail, problem.kind.value, problem.key)
        error.__cause__ = problem.error
        events.publish(LiveEvent.Error(error))

    state._attach(on_pending=lanes.watchers_due, on_problem=state_problem)
    session.add_tap(lanes.route)  # the router sees every event, in order
    source = SnapshotSource(
        session_id if session_id is not None else new_session_id(),
        session=session,
        state=state,
        transcript=lanes.transcript,
        telemetry=telemetry,
        fingerprint=fingerprint if fingerprint is not None else config_fingerprint(config),
    )
    session.add_tap(source.handle_seen)  # records when each resumable handle arrived
    handle = LiveHandle._create(
        session,
        endpoint,
        events=events,
        state=state,
        telemetry=telemetry,
        writer=writer,
        voice=voice,
        tools=tools,
        lanes=lanes,
        source=source,
        extraction=extraction,
    )
    closers = [item for item in extractors if isinstance(item, LlmExtractor)]
    return handle, LiveRunner(voice, tools, lanes, events, closers)


@final
class LiveRunner:
    """Runs a handle's background work until the session ends: effects, tools, the lanes.

    ``open_live_session`` starts :meth:`run` in the session's nursery, after the session itself.
    """

    def __init__(
        self,
        voice: VoiceRuntime,
        tools: ToolDispatcher,
        lanes: Lanes,
        events: Broadcast[LiveEvent],
        closers: Sequence[LlmExtractor] = (),
    ) -> None:
        self._voice = voice
        self._tools = tools
        self._lanes = lanes
        self._events = events
        self._closers = closers

    def release_events(self) -> None:
        """End the retention of the handle's LiveEvents (kept for the first subscribers)."""
        self._events.release()

    async def run(
        self,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Be the control lane until the session ends; effects and tools run in ``nursery``.

        One task in all: the voice effects and the tools start their tasks in the session's
        ``nursery`` only when they have work, and this task runs the control lane itself.
        """
        self._voice.attach(nursery)
        self._tools.attach(nursery)
        try:
            await self._lanes.run(nursery, task_status=task_status)
        finally:
            # The session has ended: no effect or tool can send any more.
            self._tools.stop()
            self._voice.stop()
            self._lanes.pipeline.session_ended()  # the journal sink's last lines
            if self._closers:  # the LLM extractors' HTTP clients, bounded, even when cancelled
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_GRACE):
                    for closer in self._closers:
                        await closer.aclose()


@final
class LiveHandle(metaclass=NoPublicConstructor):
    """Stream audio, text and video in; receive model audio, transcripts and tool calls out.

    Get one from :func:`~livehandle.open_live_session`: the class has no public constructor
    (``LiveHandle(...)`` raises ``TypeError``) and is not meant to be subclassed.

    Accessors follow one rule.  A **property** is one of the session's records, something it
    keeps adding to over its whole life (:attr:`state`, :attr:`telemetry`, :attr:`tool_stats`,
    :attr:`transcript`): reading it is cheap, never waits and changes nothing.  A **method**
    either answers a question about the session at the moment of the call, with a snapshot that
    does not change afterwards (:meth:`phase`, :meth:`voice_state`, :meth:`input_vad_state`,
    :meth:`resume_handle`), or hands out something to act through (:meth:`writer`,
    :meth:`subscribe`, :meth:`events`, :meth:`stream`).

    Input is checked once, here at the public boundary (or in the writer's public methods, the
    other public way in): a wrong type raises ``TypeError``, a bad value ``ValueError``, and
    nothing is sent.  A send is counted in :attr:`telemetry` once the session accepted it.
    """

    _get_one_from: ClassVar[str] = "livehandle.open_live_session()"

    def __init__(
        self,
        session: SessionPort,
        endpoint: Endpoint,
        *,
        events: Broadcast[LiveEvent],
        state: State,
        telemetry: SessionTelemetry,
        writer: SessionWriter,
        voice: VoiceRuntime,
        tools: ToolDispatcher,
        lanes: Lanes,
        source: SnapshotSource,
        extraction: ExtractionRunner | None = None,
    ) -> None:
        self._session = session
        self._extraction = extraction
        self._endpoint = endpoint
        self._events = events
        self._state = state
        self._telemetry = telemetry
        self._writer = writer
        self._voice = voice
        self._tools = tools
        self._lanes = lanes
        self._source = source
        self._saver: SnapshotSaver | None = None
        self._end_error: SessionError | None = None
        self._disconnecting = False
        self._disconnected = trio.Event()

    def __repr__(self) -> str:
        return f"<LiveHandle {self._endpoint.redacted_url} phase={self.phase().value}>"

    # -- sending ------------------------------------------------------------------------------

    async def send_audio(self, pcm: bytes) -> None:
        """Send a chunk of 16 kHz mono PCM16 microphone audio, through the input VAD.

        A speech start detected in the chunk runs :meth:`user_speech_started` before the chunk
        goes out; a speech end runs :meth:`user_speech_ended` after it.  With server VAD off,
        the matching ``activityStart``/``activityEnd`` marks are sent once per edge.

        Raises:
            TypeError: not bytes-like (nothing is sent).
            ValueError: an odd number of bytes (nothing is sent, the VAD sees nothing).
            SessionClosed: the session has ended.
        """
        # Checked here, once: the VAD and the writer below take the checked bytes as they are.
        await self._voice.send_audio(check_pcm16(pcm))

    async def send_text(self, text: str) -> None:
        """Send a typed turn; once sent it is recorded as the user side of the current turn.

        Raises:
            TypeError: not a str.
            ValueError: the empty string.
            SessionClosed: the session has ended.
        """
        await self._writer.send_text(text)  # the session reports it once on the wire

    async def send_video(self, frame: bytes, mime_type: str = "image/jpeg") -> None:
        """Send one video frame (JPEG or PNG).

        Raises:
            TypeError: the frame is not bytes-like or the MIME type not a str.
            ValueError: an empty frame, or a MIME type that is not ``image/*``.
            SessionClosed: the session has ended.
        """
        await self._writer.send_video(frame, mime_type)

    async def update_instruction(self, instruction: str) -> None:
        """Replace the system instruction (contextUpdate, or the backend's fallback).

        Raises:
            TypeError: not a str.
            ValueError: the empty string.
        """
        await self._writer.update_instruction(instruction)

    async def send_tool_response(self, responses: Sequence[m.FunctionResponse]) -> None:
        """Answer function calls from a ``ToolCall`` event.

        When a flow governs the session, each final answer without an ``"error"`` key counts
        as a success of its tool, as the session's own answers do.

        Raises:
            TypeError: an item is not a ``FunctionResponse``.
            ValueError: no responses.
        """
        checked = check_tool_responses(responses)
        await self._writer.send_tool_response(checked)
        self._tools.application_answered(checked)

    @property
    def tool_stats(self) -> ToolStats:
        """What happened to the model's tool calls so far (answered, cancelled, errors...)."""
        return self._tools.stats

    def writer(self) -> SessionWriter:
        """The session's one writer, the same object for the whole session.

        A :class:`~livehandle.lowlevel.DeferredWriter` (a ``SessionWriter`` that flushes queued
        context before user input) when ``context_delivery`` is deferred.
        """
        return self._writer

    # -- voice --------------------------------------------------------------------------------

    async def playback_drained(self) -> None:
        """Tell the runtime the speaker buffer is empty: an armed prompt may go out now."""
        await self._voice.playback_drained()

    async def flush_deferred_prompt(self) -> None:
        """Send an armed prompt if the user is not speaking (the same path as playback_drained)."""
        await self._voice.playback_drained()

    async def user_speech_started(self) -> None:
        """The user started speaking (barge-in): cancels an armed prompt, keeps queued context.

        ``send_audio`` calls it on its own when the input VAD detects speech; call it yourself
        when you run your own VAD (and set ``input_vad=None``).
        """
        await self._voice.user_speech_started()

    async def user_speech_ended(self) -> None:
        """The user stopped speaking: an armed prompt goes out unless the model is playing."""
        await self._voice.user_speech_ended()

    def voice_state(self) -> VoiceRuntimeState:
        """A snapshot of the voice state (who is speaking, playback, the armed prompt)."""
        return self._voice.voice_state()

    def input_vad_state(self) -> BackendVadSnapshot | None:
        """A snapshot of the input VAD (None when ``input_vad`` is off)."""
        return self._voice.input_vad_state()

    # -- receiving ----------------------------------------------------------------------------

    def subscribe(self) -> Subscription[SessionEvent]:
        """Raw wire-level events from now on; ``receive()`` raises ``Lagged`` when behind."""
        return self._session.subscribe()

    def events(self) -> Subscription[LiveEvent]:
        """LiveEvents from now on; ``receive()`` raises ``Lagged(missed)`` when behind."""
        return self._events.subscribe()

    def stream(self) -> Subscription[LiveEvent]:
        """LiveEvents from now on as an async iterator that skips lag and ends with the session."""
        return self._events.subscribe(on_lag="skip")

    # -- state --------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Typed session state (``session:`` keys are kept up to date by the runtime)."""
        return self._state

    @overload
    def extracted(self, name: str, type: None = None) -> Any: ...
    @overload
    def extracted(self, name: str, type: type[_T]) -> _T | None: ...

    def extracted(self, name: str, type: object = None) -> Any:
        """The latest result of the extractor ``name``, or None before its first result.

        Args:
            name: the extractor's name (as configured in ``LiveConfig(extractors=...)``).
            type: if given, the result is structured into it strictly (attrs classes,
                dataclasses, ``list[int]``, ``X | None``...), as :meth:`State.try_get` does;
                without it, the result comes back as the extractor's declared result type.

        Raises:
            ValueError: no extractor of that name is configured (a typo is never a silent
                None), or the result does not fit ``type`` (a ``TypeError`` when its kind is
                wrong); the message names the extractor and the type.
        """
        if self._extraction is None:
            raise ValueError(f"no extractor is named {name!r} (none is configured)")
        return self._extraction.latest(name, cast("Any", type))

    def add_context(
        self, context: str | m.Content | Sequence[m.Content], *, prompt: bool = False
    ) -> None:
        """Give the model context at the next turn boundary (step 6 of the turn pipeline).

        The boundary delivers it the way the session delivers context: at once, as one
        ``clientContent`` with ``turnComplete: false`` (immediate delivery), or queued for the
        user's next send (``context_delivery="deferred"``).  Use it from a watcher's action or
        any task to steer the model without interrupting it.

        Args:
            context: a text (sent as a user-role turn), a :class:`~livehandle.lowlevel.Content`,
                or a sequence of them.
            prompt: also ask the model to respond once the context is delivered (immediate: an
                empty ``turnComplete: true`` turn; deferred: arm the prompt).

        Raises:
            TypeError: ``context`` is not a str, a Content or a sequence of Contents.
            ValueError: an empty text, or too many contents already wait (nothing queued).
        """
        self._lanes.pipeline.add_context(context_contents(context), prompt=prompt)

    @property
    def telemetry(self) -> SessionTelemetry:
        """Counters and latencies; ``telemetry.snapshot()`` is JSON-ready."""
        return self._telemetry

    @property
    def transcript(self) -> list[TranscriptTurn]:
        """The finished turns of the conversation so far, oldest first (a copy)."""
        return self._lanes.transcript.turns

    def resume_handle(self) -> str | None:
        """The newest resumable session handle, to resume this conversation later."""
        return self._session.resume_handle

    def phase(self) -> SessionPhase:
        """The session's current phase."""
        return self._session.phase

    @property
    def session_id(self) -> str:
        """The session's id: the one given to ``open_live_session``, or a generated one."""
        return self._source.session_id

    def snapshot(self) -> SessionSnapshot:
        """The session now, as a :class:`~livehandle.SessionSnapshot` (to save it yourself).

        It carries the committed State, the kept transcript turns, the newest resumable handle
        and when it arrived, a telemetry summary and the config's fingerprint; never a secret.
        """
        return self._source.take()

    def _attach_saver(self, saver: SnapshotSaver) -> None:
        """Save snapshots through ``saver`` at turn boundaries, new handles and disconnect."""
        self._saver = saver
        self._lanes.pipeline.on_boundary = saver.offer
        self._source.on_handle = saver.offer

    def _end_with(self, error: SessionError) -> None:
        """Make ``error`` the session's end (``done()`` raises it, ``Disconnected`` carries it)."""
        self._end_error = error
        self._lanes.end_error = error

    # -- ending -------------------------------------------------------------------------------

    async def done(self) -> SessionEnd:
        """Wait for the session to end; every caller is woken.

        Returns:
            how it ended, when it ended normally (our disconnect, or the server's close 1000).

        Raises:
            SessionError: the subclass for an abnormal end (e.g. ``ServerError`` for 1011).
        """
        end = await self._session.wait_closed()
        if self._end_error is not None:
            end = attrs.evolve(end, error=self._end_error)
        if end.error is not None:
            # Every caller raises the same error; start each raise with a fresh traceback.
            raise end.error.with_traceback(None)
        return end

    async def disconnect(self) -> None:
        """End the session: close with 1000, drain the lanes (0.25 s each), stop the rest.

        Idempotent and safe from any task; concurrent callers wait for the first.  Shielded, so
        it completes when the caller is being cancelled; bounded by the close grace plus 0.5 s,
        plus, with a session store, the final snapshot's save and the lease's release (2 s
        each at most).
        """
        if self._disconnecting:
            await self._disconnected.wait()
            return
        self._disconnecting = True
        with trio.CancelScope(shield=True):
            self._tools.stop()  # tools first: background ones are cancelled, not awaited
            self._voice.stop()  # concurrent effects: nothing to send on a closing session
            await self._session.close(1000)
            await self._lanes.drain(DISCONNECT_GRACE)
            if self._saver is not None:
                await self._saver.finish()  # the final snapshot, after the last turn
            if not self._lanes.in_control_lane():
                # From a hook, the control lane still has to publish Disconnected; it closes
                # the stream itself once it has.
                self._events.close()
        self._disconnected.set()
