"""A main flow with digressions stacked on it (:class:`~livehandle.lowlevel.FlowStack`)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs

from livehandle._flow.machine import FlowMachine, GuardErrorHandler
from livehandle._flow.model import Flow

if TYPE_CHECKING:
    from livehandle._flow.explain import FlowExplanation
    from livehandle._flow.guards import StateReader
    from livehandle._flow.step import Step

__all__ = ["FlowStack", "Resume", "StackChange"]

#: The guidance of a terminated stack.
TERMINATED_GUIDANCE = "The conversation flow has ended; no tool is available."


class Resume(enum.Enum):
    """What a digression does to the flow below it when it completes."""

    #: Go on with the flow below where it stood.
    RESUME = "resume"
    #: Start the flow below over (its marking is cleared; its steps are entered again).
    RESTART = "restart"
    #: End the flow: every tool is refused from then on (the session is not hung up).
    TERMINATE = "terminate"


@attrs.frozen
class StackChange:
    """The governing flow changed.

    Attributes:
        from_flow: the flow that governed.
        to_flow: the flow that governs now.
        reason: ``"digression"`` (a flow was pushed), ``"resume"``, ``"restart"`` or
            ``"terminate"`` (a digression completed and was popped).
    """

    from_flow: str
    to_flow: str
    reason: str


class FlowStack:
    """A main flow, and digression flows pushed on it for side topics.

    The top flow governs tools and guidance.  When the top digression completes (see
    :meth:`FlowMachine.complete`), it is popped and its ``then`` applies to the flow below.  A
    terminated stack refuses every tool and says so; it never ends the session by itself.

    Args:
        main: the main flow.
        state: what guards and grounds read.
        tools: the session's tool names.
        on_guard_error: as for :class:`FlowMachine`.
    """

    def __init__(
        self,
        main: Flow,
        state: StateReader,
        *,
        tools: Iterable[str] = (),
        on_guard_error: GuardErrorHandler | None = None,
    ) -> None:
        self._state = state
        self._tools = tuple(tools)
        self._on_guard_error = on_guard_error
        self._machines = [
            FlowMachine(main, state, tools=self._tools, on_guard_error=on_guard_error)
        ]
        self._then: list[Resume] = []
        # Digressions popped while admitting a tool (a State change completed one between
        # turns): reported with the next on_turn / on_tool_ok result, in order.
        self._pending: list[StackChange] = []
        self.terminated = False

    @property
    def top(self) -> FlowMachine:
        """The governing flow's machine."""
        return self._machines[-1]

    @property
    def main(self) -> FlowMachine:
        """The main flow's machine."""
        return self._machines[0]

    @property
    def depth(self) -> int:
        """How many flows are stacked (1 without a digression)."""
        return len(self._machines)

    @property
    def names(self) -> tuple[str, ...]:
        """The stacked flows' names, bottom to top."""
        return tuple(m.flow.name for m in self._machines)

    def push(self, overlay: Flow, then: Resume | str = Resume.RESUME) -> StackChange:
        """Digress: ``overlay`` governs until it completes, then ``then`` applies below.

        Returns:
            The change (reason ``"digression"``).

        Raises:
            TypeError: ``overlay`` is not a Flow.
            ValueError: ``then`` is not a :class:`Resume` value, a flow of that name is on the
                stack already, or the stack was terminated.
        """
        if not isinstance(overlay, Flow):
            raise TypeError(f"a digression must be a Flow, got {type(overlay).__name__}")
        resume = Resume(then)
        if self.terminated:
            raise ValueError("the conversation flow was terminated; no digression can start")
        if overlay.name in self.names:
            raise ValueError(f"a flow named {overlay.name!r} is on the stack already")
        change = StackChange(self.top.flow.name, overlay.name, "digression")
        machine = FlowMachine(
            overlay, self._state, tools=self._tools, on_guard_error=self._on_guard_error
        )
        machine.relatch()
        self._machines.append(machine)
        self._then.append(resume)
        return change

    def on_turn(self) -> list[StackChange]:
        """A turn completed: the top flow counts it; completed digressions are popped.

        The changes returned include those :meth:`admits` made since the last call.
        """
        self.top.on_turn()
        return self._take_pending(self._pop_completed())

    def on_tool_ok(self, tool: str) -> list[StackChange]:
        """A call of ``tool`` succeeded: the top flow counts it; completed digressions pop.

        The changes returned include those :meth:`admits` made since the last call.
        """
        self.top.on_tool_ok(tool)
        return self._take_pending(self._pop_completed())

    def take_changes(self) -> list[StackChange]:
        """The changes :meth:`admits` made (digressions it found complete), once each."""
        return self._take_pending([])

    def _take_pending(self, changes: list[StackChange]) -> list[StackChange]:
        pending, self._pending = self._pending, []
        return pending + changes

    def _settled(self, relatch: bool) -> FlowStack:
        """A copy of this stack with its completed digressions popped (nothing here changes)."""
        copy = object.__new__(FlowStack)
        copy._state = self._state
        copy._tools = self._tools
        copy._on_guard_error = self._on_guard_error
        copy._machines = [machine.copy() for machine in self._machines]
        copy._then = list(self._then)
        copy._pending = []
        copy.terminated = self.terminated
        if relatch:
            copy.top.relatch()
        copy._pop_completed()
        return copy

    def _pop_completed(self) -> list[StackChange]:
        changes: list[StackChange] = []
        while len(self._machines) > 1 and self.top.complete():
            popped = self._machines.pop()
            then = self._then.pop()
            below = self.top
            changes.append(StackChange(popped.flow.name, below.flow.name, then.value))
            if then is Resume.RESTART:
                below.reset()
            elif then is Resume.TERMINATE:
                self.terminated = True
            below.relatch()
        return changes

    def _terminated_reason(self, tool: str) -> str:
        return f"{tool!r} is not available: the conversation flow was terminated"

    def admits(self, tool: str) -> str | None:
        """Relatch the top flow, then say why ``tool`` is refused, or None (admitted).

        A digression found complete is popped first (its ``then`` applied), so a finished
        side topic never governs; the change is reported by the next :meth:`on_turn` or
        :meth:`on_tool_ok` (or :meth:`take_changes`).
        """
        if self.terminated:
            return self._terminated_reason(tool)
        self.top.relatch()
        self._pending.extend(self._pop_completed())
        return self.reason(tool)  # terminated by a pop, or the governing flow's reason

    def reason(self, tool: str) -> str | None:
        """As :meth:`admits`, without relatching (and without changing anything)."""
        if self.terminated:
            return self._terminated_reason(tool)
        settled = self._settled(relatch=False) if self.depth > 1 else self
        if settled.terminated:
            return self._terminated_reason(tool)
        return settled.top.reason(tool)

    def explain(self) -> FlowExplanation:
        """A snapshot of the governing flow, with the stack; never changes anything.

        It agrees with :meth:`admits`: a digression that is complete is shown popped.
        """
        if self.depth > 1:
            return self._settled(relatch=True)._explain()
        return self._explain()

    def governing(self) -> Flow:
        """The flow that governs now, as :meth:`explain` shows it (a complete digression popped).

        Never changes anything.
        """
        if self.depth > 1:
            return self._settled(relatch=True).top.flow
        return self.top.flow

    def _explain(self) -> FlowExplanation:
        explanation = self.top.explain()
        if self.terminated:
            universe = sorted(self.top.universe)
            explanation = attrs.evolve(
                explanation,
                allowed_tools=(),
                blocked_tools={t: self._terminated_reason(t) for t in universe},
            )
        return attrs.evolve(explanation, stack=self.names, terminated=self.terminated)

    def take_newly_active(self) -> tuple[tuple[str, Step], ...]:
        """The top flow's newly active steps, each with the flow's name (each step once)."""
        if self.terminated:
            return ()
        name = self.top.flow.name
        return tuple((name, step) for step in self.top.take_newly_active())

    def guidance(self) -> tuple[str, ...]:
        """The top flow's guidance; a terminated stack says that the flow has ended."""
        if self.terminated:
            return (TERMINATED_GUIDANCE,)
        return self.top.guidance()

    def to_json(self) -> dict[str, Any]:
        """The main flow's marking and whether the stack was terminated (not the digressions)."""
        return {"main": self.main.to_json(), "terminated": self.terminated}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`to_json`'s output; digressions in progress are dropped.

        Raises:
            ValueError: ``data`` is not such an object (nothing is changed then).
        """
        if not isinstance(cast("object", data), Mapping) or not isinstance(
            data.get("terminated", False), bool
        ):
            raise ValueError("a flow stack's data must be an object with a bool 'terminated'")
        self.main.restore(data.get("main", {}))
        del self._machines[1:]
        self._then.clear()
        self._pending.clear()
        self.terminated = data.get("terminated", False)
