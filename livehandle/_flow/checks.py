"""A flow's validation at construction: every problem is a FlowError naming the step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle._errors import FlowError
from livehandle._flow.constraints import Before, Constraint, NeverUntil, Once, Require
from livehandle._flow.sat import always_holds, done_alternatives, needs_done, satisfiable
from livehandle._flow.step import Step

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from livehandle._flow.guards import Guard

__all__ = ["check_flow", "check_tools", "flow_tools", "successors"]


def check_flow(
    steps: Sequence[Step],
    constraints: Sequence[Constraint],
    confirm_tools: Sequence[str],
    ambient_tools: Sequence[str] = (),
) -> None:
    """Raise the first problem found as a FlowError.

    The kinds are checked in this order: invalid, unknown_step, cycle, unsatisfiable,
    unreachable, unguarded_commit (then the progress check: a guard that can only hold once a
    step is done that cannot be done before it, as unreachable or unsatisfiable).
    """
    _check_shape(steps, constraints)
    ids = {step.id for step in steps}
    _check_references(steps, constraints, ids)
    _check_cycles(steps, constraints)
    _check_guards(steps, constraints)
    _check_reachable(steps, constraints)
    _check_progress(steps, constraints)
    _check_commits(steps, constraints, confirm_tools, ambient_tools)


def _check_shape(steps: Sequence[Step], constraints: Sequence[Constraint]) -> None:
    if not steps:
        raise FlowError("a flow needs at least one step", "invalid")
    seen: set[str] = set()
    for step in steps:
        if not isinstance(step, Step):
            raise FlowError(f"a flow's steps must be Steps, got {type(step).__name__}", "invalid")
        if step.id in seen:
            raise FlowError(f"step {step.id!r} is declared twice", "invalid", step.id)
        seen.add(step.id)
    for constraint in constraints:
        if not isinstance(constraint, Once | NeverUntil | Before | Require):
            raise FlowError(
                "constraints must be made by once(), never_until(), before() or require(),"
                f" got {type(constraint).__name__}",
                "invalid",
            )


def _check_references(
    steps: Sequence[Step], constraints: Sequence[Constraint], ids: set[str]
) -> None:
    def known(name: str, where: str, step: str | None) -> None:
        if name not in ids:
            raise FlowError(f"{where} names an unknown step {name!r}", "unknown_step", step)

    for step in steps:
        for name in step.after:
            known(name, f"after of step {step.id!r}", step.id)
        for what, guard in (("gate", step.gate), ("done", step.done)):
            for name in sorted(guard.steps()) if guard is not None else ():
                known(name, f"the {what} guard of step {step.id!r}", step.id)
    for constraint in constraints:
        if isinstance(constraint, Before):
            known(constraint.a, f"before({constraint.a!r}, {constraint.b!r})", constraint.b)
            known(constraint.b, f"before({constraint.a!r}, {constraint.b!r})", constraint.b)
        elif isinstance(constraint, Require):
            for name in constraint.steps:
                known(name, "require()", name)
        elif isinstance(constraint, NeverUntil):
            for name in sorted(constraint.guard.steps()):
                known(name, f"never_until({constraint.tool!r})", name)


def _edges(steps: Sequence[Step], constraints: Sequence[Constraint]) -> dict[str, list[str]]:
    """Step -> the steps that must be done before it (after + before constraints)."""
    preds: dict[str, list[str]] = {step.id: list(step.after) for step in steps}
    for constraint in constraints:
        if isinstance(constraint, Before) and constraint.a not in preds[constraint.b]:
            preds[constraint.b].append(constraint.a)
    return preds


def successors(steps: Sequence[Step], constraints: Sequence[Constraint]) -> dict[str, set[str]]:
    """Step -> the steps that wait for it (after + before constraints)."""
    succ: dict[str, set[str]] = {step.id: set() for step in steps}
    for step, preds in _edges(steps, constraints).items():
        for pred in preds:
            succ[pred].add(step)
    return succ


def _check_cycles(steps: Sequence[Step], constraints: Sequence[Constraint]) -> None:
    preds = _edges(steps, constraints)
    state: dict[str, int] = {}  # 1: on the path, 2: finished
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for pred in preds[node]:
            if state.get(pred) == 1:
                cycle = [*path[path.index(pred) :], pred]
                cycle.reverse()  # in the order the steps would have to be done
                raise FlowError(
                    f"step {pred!r} is in an ordering cycle: {' -> '.join(cycle)}", "cycle", pred
                )
            if pred not in state:
                visit(pred)
        path.pop()
        state[node] = 2

    for step in steps:
        if step.id not in state:
            visit(step.id)


def _check_guards(steps: Sequence[Step], constraints: Sequence[Constraint]) -> None:
    def check(guard: Guard | None, what: str, step: str | None) -> None:
        if guard is not None and not satisfiable(guard):
            raise FlowError(f"{what} can never hold: {guard.describe()}", "unsatisfiable", step)

    for step in steps:
        check(step.gate, f"the gate of step {step.id!r}", step.id)
        check(step.done, f"the done guard of step {step.id!r}", step.id)
    for constraint in constraints:
        if isinstance(constraint, NeverUntil):
            check(constraint.guard, f"never_until({constraint.tool!r})'s guard", None)


def _check_reachable(steps: Sequence[Step], constraints: Sequence[Constraint]) -> None:
    """Every step can become eligible (the guards are known to be satisfiable here)."""
    preds = _edges(steps, constraints)
    by_id = {step.id: step for step in steps}
    can_finish: dict[str, bool] = {}

    def reachable(step: Step) -> None:
        """Raise unless ``step`` can become eligible."""
        for pred in preds[step.id]:
            other = by_id[pred]
            if pred not in can_finish:
                reachable(other)
            if not (other.terminal or other.done is not None):
                raise FlowError(
                    f"step {step.id!r} can never become eligible: it waits for step {pred!r},"
                    " which has no done guard and is not terminal",
                    "unreachable",
                    step.id,
                )
        if step.gate is not None and needs_done(step.gate, step.id):
            raise FlowError(
                f"step {step.id!r} can never become eligible: its gate needs the step itself"
                " to be done",
                "unreachable",
                step.id,
            )
        can_finish[step.id] = True

    for step in steps:  # the graph is acyclic here, so the recursion ends
        if step.id not in can_finish:
            reachable(step)


def _check_progress(steps: Sequence[Step], constraints: Sequence[Constraint]) -> None:
    """Every step can become eligible, and every done guard can hold.

    Counts the steps the guards need done (``done(...)``): a least fixpoint of the steps that
    can ever be done.
    """
    preds = _edges(steps, constraints)
    gates = {step.id: done_alternatives(step.gate) for step in steps}
    dones = {step.id: done_alternatives(step.done) for step in steps}

    def can_hold(ways: list[frozenset[str]] | None, known: set[str]) -> bool:
        return ways is None or any(way <= known for way in ways)

    def eligible(step: Step, known: set[str]) -> bool:
        return all(p in known for p in preds[step.id]) and can_hold(gates[step.id], known)

    possible: set[str] = set()
    changed = True
    while changed:
        changed = False
        for step in steps:
            if step.id in possible or not eligible(step, possible):
                continue
            if step.terminal or (step.done is not None and can_hold(dones[step.id], possible)):
                possible.add(step.id)
                changed = True

    def blockers(ways: list[frozenset[str]] | None) -> str:
        needed = sorted(set().union(*(ways or ())) - possible)
        return ", ".join(map(repr, needed))

    for step in steps:
        if not eligible(step, possible):
            raise FlowError(
                f"step {step.id!r} can never become eligible: its gate needs steps done that"
                f" cannot be done before it ({blockers(gates[step.id])})",
                "unreachable",
                step.id,
            )
        if step.done is not None and not step.terminal and step.id not in possible:
            raise FlowError(
                f"the done guard of step {step.id!r} can never hold: it needs steps done that"
                f" cannot be done before it ({blockers(dones[step.id])})",
                "unsatisfiable",
                step.id,
            )


def _check_commits(
    steps: Sequence[Step],
    constraints: Sequence[Constraint],
    confirm_tools: Sequence[str],
    ambient_tools: Sequence[str],
) -> None:
    guarded = {c.tool for c in constraints if isinstance(c, NeverUntil)}
    for tool in confirm_tools:
        if tool in guarded:
            continue
        if tool in ambient_tools:
            raise FlowError(
                f"confirm tool {tool!r} is not guarded: it is ambient (no allow list limits it)"
                " and has no never_until() constraint",
                "unguarded_commit",
            )
        allowing = [step for step in steps if tool in step.allow]
        if not allowing:
            raise FlowError(
                f"confirm tool {tool!r} is not guarded: no never_until() constraint and no step"
                " allows it",
                "unguarded_commit",
            )
        for step in allowing:
            if step.gate is None or always_holds(step.gate):
                raise FlowError(
                    f"confirm tool {tool!r} is not guarded: step {step.id!r} allows it without"
                    " a gate that can fail (add one, or a never_until() constraint)",
                    "unguarded_commit",
                    step.id,
                )
        for step in steps:  # a step without an allow list admits every tool it does not deny
            if not step.allow and not step.terminal and tool not in step.deny:
                raise FlowError(
                    f"confirm tool {tool!r} is not guarded: step {step.id!r} has no allow list,"
                    " so it admits the tool while active (deny it there, give the step an allow"
                    " list, or add a never_until() constraint)",
                    "unguarded_commit",
                    step.id,
                )


def flow_tools(
    steps: Sequence[Step],
    constraints: Sequence[Constraint],
    confirm_tools: Iterable[str],
    ambient_tools: Iterable[str],
) -> frozenset[str]:
    """Every tool a flow names."""
    names: set[str] = {*confirm_tools, *ambient_tools}
    for step in steps:
        names.update(step.allow)
        names.update(step.deny)
        for guard in (step.gate, step.done):
            if guard is not None:
                names.update(guard.tools())
    for constraint in constraints:
        if isinstance(constraint, Once):
            names.add(constraint.tool)
        elif isinstance(constraint, NeverUntil):
            names.add(constraint.tool)
            names.update(constraint.guard.tools())
    return frozenset(names)


def check_tools(
    steps: Sequence[Step],
    constraints: Sequence[Constraint],
    confirm_tools: Sequence[str],
    ambient_tools: Sequence[str],
    known: Iterable[str],
) -> None:
    """FlowError("unknown_tool"), naming the step where one does, for a tool not in ``known``."""
    available = set(known)

    def check(tool: str, where: str, step: str | None) -> None:
        if tool not in available:
            raise FlowError(
                f"{where} names the tool {tool!r}, which the session does not have",
                "unknown_tool",
                step,
            )

    for step in steps:
        for tool in (*step.allow, *step.deny):
            check(tool, f"step {step.id!r}", step.id)
        for guard in (step.gate, step.done):
            for tool in sorted(guard.tools()) if guard is not None else ():
                check(tool, f"step {step.id!r}", step.id)
    for constraint in constraints:
        if isinstance(constraint, Once | NeverUntil):
            check(constraint.tool, "a constraint", None)
        if isinstance(constraint, NeverUntil):
            for tool in sorted(constraint.guard.tools()):
                check(tool, f"never_until({constraint.tool!r})", None)
    for tool in confirm_tools:
        check(tool, "confirm_tools", None)
    for tool in ambient_tools:
        check(tool, "ambient_tools", None)
