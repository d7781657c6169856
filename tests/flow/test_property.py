"""Property: for random flows and events, explain() agrees with what admission does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, reject, settings, strategies as st

from livehandle import (
    Flow,
    FlowError,
    Guard,
    State,
    Step,
    before,
    called_ok,
    done,
    is_set,
    never_until,
    not_,
    once,
    require,
)
from livehandle.lowlevel import FlowMachine, FlowStack

TOOLS = ("t0", "t1", "t2", "t3")
KEYS = ("k0", "k1", "k2")
SESSION_TOOLS = ("t0", "t1", "t2", "t3", "other")


@st.composite
def guards(draw: st.DrawFn, steps: int, own: int | None = None) -> Guard:
    atoms = [is_set(k) for k in KEYS] + [called_ok(t) for t in TOOLS[:2]]
    atoms += [done(f"s{i}") for i in range(steps) if i != own]
    guard = draw(st.sampled_from(atoms))
    if draw(st.booleans()):
        other = draw(st.sampled_from(atoms))
        guard = draw(st.sampled_from([guard & other, guard | other, not_(other) & guard]))
    return guard


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    n = draw(st.integers(2, 5))
    steps = []
    for i in range(n):
        after = draw(st.lists(st.sampled_from([f"s{j}" for j in range(i)] or ["s0"]), max_size=2))
        after = [a for a in after if a != f"s{i}"]
        allow = draw(st.lists(st.sampled_from(TOOLS), max_size=3, unique=True))
        deny = draw(st.lists(st.sampled_from([t for t in TOOLS if t not in allow]), max_size=1))
        steps.append(
            Step(
                f"s{i}",
                after=sorted(set(after)),
                gate=draw(st.none() | guards(n, i)),
                done=draw(guards(n, i)),  # every step can be done: nothing is unreachable
                allow=allow,
                deny=deny,
                terminal=draw(st.booleans()) if i == n - 1 else False,
            )
        )
    constraints: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["once", "never_until", "before", "require"]))
        if kind == "once":
            constraints.append(once(draw(st.sampled_from(TOOLS))))
        elif kind == "never_until":
            constraints.append(never_until(draw(st.sampled_from(TOOLS)), draw(guards(n))))
        elif kind == "before":
            a, b = sorted(
                draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            )
            constraints.append(before(f"s{a}", f"s{b}"))  # forward edges: never a cycle
        else:
            constraints.append(require(draw(st.sampled_from([s.id for s in steps]))))
    try:
        return Flow(
            steps, constraints=constraints, ambient_tools=draw(st.sampled_from([(), ("t3",)]))
        )
    except FlowError as error:  # a gate needing its own step, or an unsatisfiable guard
        if error.kind not in {"unreachable", "unsatisfiable"}:
            raise
        reject()


EVENTS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS)),
    st.tuples(st.just("remove"), st.sampled_from(KEYS)),
    st.tuples(st.just("turn"), st.just("")),
    st.tuples(st.just("call"), st.sampled_from(SESSION_TOOLS)),
)


def agrees(governor: FlowMachine | FlowStack) -> None:
    explanation = governor.explain()
    machine = governor.top if isinstance(governor, FlowStack) else governor
    universe = set(SESSION_TOOLS) | machine.flow.tools
    assert set(explanation.allowed_tools) == universe - set(explanation.blocked_tools)
    assert set(explanation.blocked_tools) <= universe
    for tool in sorted(universe):
        assert explanation.blocked_tools.get(tool) == governor.admits(tool), tool


@settings(max_examples=150, deadline=None)
@given(flow=flows(), events=st.lists(EVENTS, max_size=12))
def test_explain_agrees_with_admission(flow: Flow, events: list[tuple[str, str]]) -> None:
    state = State()
    machine = FlowMachine(flow, state, tools=SESSION_TOOLS)
    agrees(machine)
    for kind, arg in events:
        if kind == "set":
            state.set(arg, 1)
        elif kind == "remove":
            state.remove(arg)
        elif kind == "turn":
            machine.on_turn()
        elif machine.admits(arg) is None:  # a call the flow admits runs and succeeds
            machine.on_tool_ok(arg)
        marking = machine.marking
        explanation = machine.explain()
        assert machine.marking == marking  # explain never mutates
        agrees(machine)
        assert explanation.active == machine.active()


@settings(max_examples=60, deadline=None)
@given(main=flows(), side=flows(), events=st.lists(EVENTS, max_size=12))
def test_a_stack_agrees_too(main: Flow, side: Flow, events: list[tuple[str, str]]) -> None:
    state = State()
    stack = FlowStack(main, state, tools=SESSION_TOOLS)
    stack.push(Flow(side.steps, constraints=side.constraints, name="side"), then="terminate")
    for kind, arg in events:
        if kind == "set":
            state.set(arg, 1)
        elif kind == "remove":
            state.remove(arg)
        elif kind == "turn":
            stack.on_turn()
        elif stack.admits(arg) is None:
            stack.on_tool_ok(arg)
        agrees(stack)
