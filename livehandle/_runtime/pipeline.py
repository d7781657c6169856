"""The turn pipeline: what the control lane runs at every turn boundary, in one documented order.

At every ``TurnComplete`` the control lane runs :meth:`TurnPipeline.turn_complete`:

1. **finalize** the transcript turn (every fragment of the turn, the typed text, the tool calls);
2. **clear** the ``turn:`` scope of the state;
3. run the **extractors** due (concurrently, each bounded by its own timeout); their results
   go to the state and become ``Extraction`` / ``ExtractionError`` / ``StatePromotion`` events;
4. run the **watchers** queued by every change since they last ran, whatever wrote it (a tool
   during the turn, a background task, the extractors of step 3);
5. run the **flow** step, when a flow governs the session (:class:`FlowStep`): its
   :class:`FlowOutcome` adds context to this boundary's and events to its publication;
6. deliver the **context** this boundary produced (:meth:`add_context`, the flow's) the way the
   session delivers context: at once as one ``clientContent`` (``turnComplete: false``), or,
   with deferred delivery, queued for the user's next send;
7. offer a **snapshot** to the saver (persistence; never waits for the store);
8. **publish** the events, in order: the final transcripts, the extraction events, the flow's
   events, then ``TurnComplete``.  A subscriber that sees ``TurnComplete`` therefore finds the
   turn's extractions in :meth:`~livehandle.LiveHandle.extracted` and in the state.

When the session starts, :meth:`TurnPipeline.session_started` runs the flow step once
(``starting=True``), delivers its context and publishes its events, before any turn.

Bounds: steps 3, 4, 5 and 6 each run under a deadline (``step_timeout``).  A step that overruns is
cancelled, reported as ``LiveEvent.Error(TurnStepTimeout(step, seconds))``, and the pipeline goes
on, so the snapshot and the publication always happen.  Between turn boundaries the control
lane runs queued watchers as soon as it is free (:meth:`run_watchers`), under the same bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from livehandle._config.instruction import text_content
from livehandle._errors import SessionClosed, SessionTaskFailed, TurnStepTimeout
from livehandle._events import LiveEvent
from livehandle._extract.protocol import TriggerKind
from livehandle._logs import library_logger
from livehandle._runtime.context import DeferredWriter
from livehandle._runtime.writer import SessionWriter, check_text
from livehandle._state.journal import REDACTED
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle._extract.protocol import TurnExtractor
    from livehandle._extract.runner import ExtractionRunner
    from livehandle._extract.turns import TranscriptTurn
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._runtime.transcript import TranscriptBuffer
    from livehandle._state import State

__all__ = [
    "CONTEXT_CAPACITY",
    "ContextDelivery",
    "FlowOutcome",
    "FlowStep",
    "TurnPipeline",
    "context_contents",
    "deliver_context",
]

log = library_logger("livehandle.pipeline")

#: Contents :meth:`TurnPipeline.add_context` may hold until the next boundary delivers them.
CONTEXT_CAPACITY = 64


def context_contents(context: object) -> list[m.Content]:
    """``add_context``'s argument as contents: a text becomes one user-role turn.

    Raises:
        TypeError: not a str, a Content or a sequence of Contents.
        ValueError: an empty text, or an empty sequence.
    """
    if isinstance(context, str):
        return [text_content(check_text(context, "context"), "user")]
    if isinstance(context, m.Content):
        return [context]
    if isinstance(context, Sequence) and not isinstance(context, bytes | bytearray):
        contents = list(context)
        for index, item in enumerate(contents):
            if not isinstance(item, m.Content):
                raise TypeError(f"context[{index}] must be a Content, got {type(item).__name__}")
        if not contents:
            raise ValueError("context must not be empty")
        return contents
    raise TypeError(
        f"context must be a str, a Content or a sequence of Contents, got {type(context).__name__}"
    )


async def deliver_context(
    writer: SessionWriter,
    telemetry: SessionTelemetry,
    contents: Sequence[m.Content],
    *,
    prompt: bool,
) -> None:
    """Deliver a boundary's context the way the session delivers context.

    Immediate delivery sends it now, as one ``clientContent`` with ``turnComplete: false``, then
    an empty ``turnComplete: true`` turn when ``prompt`` asks the model to answer.  Deferred
    delivery (a :class:`~livehandle.lowlevel.DeferredWriter`) queues it for the user's next
    send and arms the prompt; what its queue cannot take is dropped, counted in the telemetry
    as ``context`` and logged.
    """
    if isinstance(writer, DeferredWriter):
        try:
            writer.defer(contents, prompt=prompt)
        except ValueError:
            telemetry.record_dropped("context", len(contents))
            log.warning("the deferred context queue is full: %d contents dropped", len(contents))
        return
    if contents:
        await writer.send_client_content(contents, turn_complete=False)
    if prompt:
        await writer.send_client_content([], turn_complete=True)


class ContextDelivery(Protocol):
    """Delivers a boundary's context: sends it at once, or queues it for the next user send."""

    async def __call__(self, contents: Sequence[m.Content], *, prompt: bool) -> None: ...


def _contents(items: Iterable[m.Content]) -> tuple[m.Content, ...]:
    return tuple(items)


def _events(items: Iterable[LiveEvent]) -> tuple[LiveEvent, ...]:
    return tuple(items)


@attrs.frozen
class FlowOutcome:
    """What the flow step adds to one boundary.

    Attributes:
        contents: context to deliver with this boundary's context (step 6), in order.
        events: LiveEvents to publish at step 8, after the extraction events and before
            ``TurnComplete`` (at the session's start: right away, in order).
        prompt: ask the model to answer once the context is delivered (an ``on_enter``
            action's ``add_context(..., prompt=True)``).
    """

    contents: tuple[m.Content, ...] = attrs.field(default=(), converter=_contents)
    events: tuple[LiveEvent, ...] = attrs.field(default=(), converter=_events)
    prompt: bool = False


class FlowStep(Protocol):
    """Step 5 of the turn pipeline: what a governing flow does at each boundary.

    :meth:`boundary` runs on the control lane under the step deadline: one that overruns is
    cancelled and reported as ``TurnStepTimeout("flow", seconds)``, its outcome lost, and the
    pipeline goes on.  It should report its own failures as events of its outcome; one that
    raises is reported as a :class:`~livehandle.SessionTaskFailed` error, and the pipeline goes
    on.
    """

    async def boundary(self, starting: bool) -> FlowOutcome:
        """Run the flow's boundary: ``starting`` once when the session starts, then every turn."""
        ...


class TurnPipeline:
    """Runs the turn boundary on the control lane; see the module docstring.

    Args:
        state: the session's state.
        transcript: the session's transcript (owned by the control lane).
        emit: publishes a LiveEvent the way the control lane does (hooks, then subscribers).
        deliver: delivers a boundary's context (see :class:`ContextDelivery`).
        extraction: the extractor engine, or None when no extractor is configured.
        step_timeout: seconds each bounded step may take.
        flow: the flow step (step 5), or None when no flow governs the session.
    """

    __slots__ = (
        "_context",
        "_deliver",
        "_emit",
        "_extraction",
        "_flow",
        "_prompt",
        "_start_events",
        "_started",
        "_state",
        "_step_timeout",
        "_transcript",
        "on_boundary",
    )

    def __init__(
        self,
        *,
        state: State,
        transcript: TranscriptBuffer,
        emit: Callable[[LiveEvent], Awaitable[None]],
        deliver: ContextDelivery,
        extraction: ExtractionRunner | None = None,
        step_timeout: float = 30.0,
        flow: FlowStep | None = None,
    ) -> None:
        self._state = state
        self._transcript = transcript
        self._emit = emit
        self._deliver = deliver
        self._extraction = extraction
        self._step_timeout = step_timeout
        self._flow = flow
        self._started = False
        self._start_events: list[LiveEvent] = []  # published once Connected is
        self._context: list[m.Content] = []
        self._prompt = False
        #: Called at step 7 with nothing (the saver takes its own snapshot); None: no store.
        self.on_boundary: Callable[[], None] | None = None

    # -- what the rest of the runtime tells it --------------------------------------------------

    def add_context(self, contents: Sequence[m.Content], *, prompt: bool = False) -> None:
        """Queue context for the next boundary to deliver (step 6), and arm a prompt if asked.

        Raises:
            ValueError: more than :data:`CONTEXT_CAPACITY` contents would be waiting (nothing
                is queued).
        """
        if len(self._context) + len(contents) > CONTEXT_CAPACITY:
            raise ValueError(
                f"{len(self._context)} contents already wait for the next turn boundary; "
                f"adding {len(contents)} would exceed {CONTEXT_CAPACITY}"
            )
        self._context.extend(contents)
        self._prompt = self._prompt or prompt

    async def session_started(self) -> None:
        """The session has started: run the flow step once (``starting=True``), before any turn.

        Its context is delivered as step 6 delivers a boundary's, at once; its events wait for
        :meth:`connected` (so ``Connected`` stays the session's first event).  Without a flow,
        or on a second call, nothing happens.
        """
        if self._flow is None or self._started:
            return
        self._started = True
        self._start_events = await self._bounded("flow", self._run_flow, True)
        if self._context or self._prompt:
            await self._bounded("context", self._deliver_context)

    async def connected(self) -> None:
        """``Connected`` was published: publish the start's events, in order (once)."""
        events, self._start_events = self._start_events, []
        for event in events:
            await self._emit(event)

    def session_ended(self) -> None:
        """The session has ended: the journal sink gets every line written so far.

        The sink is flushed, not closed: it belongs to the ``StateConfig``, which may serve
        further sessions; its owner closes it.
        """
        self._state.flush_sink()

    # -- the boundaries ------------------------------------------------------------------------

    async def turn_complete(self, reason: str | None) -> None:
        """Run the whole pipeline for the turn that just completed (steps 1 to 8)."""
        turn = self._transcript.finish_turn()  # 1
        self._state.clear_prefix("turn:")  # 2
        events: list[LiveEvent] = []
        if self._extraction is not None:  # 3
            # After-tool-call extractors are due when the turn answered a tool call.
            due = self._extraction.due(TriggerKind.EVERY_TURN, turn.index, bool(turn.tool_calls))
            if due:
                events += await self._bounded("extractors", self._extract, due, self._completed)
        await self.run_watchers()  # 4
        if self._flow is not None:  # 5
            self._started = True  # a turn before the start's boundary: never run it after
            events += await self._bounded("flow", self._run_flow, False)
        if self._context or self._prompt:  # 6
            await self._bounded("context", self._deliver_context)
        self._state.flush_sink()  # 7: the journal's lines of this turn reach their file
        if self.on_boundary is not None:
            self.on_boundary()
        if turn.user:  # 8
            await self._emit(LiveEvent.InputTranscript(turn.user, is_final=True))
        if turn.model:
            await self._emit(LiveEvent.OutputTranscript(turn.model, is_final=True))
        for event in events:
            await self._emit(self._redacted(event))
        await self._emit(LiveEvent.TurnComplete(reason))

    async def generation_complete(self) -> None:
        """Run the ``GENERATION_COMPLETE`` extractors, the turn in progress included."""
        if self._extraction is None:
            return
        count = self._transcript.count + 1
        called = bool(self._transcript.current_turn().tool_calls)
        due = self._extraction.due(TriggerKind.GENERATION_COMPLETE, count, called)
        if not due:
            return
        events = await self._bounded("extractors", self._extract, due, self._with_current)
        await self.run_watchers()
        for event in events:
            await self._emit(self._redacted(event))

    async def run_watchers(self) -> None:
        """Run the watcher actions queued so far, in order (step 4, or between boundaries)."""
        await self._bounded("watchers", self._run_watchers)

    def _redacted(self, event: LiveEvent) -> LiveEvent:
        """``event`` with the value hidden when it lands in a redacted state key.

        ``StateConfig.redact_keys`` keeps those values out of sinks and snapshots; an extraction
        event must not carry them to every subscriber either.
        """
        is_redacted = self._state.is_redacted
        if isinstance(event, LiveEvent.Extraction) and is_redacted(event.name):
            return attrs.evolve(event, value=REDACTED)
        if isinstance(event, LiveEvent.StatePromotion) and is_redacted(event.key):
            return attrs.evolve(event, value=REDACTED)
        return event

    # -- steps ---------------------------------------------------------------------------------

    async def _run_watchers(self) -> None:
        await self._state.run_watchers()

    async def _extract(
        self, due: Sequence[TurnExtractor], window_of: Callable[[int], Sequence[TranscriptTurn]]
    ) -> list[LiveEvent]:
        assert self._extraction is not None
        return await self._extraction.run(due, window_of, self._state)

    def _completed(self, size: int) -> Sequence[TranscriptTurn]:
        """The last ``size`` completed turns, oldest first."""
        return self._transcript.window(size)

    def _with_current(self, size: int) -> Sequence[TranscriptTurn]:
        """The last ``size`` turns, the one in progress (not yet complete) the newest."""
        return self._transcript.window(size, include_current=True)

    async def _run_flow(self, starting: bool) -> list[LiveEvent]:
        """Step 5: the flow's boundary; its contents join this boundary's context."""
        assert self._flow is not None
        try:
            outcome = await self._flow.boundary(starting)
        except Exception as exc:  # the flow step's bug: reported, the pipeline goes on
            log.warning("the turn pipeline's flow step failed", exc_info=True)
            error = SessionTaskFailed(f"the turn pipeline's flow step failed: {exc!r}")
            error.__cause__ = exc
            return [LiveEvent.Error(error)]
        # Not capped by CONTEXT_CAPACITY: the flow's guidance of one boundary, delivered at
        # this same boundary (step 6), never accumulates.
        self._context.extend(outcome.contents)
        self._prompt = self._prompt or outcome.prompt
        return list(outcome.events)

    async def _deliver_context(self) -> list[LiveEvent]:
        contents, prompt = self._context, self._prompt
        self._context, self._prompt = [], False
        try:
            await self._deliver(contents, prompt=prompt)
        except SessionClosed:
            log.debug("the session closed before a boundary's context could be delivered")
        return []

    async def _bounded(
        self,
        step: str,
        run: Callable[..., Awaitable[list[LiveEvent] | None]],
        *args: object,
    ) -> list[LiveEvent]:
        """Run one step under the step deadline; report an overrun and go on."""
        result: list[LiveEvent] | None = None
        with trio.move_on_after(self._step_timeout) as scope:
            result = await run(*args)
        if scope.cancelled_caught:
            log.warning("turn pipeline step %r overran %g s", step, self._step_timeout)
            await self._emit(LiveEvent.Error(TurnStepTimeout(step, self._step_timeout)))
        return result or []
