"""Property: at every point, what ``explain()`` says is blocked is exactly what the gate refuses.

The governor is built directly (no session): random small flows (the generators of the flow core's
property test), random sequences of state changes, turn boundaries, tool successes and digressions.
"""

from __future__ import annotations

from typing import Any

import trio
from hypothesis import given, settings, strategies as st

from livehandle import Flow, FlowMode, LiveEvent, State
from livehandle._runtime.bargein import CurrentBargeIn
from livehandle._runtime.flow import FlowGovernor
from tests.flow.test_property import KEYS, SESSION_TOOLS, flows

EVENTS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS)),
    st.tuples(st.just("remove"), st.sampled_from(KEYS)),
    st.tuples(st.just("boundary"), st.just("")),
    st.tuples(st.just("call"), st.sampled_from(SESSION_TOOLS)),
    st.tuples(st.just("digress"), st.sampled_from(["resume", "restart", "terminate"])),
    # a call admitted now and still running (a once-tool is refused meanwhile), and the end of
    # the oldest running call, with success or failure
    st.tuples(st.just("start"), st.sampled_from(SESSION_TOOLS)),
    st.tuples(st.just("end"), st.sampled_from(["ok", "failed"])),
)


def governor_for(flow: Flow, emitted: list[LiveEvent]) -> FlowGovernor:
    return FlowGovernor(
        flow,
        mode=FlowMode.ENFORCE,
        state=State(),
        tools=SESSION_TOOLS,
        emit=emitted.append,
        barge_in=CurrentBargeIn(),
        action_timeout=5.0,
    )


def agrees(governor: FlowGovernor, emitted: list[LiveEvent]) -> None:
    marking: Any = governor._stack.to_json()
    explanation = governor.explain()
    assert governor._stack.to_json() == marking  # explain() changes nothing
    universe = set(SESSION_TOOLS) | set(explanation.blocked_tools) | set(explanation.allowed_tools)
    assert set(explanation.allowed_tools).isdisjoint(explanation.blocked_tools)
    for tool in sorted(universe):
        before = len(emitted)
        refused = governor.check(tool, None)
        assert explanation.blocked_tools.get(tool) == refused, tool
        violations = [e for e in emitted[before:] if isinstance(e, LiveEvent.FlowViolation)]
        if refused is None:
            assert violations == []
            governor.finished(tool)  # the probe's call ends without running
        else:
            assert [(v.tool, v.reason, v.enforced) for v in violations] == [(tool, refused, True)]


@settings(max_examples=120, deadline=None)
@given(main=flows(), side=flows(), events=st.lists(EVENTS, max_size=14))
def test_explain_agrees_with_the_gate(
    main: Flow, side: Flow, events: list[tuple[str, str]]
) -> None:
    overlay = Flow(side.steps, constraints=side.constraints, name="side")

    async def run() -> None:
        emitted: list[LiveEvent] = []
        running: list[str] = []
        governor = governor_for(main, emitted)
        state = governor._state
        await governor.boundary(True)
        agrees(governor, emitted)
        for kind, arg in events:
            if kind == "set":
                state.set(arg, 1)
            elif kind == "remove":
                state.remove(arg)
            elif kind == "boundary":
                await governor.boundary(False)
            elif kind == "digress":
                if governor._stack.depth == 1 and not governor._stack.terminated:
                    governor.digress(overlay, arg)
            elif kind == "start":
                if governor.check(arg, None) is None:
                    running.append(arg)
            elif kind == "end":
                if running:
                    tool = running.pop(0)
                    if arg == "ok":
                        governor.succeeded(tool)
                    governor.finished(tool)
            elif governor.check(arg, None) is None:  # an admitted call runs and succeeds
                governor.succeeded(arg)
                governor.finished(arg)
            agrees(governor, emitted)
        assert governor.violation_count == sum(
            isinstance(e, LiveEvent.FlowViolation) for e in emitted
        )

    trio.run(run)


def test_a_once_tool_in_flight_is_judged_by_the_flow_that_governs_after_a_complete_digression():
    # Found by the property above: a digression that is complete the moment it is pushed no
    # longer governs, so its ``once`` must not block a call of its tool in flight, in explain()
    # as in the gate.
    from livehandle import Step, is_set, once

    main = Flow(steps=[Step("s0", done=is_set("k0"))])
    side = Flow(steps=[Step("s0", done=is_set("k0"))], constraints=[once("t3")], name="side")

    async def run() -> None:
        emitted: list[LiveEvent] = []
        governor = governor_for(main, emitted)
        await governor.boundary(True)
        governor._state.set("k0", 1)
        assert governor.check("t3", None) is None  # admitted, and now in flight
        governor.digress(side, "resume")
        assert "t3" not in governor.explain().blocked_tools
        agrees(governor, emitted)

    trio.run(run)
