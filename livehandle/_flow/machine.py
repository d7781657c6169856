"""One flow and its marking: eligibility, relatching, admission and guidance."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from livehandle._flow.checks import successors
from livehandle._flow.constraints import Before, NeverUntil, Once, Require, once_reason
from livehandle._flow.explain import FlowExplanation
from livehandle._flow.ground import render_ground
from livehandle._flow.model import Flow

if TYPE_CHECKING:
    from livehandle._flow.guards import Guard, GuardTrace, StateReader
    from livehandle._flow.step import Step

__all__ = ["FlowMachine", "Marking", "Verdict"]

#: Called with a description of what failed (a custom guard, a ground callable) and the error.
GuardErrorHandler = Callable[[str, BaseException], None]


@attrs.frozen
class Marking:
    """Where a flow stands: the steps done, the tools' successes and the turns seen.

    Attributes:
        done: the ids of the steps done.
        tool_ok: tool name → how many calls of it succeeded.
        turns: how many turns completed.
    """

    done: frozenset[str] = frozenset()
    tool_ok: Mapping[str, int] = attrs.field(factory=dict)
    turns: int = 0


class Verdict(enum.Enum):
    """A step's standing (:meth:`FlowMachine.verdict`)."""

    #: The step is done.
    DONE = "done"
    #: The step is eligible and not done.
    ACTIVE = "active"
    #: The step is not done, but a step waiting for it is: the conversation went past it.
    SKIPPED = "skipped"
    #: The step is not eligible yet.
    PENDING = "pending"


class _Context:
    """The GuardContext a machine evaluates its guards in."""

    __slots__ = ("_done", "_on_error", "_tool_ok", "state")

    def __init__(
        self,
        state: StateReader,
        done: set[str],
        tool_ok: dict[str, int],
        on_error: GuardErrorHandler | None,
    ) -> None:
        self.state = state
        self._done = done
        self._tool_ok = tool_ok
        self._on_error = on_error

    def is_done(self, step: str) -> bool:
        return step in self._done

    def tool_ok(self, tool: str) -> int:
        return self._tool_ok.get(tool, 0)

    def guard_failed(self, guard: Guard, error: Exception) -> None:
        if self._on_error is not None:
            self._on_error(guard.describe(), error)


class FlowMachine:
    """One :class:`~livehandle.Flow` and its marking, evaluated against a session's State.

    Synchronous and I/O-free: the runtime drives it (:meth:`on_turn`, :meth:`on_tool_ok`) and
    asks it which tools it admits (:meth:`admits`).  Not thread-safe.

    Args:
        flow: the flow.
        state: what guards and grounds read (a :class:`~livehandle.State`).
        tools: the session's tool names; with the flow's own, the universe
            :meth:`explain` sorts into allowed and blocked.
        on_guard_error: called with a description and the error when a custom guard or a
            callable ground raises (the guard then does not hold; the ground is left out).
    """

    def __init__(
        self,
        flow: Flow,
        state: StateReader,
        *,
        tools: Iterable[str] = (),
        on_guard_error: GuardErrorHandler | None = None,
    ) -> None:
        if not isinstance(flow, Flow):
            raise TypeError(f"flow must be a Flow, got {type(flow).__name__}")
        self.flow = flow
        self._state = state
        self._tools = frozenset(tools)
        self._on_guard_error = on_guard_error
        self._done: set[str] = set()
        self._tool_ok: dict[str, int] = {}
        self._turns = 0
        self._entered: set[str] = set()
        self._ctx = _Context(state, self._done, self._tool_ok, on_guard_error)
        self._successors = successors(flow.steps, flow.constraints)
        self._waits_for: dict[str, tuple[str, ...]] = {
            step.id: (
                *step.after,
                *(c.a for c in flow.constraints if isinstance(c, Before) and c.b == step.id),
            )
            for step in flow.steps
        }

    @property
    def marking(self) -> Marking:
        """A copy of the current marking."""
        return Marking(frozenset(self._done), dict(self._tool_ok), self._turns)

    @property
    def universe(self) -> frozenset[str]:
        """The tools :meth:`explain` covers: the session's and the flow's."""
        return self._tools | self.flow.tools

    # -- the marking ----------------------------------------------------------------------

    def _eligible(self, step: Step) -> bool:
        if not all(name in self._done for name in self._waits_for[step.id]):
            return False
        return step.gate is None or step.gate.holds(self._ctx)

    def relatch(self) -> tuple[str, ...]:
        """Mark steps done until nothing changes; returns the steps newly done, in order.

        An eligible step that is not done becomes done when it is terminal or its done guard
        holds; that may make further steps eligible, and so on, in one call.
        """
        newly: list[str] = []
        changed = True
        while changed:
            changed = False
            for step in self.flow.steps:
                if step.id in self._done or not self._eligible(step):
                    continue
                if step.terminal or (step.done is not None and step.done.holds(self._ctx)):
                    self._done.add(step.id)
                    newly.append(step.id)
                    changed = True
        return tuple(newly)

    def on_turn(self) -> None:
        """A turn completed: count it, then relatch."""
        self._turns += 1
        self.relatch()

    def on_tool_ok(self, tool: str) -> None:
        """A call of ``tool`` succeeded: count it, then relatch."""
        self._tool_ok[tool] = self._tool_ok.get(tool, 0) + 1
        self.relatch()

    def reset(self) -> None:
        """Start the flow over: the marking and the memory of entered steps are cleared."""
        self._done.clear()
        self._tool_ok.clear()
        self._turns = 0
        self._entered.clear()

    # -- reading --------------------------------------------------------------------------

    def active(self) -> tuple[str, ...]:
        """The steps eligible and not done, in declaration order (no relatching)."""
        return tuple(step.id for step in self._active_steps())

    def _active_steps(self) -> list[Step]:
        return [s for s in self.flow.steps if s.id not in self._done and self._eligible(s)]

    def admits(self, tool: str) -> str | None:
        """Relatch, then say why ``tool`` is refused, or None when the flow admits it."""
        self.relatch()
        return self.reason(tool)

    def reason(self, tool: str) -> str | None:
        """Why ``tool`` is refused now, or None; as :meth:`admits`, without relatching.

        The rules, in order (the first that applies gives the reason): a ``once`` tool that
        already succeeded; a ``never_until`` guard that does not hold; an active step denying
        it; active steps with ``allow`` lists, none listing it (ambient tools are exempt).
        """
        return self._reason(tool, self._active_steps())

    def _reason(self, tool: str, active: list[Step]) -> str | None:
        constraints = self.flow.constraints
        for c in constraints:
            if isinstance(c, Once) and c.tool == tool and self._tool_ok.get(tool, 0) >= 1:
                return once_reason(tool)
        for c in constraints:
            if isinstance(c, NeverUntil) and c.tool == tool and not c.guard.holds(self._ctx):
                return f"{tool!r} is not permitted yet"
        unavailable = f"{tool!r} is not available in the current step"
        if any(tool in step.deny for step in active):
            return unavailable
        if tool not in self.flow.ambient_tools:
            lists = [step.allow for step in active if step.allow]
            if lists and not any(tool in allow for allow in lists):
                return unavailable
        return None

    def take_newly_active(self) -> tuple[Step, ...]:
        """The active steps not reported before in this run of the flow (each once)."""
        fresh = tuple(s for s in self._active_steps() if s.id not in self._entered)
        self._entered.update(step.id for step in fresh)
        return fresh

    def unmet_requirements(self) -> tuple[str, ...]:
        """The steps named by ``require()`` that are not done, in order, each once."""
        missing: dict[str, None] = {}
        for c in self.flow.constraints:
            if isinstance(c, Require):
                missing.update((name, None) for name in c.steps if name not in self._done)
        return tuple(missing)

    def guidance(self) -> tuple[str, ...]:
        """Text for the model: active postures, then rendered grounds, then the unmet line."""
        active = self._active_steps()
        lines = [step.posture for step in active if step.posture]
        for step in active:
            text = self._render(step)
            if text:
                lines.append(text)
        missing = self.unmet_requirements()
        if missing:
            lines.append(f"Still required: {', '.join(missing)}.")
        return tuple(lines)

    def _render(self, step: Step) -> str:
        ground = step.ground
        if isinstance(ground, str):
            return render_ground(ground, self._state) if ground else ""
        try:
            return str(ground(self._state))
        except Exception as error:
            if self._on_guard_error is not None:
                self._on_guard_error(f"ground of step {step.id!r}", error)
            return ""

    def verdict(self, step: str) -> Verdict:
        """The standing of ``step``: done, active, skipped (a step after it is done) or pending.

        Raises:
            ValueError: the flow has no such step.
        """
        found = self.flow.step(step)
        if step in self._done:
            return Verdict.DONE
        if self._eligible(found):
            return Verdict.ACTIVE
        if self._successors[step] & self._done:
            return Verdict.SKIPPED
        return Verdict.PENDING

    def complete(self) -> bool:
        """A terminal step is done, or every step is."""
        steps = self.flow.steps
        return any(s.terminal and s.id in self._done for s in steps) or all(
            s.id in self._done for s in steps
        )

    def explain(self) -> FlowExplanation:
        """A snapshot, taken on a relatched copy: this machine is never changed."""
        copy = self.copy()
        copy.relatch()
        return copy._explanation()

    def copy(self) -> FlowMachine:
        """An independent machine for the same flow and state, with this one's marking."""
        copy = FlowMachine(
            self.flow, self._state, tools=self._tools, on_guard_error=self._on_guard_error
        )
        copy._done.update(self._done)
        copy._tool_ok.update(self._tool_ok)
        copy._turns = self._turns
        copy._entered.update(self._entered)
        return copy

    def _explanation(self) -> FlowExplanation:
        active = self._active_steps()
        blocked: dict[str, str] = {}
        for tool in sorted(self.universe):
            why = self._reason(tool, active)
            if why is not None:
                blocked[tool] = why
        progress: dict[str, GuardTrace] = {
            step.id: step.done.trace(self._ctx) for step in active if step.done is not None
        }
        return FlowExplanation(
            flow=self.flow.name,
            active=tuple(step.id for step in active),
            allowed_tools=tuple(t for t in sorted(self.universe) if t not in blocked),
            blocked_tools=blocked,
            missing_requirements=self.unmet_requirements(),
            progress=progress,
            done=tuple(s.id for s in self.flow.steps if s.id in self._done),
            stack=(self.flow.name,),
        )

    # -- persistence ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The marking (and the steps already entered) as JSON, for :meth:`restore`."""
        return {
            "done": [s.id for s in self.flow.steps if s.id in self._done],
            "tool_ok": dict(sorted(self._tool_ok.items())),
            "turns": self._turns,
            "entered": [s.id for s in self.flow.steps if s.id in self._entered],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Replace the marking with one :meth:`to_json` gave.

        Raises:
            ValueError: ``data`` is not such a marking, or names a step the flow lacks; the
                marking is then unchanged.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a flow marking must be an object, got {type(data).__name__}")
        ids = {step.id for step in self.flow.steps}
        done = _step_list(data.get("done", []), "done", ids)
        entered = _step_list(data.get("entered", []), "entered", ids)
        tool_ok = data.get("tool_ok", {})
        if not isinstance(tool_ok, Mapping) or not all(
            isinstance(k, str) and type(v) is int and v >= 0 for k, v in tool_ok.items()
        ):
            raise ValueError("a flow marking's 'tool_ok' must map tool names to counts")
        turns = data.get("turns", 0)
        if type(turns) is not int or turns < 0:
            raise ValueError(f"a flow marking's 'turns' must be a count, got {turns!r}")
        self.reset()
        self._done.update(done)
        self._tool_ok.update(tool_ok)
        self._turns = turns
        self._entered.update(entered)


def _step_list(value: object, what: str, ids: set[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"a flow marking's {what!r} must be a list of step ids")
    unknown = [v for v in value if v not in ids]
    if unknown:
        raise ValueError(f"a flow marking's {what!r} names unknown steps: {', '.join(unknown)}")
    return value
