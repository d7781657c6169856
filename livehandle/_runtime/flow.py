"""FlowGovernor: one session's conversation flow at work, in tool dispatch and at turn boundaries.

A :class:`~livehandle.Flow` is a description; the governor runs it for one session.  It is three
things to the runtime, each small:

* the **tool gate** the dispatcher consults before any call runs (:meth:`check`,
  :meth:`succeeded`): in ``enforce`` mode a call the flow does not admit is refused with the
  reason (the dispatcher answers ``{"error": reason}`` and never runs it); in ``observe`` mode it
  runs.  Either way the violation is kept (the most recent :data:`VIOLATIONS_KEPT`, all of them
  counted) and published as ``LiveEvent.FlowViolation``;
* the turn pipeline's **flow step** (:meth:`boundary`): the marking advances by one turn and
  relatches; ``flow:active``, ``flow:done`` and ``flow:marking`` (what persistence saves) are set
  in the state; each newly active step is published once as ``LiveEvent.StepEntered`` and runs
  its ``on_enter`` action (inline ones awaited, all of them finishing a little before the
  step's bound, so that one which overruns fails alone and the boundary completes; then the
  marking relatches, since an action's result may complete its step); the guidance
  (postures, grounds, the unmet requirements) goes to the model as context whenever it
  differs from what the model was last given.  The same step runs
  once when the session starts, so the first step's posture reaches the model before the user's
  first turn;
* the source of :meth:`explain`, a synchronous snapshot computed without waiting or changing
  anything.

Digressions (:meth:`digress`) push an overlay flow; when it completes, the flow below resumes,
restarts or is terminated, each change published as ``LiveEvent.PhaseTransition``.  A terminated
flow refuses every tool and says so; the governor never ends the session.
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs
import trio

from livehandle._config.flow_mode import FlowMode
from livehandle._config.instruction import text_content
from livehandle._errors import FlowActionFailed, FlowGuardFailed
from livehandle._events import LiveEvent
from livehandle._flow import Flow, FlowExplanation, FlowStack, Resume, Step, StepAction, Violation
from livehandle._flow.constraints import Once, once_reason
from livehandle._logs import library_logger
from livehandle._nursery import TaskHost
from livehandle._runtime.pipeline import CONTEXT_CAPACITY, FlowOutcome, context_contents

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from livehandle._flow.stack import StackChange
    from livehandle._runtime.bargein import BargeIn
    from livehandle._state import State
    from livehandle._wire import messages as m

__all__ = ["BOUNDARY_RESERVE", "GUIDANCE_HEADER", "VIOLATIONS_KEPT", "FlowGovernor"]

log = library_logger("livehandle.flow")

#: Violations :meth:`FlowGovernor.explain` lists (the most recent); all are counted.
VIOLATIONS_KEPT = 32

#: Seconds of the flow step's bound kept back from its inline actions (at most a tenth of it),
#: so that one which overruns fails alone and the boundary still completes within the bound.
BOUNDARY_RESERVE = 0.25

#: The first line of the guidance the model is given, so it never takes it for the user's words.
GUIDANCE_HEADER = "Conversation guidance for the assistant (not said by the user):"


class _Entry:
    """What an ``on_enter`` action receives: the step, its flow, the state, a way to add context."""

    __slots__ = ("_queue", "flow", "state", "step")

    def __init__(
        self, step: str, flow: str, state: State, queue: Callable[[object, bool], None]
    ) -> None:
        self.step = step
        self.flow = flow
        self.state = state
        self._queue = queue

    def __repr__(self) -> str:
        return f"<StepEntry step={self.step!r} flow={self.flow!r}>"

    def add_context(
        self, context: str | m.Content | Sequence[m.Content], *, prompt: bool = False
    ) -> None:
        """Give the model ``context`` (a text, a Content or contents) with the next boundary."""
        self._queue(context, prompt)


class FlowGovernor:
    """Runs one flow (and its digressions) for one session; see the module docstring.

    Args:
        flow: the session's main flow.
        mode: enforce (refuse what the flow does not admit) or observe (only record it).
        state: the session's state, which the guards read and the flow step writes.
        tools: the session's tool names (with the flow's own, the universe ``explain()`` covers).
        emit: publishes a LiveEvent at once (violations, stack changes, failures).
        barge_in: the current barge-in group (``spawn`` actions belong to the turn).
        action_timeout: seconds an ``on_enter`` action may take when it names no timeout.
    """

    def __init__(
        self,
        flow: Flow,
        *,
        mode: FlowMode,
        state: State,
        tools: Iterable[str],
        emit: Callable[[LiveEvent], object],
        barge_in: Callable[[], BargeIn],
        action_timeout: float,
    ) -> None:
        self._mode = mode
        self._state = state
        self._tools = frozenset(tools)
        self._emit = emit
        self._barge_in = barge_in
        self._action_timeout = action_timeout
        self._stack = FlowStack(flow, state, tools=self._tools, on_guard_error=self._guard_failed)
        self._host = TaskHost("the flow's actions")
        self._violations: deque[Violation] = deque(maxlen=VIOLATIONS_KEPT)
        self._failed_guards: set[str] = set()
        self._context: list[m.Content] = []
        self._prompt = False
        self._given: tuple[str, ...] = ()  # the guidance the model was last given
        # The running boundary's events: failures reported meanwhile join them, in order (a
        # step's StepEntered, then its action's failure), instead of being published at once.
        self._collecting: list[LiveEvent] | None = None
        # Calls that run and have not finished yet, by tool (never more than the calls in
        # flight: each is released by ``finished``, which the dispatcher calls once per call).
        self._in_flight: dict[str, int] = {}
        #: Every violation so far (the explanation keeps only the most recent).
        self.violation_count = 0
        #: Every failure of a custom guard so far (each guard is reported once).
        self.guard_failures = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def attach(self, nursery: trio.Nursery) -> None:
        """Run spawned and background ``on_enter`` actions in ``nursery`` until :meth:`stop`."""
        self._host.attach(nursery)

    def stop(self) -> None:
        """Cancel every action still running.  Idempotent."""
        self._host.stop()

    def restore(self, state: State) -> None:
        """Take up the marking a restored state carries (``flow:marking``), if it fits the flow."""
        data = state.get("flow:marking")
        if not isinstance(data, dict):
            return
        try:
            self._stack.restore(data)
        except (TypeError, ValueError) as exc:
            log.warning(
                "the restored flow marking does not fit this flow; starting afresh: %s", exc
            )

    # -- the tool gate --------------------------------------------------------------------------

    def check(self, name: str, call_id: str | None) -> str | None:
        """Whether the call may run: None, or the reason it is refused (enforce mode only).

        A tool the governing flow lets run only ``once`` is also refused while an admitted call
        of it is still in flight (two calls in one message, or a second while the first runs):
        ``once`` counts successes, and the first has not succeeded yet.
        """
        reason = self._reason(name)
        self._publish_changes(self._stack.take_changes())  # digressions admits() completed
        enforced = self._mode is FlowMode.ENFORCE
        if reason is None or not enforced:  # it runs (observed violations run all the same)
            # Every call that runs is in flight until ``finished``, once-tool or not now: a
            # digression may make the tool a once-tool while it runs.
            self._in_flight[name] = self._in_flight.get(name, 0) + 1
        if reason is None:
            return None
        self._violations.append(Violation(name, reason, call_id, enforced))
        self.violation_count += 1
        log.info("flow violation (%s): %s", "refused" if enforced else "observed", reason)
        self._emit(LiveEvent.FlowViolation(name, reason, call_id, enforced))
        return reason if enforced else None

    def succeeded(self, name: str) -> None:
        """A call of ``name`` was answered without an error: the marking counts it.

        ``flow:marking`` follows at once, so a snapshot taken before the turn ends (the
        session's last) never loses a success (``flow:active`` and ``flow:done`` follow at the
        turn boundary, with the steps' StepEntered events).
        """
        self._publish_changes(self._stack.on_tool_ok(name))
        self._state.set("flow:marking", self._stack.to_json())

    def finished(self, name: str) -> None:
        """An admitted call of ``name`` ended (after its answer, if any, was counted)."""
        count = self._in_flight.get(name, 0) - 1
        if count > 0:
            self._in_flight[name] = count
        else:
            self._in_flight.pop(name, None)

    def _reason(self, name: str) -> str | None:
        reason = self._stack.admits(name)
        if reason is None and self._in_flight.get(name) and self._is_once(name):
            reason = once_reason(name)
        return reason

    def _is_once(self, name: str, flow: Flow | None = None) -> bool:
        constraints = (self._stack.top.flow if flow is None else flow).constraints
        return any(isinstance(c, Once) and c.tool == name for c in constraints)

    # -- digressions ----------------------------------------------------------------------------

    def digress(self, flow: Flow, then: Resume | str) -> None:
        """Push ``flow`` over the current one until it completes; then apply ``then``.

        Raises:
            TypeError: ``flow`` is not a Flow.
            ValueError: ``then`` is not one of resume, restart, terminate.
            FlowError: the overlay names a tool the session does not have.
        """
        if not isinstance(flow, Flow):
            raise TypeError(f"digress() takes a Flow, got {type(flow).__name__}")
        flow.check_tools(self._tools)
        self._publish_changes([self._stack.push(flow, then)])

    # -- the turn pipeline's flow step ------------------------------------------------------------

    async def boundary(self, starting: bool) -> FlowOutcome:
        """Advance the flow at a turn boundary (or once at the start); see the module docstring.

        Failures reported meanwhile (an ``on_enter`` action's, a custom guard's) are events of
        the outcome, after the StepEntered of their step; should the boundary itself be
        cancelled, they are published at once.
        """
        events: list[LiveEvent] = []
        self._collecting = events
        try:
            return await self._boundary(starting, events)
        except BaseException:
            for event in events:  # the boundary is lost: its failures are not
                if isinstance(event, LiveEvent.Error):
                    self._emit(event)
            raise
        finally:
            self._collecting = None

    async def _boundary(self, starting: bool, events: list[LiveEvent]) -> FlowOutcome:
        stack = self._stack
        inline_until = self._inline_deadline()
        if starting:
            stack.top.relatch()
        else:
            events += self._changes(stack.on_turn())
        # An inline action's result may complete its step (``resolved(step)``): relatch after
        # the actions and enter what that made active, at this same boundary.  Each step is
        # entered once per run of the flow, so this ends.
        while fresh := stack.take_newly_active():
            for flow_name, step in fresh:
                events.append(LiveEvent.StepEntered(step.id, flow_name))
                if step.on_enter is not None:
                    await self._start_action(flow_name, step, step.on_enter, inline_until)
            stack.top.relatch()
        self._record_in_state()
        guidance = stack.guidance()
        if guidance and guidance != self._given:
            self._context.append(text_content("\n".join((GUIDANCE_HEADER, *guidance)), "user"))
        self._given = guidance
        contents, prompt = tuple(self._context), self._prompt
        self._context, self._prompt = [], False
        return FlowOutcome(contents=contents, events=tuple(events), prompt=prompt)

    def explain(self) -> FlowExplanation:
        """What governs the session now; never waits, never changes anything."""
        explanation = self._stack.explain()
        governing = self._stack.governing()  # the flow explain() describes
        running = {
            name: once_reason(name)
            for name in self._in_flight
            if name in explanation.allowed_tools and self._is_once(name, governing)
        }
        if running:  # a once-tool with a call in flight is refused until that call ends
            explanation = attrs.evolve(
                explanation,
                allowed_tools=tuple(t for t in explanation.allowed_tools if t not in running),
                blocked_tools={**explanation.blocked_tools, **running},
            )
        return attrs.evolve(explanation, mode=self._mode.value, violations=tuple(self._violations))

    # -- internals ------------------------------------------------------------------------------

    def _record_in_state(self) -> None:
        explanation = self._stack.explain()
        self._state.update(
            {
                "flow:active": list(explanation.active),
                "flow:done": list(explanation.done),
                "flow:marking": self._stack.to_json(),
            }
        )
        if self._stack.terminated:
            self._state.set("flow:terminated", True)
        else:  # only while terminated (a restored state may carry another flow's flag)
            self._state.remove("flow:terminated")

    def _changes(self, changes: Sequence[StackChange]) -> list[LiveEvent]:
        return [LiveEvent.PhaseTransition(c.from_flow, c.to_flow, c.reason) for c in changes]

    def _publish_changes(self, changes: Sequence[StackChange]) -> None:
        for event in self._changes(changes):
            self._emit(event)

    def _queue_context(self, context: object, prompt: bool) -> None:
        contents = context_contents(context)
        if len(self._context) + len(contents) > CONTEXT_CAPACITY:
            raise ValueError(
                f"{len(self._context)} contents already wait for the next turn boundary; "
                f"adding {len(contents)} would exceed {CONTEXT_CAPACITY}"
            )
        self._context.extend(contents)
        self._prompt = self._prompt or prompt

    def _inline_deadline(self) -> float:
        """When the boundary's inline actions must have finished (see :data:`BOUNDARY_RESERVE`).

        The pipeline runs the flow step under a deadline (the session's ``turn_step_timeout``,
        also the default timeout of an action): an inline action allowed to reach it would
        take the whole boundary down with it (its StepEntered events, the state, the guidance).
        """
        bound = trio.current_effective_deadline()
        if math.isinf(bound):
            return bound
        return bound - min(BOUNDARY_RESERVE, (bound - trio.current_time()) / 10)

    async def _start_action(
        self, flow_name: str, step: Step, action: StepAction, inline_until: float
    ) -> None:
        entry = _Entry(step.id, flow_name, self._state, queue=self._queue_context)
        if action.mode == "inline":
            await self._run_action(step.id, action, entry, inline_until)
        elif action.mode == "spawn":  # belongs to the turn: a barge-in cancels it
            group = self._barge_in()
            self._host.start_soon(self._run_in_group, group, step.id, action, entry)
        else:  # background: independent of the turns
            self._host.start_soon(self._run_action, step.id, action, entry)

    async def _run_in_group(
        self, group: BargeIn, step: str, action: StepAction, entry: _Entry
    ) -> None:
        with group.scope():
            await self._run_action(step, action, entry)

    async def _run_action(
        self, step: str, action: StepAction, entry: _Entry, until: float = math.inf
    ) -> None:
        timeout = action.timeout if action.timeout is not None else self._action_timeout
        own = trio.current_time() + timeout
        result: Any = None
        try:
            with trio.fail_at(min(own, until)):
                result = action.fn(entry)
                if inspect.isawaitable(result):
                    result = await result
        except trio.TooSlowError:
            why = (
                f"it took longer than {timeout:g} s"
                if own <= until
                else "it did not finish within the turn boundary's bound (turn_step_timeout)"
            )
            self._action_failed(step, TimeoutError(why))
            return
        except Exception as exc:  # the action's bug: reported, the session goes on
            self._action_failed(step, exc)
            return
        if result is None:
            return
        try:
            self._state.set(f"{step}:result", result)
        except (TypeError, ValueError) as exc:  # no JSON form
            self._action_failed(step, exc)

    def _action_failed(self, step: str, cause: BaseException) -> None:
        log.warning("the on_enter action of step %r failed", step, exc_info=cause)
        error = FlowActionFailed(step, cause)
        error.__cause__ = cause
        self._report(LiveEvent.Error(error))

    def _guard_failed(self, guard: str, cause: BaseException) -> None:
        self.guard_failures += 1
        if guard in self._failed_guards:
            return  # reported once: explain() and every call evaluate it again
        self._failed_guards.add(guard)
        log.warning("the custom guard %r raised", guard, exc_info=cause)
        error = FlowGuardFailed(guard, cause)
        error.__cause__ = cause
        self._report(LiveEvent.Error(error))

    def _report(self, event: LiveEvent) -> None:
        """Publish a failure: with the running boundary's events, or at once between them."""
        if self._collecting is not None:
            self._collecting.append(event)
        else:
            self._emit(event)
