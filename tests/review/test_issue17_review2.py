"""Findings of the second (fresh-eyes) review of issue 17: the governor and the runtime around it.

Each test named ``test_finding_*`` failed before its fix; the others pin behaviours the review
checked and found right.
"""

from __future__ import annotations

import trio

from livehandle import Flow, LiveConfig, State, Step, once
from livehandle._config.flow_mode import FlowMode
from livehandle._events import LiveEvent
from livehandle._open import open_live_session
from livehandle._runtime.bargein import CurrentBargeIn
from livehandle._runtime.flow import FlowGovernor
from livehandle._wire import messages as m
from livehandle.testing import (
    CallTools,
    LiveEmulator,
    Pause,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from tests.testing.helpers import until

ONCE_PAY = "'pay' may run at most once"


def governor(flow: Flow, state: State | None = None) -> tuple[FlowGovernor, list[LiveEvent]]:
    events: list[LiveEvent] = []
    gov = FlowGovernor(
        flow,
        mode=FlowMode.ENFORCE,
        state=state if state is not None else State(),
        tools=["pay", "note"],
        emit=events.append,
        barge_in=CurrentBargeIn(),
        action_timeout=5.0,
    )
    return gov, events


def test_finding_a_call_admitted_before_a_digression_counts_as_in_flight() -> None:
    """The in-flight count of a once-tool was kept only for calls checked while the governing
    flow said ``once``, but every admitted call's end decremented it: a call admitted under the
    main flow (no once) still running when a digression's ``once`` applied was not seen (a second
    call was admitted beside it), and its end then released the other call's reservation.
    Every admitted call is now in flight until it ends (how-to: "while a call of it runs, a
    second call is refused")."""
    main = Flow(steps=[Step("talk", posture="Talk.")])
    side = Flow(name="side", steps=[Step("pay", allow=["pay"])], constraints=[once("pay")])
    gov, _ = governor(main)
    assert gov.check("pay", "c0") is None  # admitted under main: no once
    gov.digress(side, "resume")
    assert gov.check("pay", "c1") == ONCE_PAY  # c0 still runs
    assert gov.explain().blocked_tools["pay"] == ONCE_PAY
    gov.finished("pay")  # c0 ends (without a success)
    assert gov.check("pay", "c2") is None
    assert gov.check("pay", "c3") == ONCE_PAY  # c2 runs
    gov.finished("pay")
    assert "pay" in gov.explain().allowed_tools


async def test_finding_a_once_call_left_to_the_application_stays_reserved_until_answered(
    autojump_clock: object,
) -> None:
    """A call of a declared function (answered by the application through send_tool_response)
    was released as soon as the dispatcher left it to the application, before any answer: a
    second call of a ``once`` tool arriving meanwhile was admitted, so the application was asked
    to pay twice.  The reservation now lasts until the application answers (or the server's
    turn ends)."""
    declared = m.Tool(
        function_declarations=(
            m.FunctionDeclaration("pay", behavior=m.Behavior.NON_BLOCKING),  # no wait for answers
        )
    )
    flow = Flow(steps=[Step("pay", allow=["pay"])], constraints=[once("pay")])
    first = CallTools([ToolCallSpec("pay", {}, id="c0")])
    second = CallTools([ToolCallSpec("pay", {}, id="c1")])
    rules = Scenario(rules=[Rule(When(text="go"), [first, Pause(1), second, Say("ok")])])
    config = LiveConfig(response_modality="TEXT", tools=[declared], flow=flow)
    async with (
        LiveEmulator(rules).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("go")
        with trio.fail_after(10):
            seen = await until(events, LiveEvent.TurnComplete)
        shown = [c.id for e in seen if isinstance(e, LiveEvent.ToolCall) for c in e.calls]
        answers = [
            r for msg in emu.connections[0].messages(m.ToolResponse) for r in msg.function_responses
        ]
        await handle.send_tool_response([m.FunctionResponse("pay", {"paid": True}, id="c0")])
        after = handle.explain()
    assert shown == ["c0"]  # the application is asked once
    assert [(a.id, a.response) for a in answers] == [("c1", {"error": ONCE_PAY})]
    assert after is not None and after.blocked_tools["pay"] == ONCE_PAY


async def test_finding_a_restored_terminated_flag_of_another_flow_is_cleared() -> None:
    """``flow:terminated`` was only ever set: a snapshot of a terminated flow restored into a
    session whose flow does not take the marking (another flow) kept saying the flow was
    terminated (a watcher would hang up), while every tool was admitted."""
    state = State()
    old = {"main": {"done": ["gone"], "tool_ok": {}, "turns": 3}, "terminated": True}
    state.update({"flow:marking": old, "flow:terminated": True, "flow:active": []})
    gov, _ = governor(Flow(steps=[Step("pay", allow=["pay"])]), state)
    gov.restore(state)  # does not fit: starts afresh
    await gov.boundary(starting=True)
    assert gov.explain().terminated is False
    assert "flow:terminated" not in state
    assert state.get("flow:active") == ["pay"]


async def test_finding_a_success_reaches_the_saved_marking_before_the_turn_ends() -> None:
    """``flow:marking`` (what a snapshot saves, and restore() takes up) was written only at turn
    boundaries: a session ending after a ``once`` tool succeeded but before its turn completed
    (the caller hangs up) saved a marking without that success, and the restored session let
    the tool run again.  The marking now reaches the state with each success."""
    state = State()
    flow = Flow(steps=[Step("pay", allow=["pay"])], constraints=[once("pay")])
    gov, _ = governor(flow, state)
    await gov.boundary(starting=True)
    assert gov.check("pay", "c0") is None
    gov.succeeded("pay")
    gov.finished("pay")
    saved = state.get("flow:marking")
    restored_state = State()
    restored_state.set("flow:marking", saved)
    restored, _ = governor(flow, restored_state)
    restored.restore(restored_state)
    assert restored.check("pay", "c1") == ONCE_PAY


def _fails(entry: object) -> None:
    raise RuntimeError("the rate service is down")


async def test_finding_an_inline_action_failure_comes_after_its_step_and_connected(
    autojump_clock: object,
) -> None:
    """An inline ``on_enter`` action's failure was published at once, during the flow step,
    while the boundary's StepEntered waits for the publication step: a subscriber saw the
    failure of a step's action before the step was entered and, at the session's start, before
    ``Connected`` (the session's first event).  The flow step's failures are now events of its
    outcome (as the turn pipeline's FlowStep asks), in the order they happened."""
    from livehandle import FlowActionFailed, StepAction, is_set

    flow = Flow(
        steps=[
            Step("greet", on_enter=StepAction(_fails), done=is_set("go")),
            Step("talk", after=["greet"], on_enter=StepAction(_fails)),
        ]
    )
    rules = Scenario(rules=[Rule(When(text="hello"), [Say("hi")])])
    config = LiveConfig(response_modality="TEXT", flow=flow)
    async with (
        LiveEmulator(rules).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        handle.state.set("go", True)
        await handle.send_text("hello")
        with trio.fail_after(10):
            seen = await until(events, LiveEvent.TurnComplete)

    def label(event: LiveEvent) -> str | None:
        if isinstance(event, LiveEvent.Connected):
            return "connected"
        if isinstance(event, LiveEvent.StepEntered):
            return f"entered {event.step}"
        if isinstance(event, LiveEvent.Error) and isinstance(event.error, FlowActionFailed):
            return f"failed {event.error.step}"
        if isinstance(event, LiveEvent.TurnComplete):
            return "turn"
        return None

    order = [text for text in map(label, seen) if text is not None]
    assert order == [
        "connected",
        "entered greet",
        "failed greet",
        "entered talk",
        "failed talk",
        "turn",
    ]


async def test_a_call_left_to_the_application_ends_with_its_turn_or_the_session(
    autojump_clock: object,
) -> None:
    """Checked and right (with the fix above): an unanswered call left to the application is
    told finished once, when the server's turn ends; the session ending tells nothing twice."""
    import functools

    import pytest

    import livehandle._open
    from livehandle._assemble import assemble_live_handle
    from tests.runtime.test_tool_gate import FakeGate

    declared = m.Tool(
        function_declarations=(m.FunctionDeclaration("pay", behavior=m.Behavior.NON_BLOCKING),)
    )
    gate = FakeGate()
    rules = Scenario(
        rules=[Rule(When(text="go"), [CallTools([ToolCallSpec("pay", {}, id="c0")]), Say("ok")])]
    )
    config = LiveConfig(response_modality="TEXT", tools=[declared])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            livehandle._open,
            "assemble_live_handle",
            functools.partial(assemble_live_handle, gate=gate),
        )
        async with (
            LiveEmulator(rules).in_memory() as emu,
            open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
        ):
            events = handle.events()
            await handle.send_text("go")
            with trio.fail_after(10):
                await until(events, LiveEvent.TurnComplete)
            assert gate.ended == ["pay"]
            await handle.send_tool_response([m.FunctionResponse("pay", {"ok": 1}, id="c0")])
    assert gate.ended == ["pay"]
    assert gate.successes == ["pay"]
