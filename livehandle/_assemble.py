"""Building a live handle: :func:`assemble_live_handle` and the :class:`LiveRunner` it returns.

:func:`assemble_live_handle` builds a handle and its parts in dependency order (writer, voice
runtime, flow governor, tool dispatcher, lanes, turn pipeline, snapshot source) and returns the
:class:`LiveRunner` that ``open_live_session`` starts in its nursery.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, final

import trio

from livehandle._broadcast import Broadcast
from livehandle._config.delivery import ContextDelivery
from livehandle._errors import StateFailed
from livehandle._events import LiveEvent, SessionPhase
from livehandle._extract.llm import LlmExtractor
from livehandle._extract.runner import ExtractionRunner
from livehandle._handle import LiveHandle
from livehandle._nursery import let_go
from livehandle._persist.capture import SnapshotSource, config_fingerprint, new_session_id
from livehandle._runtime.bargein import CurrentBargeIn
from livehandle._runtime.context import DeferredWriter, PendingContext
from livehandle._runtime.dispatch import ToolDispatcher
from livehandle._runtime.flow import FlowGovernor
from livehandle._runtime.lanes import Hooks, Lanes
from livehandle._runtime.pipeline import TurnPipeline, deliver_context
from livehandle._runtime.telemetry import SessionTelemetry
from livehandle._runtime.voice import VoiceRuntime
from livehandle._runtime.writer import SessionWriter
from livehandle._state import State, StateProblem

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from livehandle._config.live import LiveConfig
    from livehandle._runtime.answers import Screened
    from livehandle._runtime.gate import ToolGate
    from livehandle._runtime.otel import OtelObserver
    from livehandle._runtime.pipeline import FlowStep
    from livehandle._session.port import SessionPort
    from livehandle._transport.endpoints import Endpoint
    from livehandle._wire import messages as m

__all__ = ["CLOSE_GRACE", "LiveRunner", "assemble_live_handle"]

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
    ``gate`` (the tool dispatcher's ToolGate) and ``flow_step`` (step 5 of the turn pipeline):
    ``LiveConfig(flow=...)`` builds a :class:`~livehandle._runtime.flow.FlowGovernor` that is
    both (given ones take precedence, for tests of the seams).

    Returns:
        the handle, and the runner to start in the session's nursery once the session runs.
    """
    events: Broadcast[LiveEvent] = Broadcast(config.event_capacity)
    events.retain()  # until the runner's release_events(): see open_live_session
    state = State(config.state)
    telemetry = SessionTelemetry()
    session_id = session_id if session_id is not None else new_session_id()
    otel = None if config.otel is None else _otel(config, telemetry, endpoint, session_id)
    on_speech_start, on_speech_end = telemetry.record_turn_start, telemetry.record_speech_end
    if otel is not None:
        on_speech_start = _both(on_speech_start, otel.speech_started)
        on_speech_end = _both(on_speech_end, otel.speech_ended)
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
        on_speech_start=on_speech_start,
        on_speech_end=on_speech_end,
        model_speaking=lambda: session.phase is SessionPhase.MODEL_SPEAKING,
    )

    governor = None
    if config.flow is not None:
        governor = FlowGovernor(
            config.flow,
            mode=config.flow_mode,
            state=state,
            tools=config.tool_names,
            emit=events.publish,
            barge_in=barge_in,
            action_timeout=config.turn_step_timeout,
        )
        gate = gate if gate is not None else governor
        flow_step = flow_step if flow_step is not None else governor

    def tool_event(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.ToolExecution):  # summarised with the turn
            lanes.transcript.add_tool_call(event.name, event.args, event.result)
        if otel is not None:
            otel.live_event(event)  # tool spans end here
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
    if otel is not None:
        session.add_tap(otel.tap)  # spans and metrics, after the router
    source = SnapshotSource(
        session_id,
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
        governor=governor,
    )
    closers = [item for item in extractors if isinstance(item, LlmExtractor)]
    on_end = otel.close if otel is not None else None
    return handle, LiveRunner(voice, tools, lanes, events, closers, governor, on_end)


def _otel(
    config: LiveConfig, telemetry: SessionTelemetry, endpoint: Endpoint, session_id: str
) -> OtelObserver:
    """The session's OpenTelemetry observer (imports OpenTelemetry: only when configured)."""
    from livehandle._runtime.otel import OtelObserver  # the optional extra: here only

    assert config.otel is not None
    return OtelObserver(
        config.otel,
        telemetry=telemetry,
        model=config.model,
        backend=endpoint.backend,
        session_id=session_id,
    )


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    """A callback that calls ``first``, then ``second``."""

    def both() -> None:
        first()
        second()

    return both


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
        governor: FlowGovernor | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self._governor = governor
        self._on_end = on_end  # the OpenTelemetry observer's close, when configured
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
        task_status = let_go(task_status)  # idle, this task keeps no start-up nursery alive
        self._voice.attach(nursery)
        self._tools.attach(nursery)
        if self._governor is not None:
            self._governor.attach(nursery)
        try:
            await self._lanes.control_lane(nursery, task_status)  # this task is the lane
        finally:
            # The session has ended: no effect or tool can send any more.
            self._tools.stop()
            self._voice.stop()
            if self._governor is not None:
                self._governor.stop()
            self._lanes.pipeline.session_ended()  # the journal sink's last lines
            if self._on_end is not None:
                self._on_end()  # spans still open end with the session
            if self._closers:  # the LLM extractors' HTTP clients, bounded, even when cancelled
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_GRACE):
                    for closer in self._closers:
                        await closer.aclose()
