"""Each admission reason through a real session, enforced and observed.

Enforce: the call is answered ``{"error": reason}``, never runs, and ``FlowViolation`` is
published with ``enforced=True``.  Observe: the call runs, the violation is published with
``enforced=False`` and listed by ``explain()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehandle import Flow, LiveEvent, Step, always, is_set, never_until, once
from tests.flow_session.helpers import Booking, ask, config, of, session, tool_answers

if TYPE_CHECKING:
    from trio.testing import MockClock

OPEN = Step("open", done=is_set("never"))  # active for the whole session, admits everything

CASES = {
    "once": (
        Flow([OPEN], constraints=[once("note")]),
        ["note", "note"],
        "'note' may run at most once",
    ),
    "never_until": (
        Flow([OPEN], constraints=[never_until("book", is_set("city"))]),
        ["book"],
        "'book' is not permitted yet",
    ),
    "deny": (
        Flow([Step("talk", deny=["note"], done=is_set("never"))]),
        ["note"],
        "'note' is not available in the current step",
    ),
    "allow-list": (
        Flow([Step("talk", allow=["set_city"], done=is_set("never"))]),
        ["book"],
        "'book' is not available in the current step",
    ),
}


def refused_tool(words: list[str]) -> str:
    return words[-1]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_reason_is_enforced_with_its_exact_words(
    autojump_clock: MockClock, case: str
) -> None:
    flow, words, reason = CASES[case]
    tool = refused_tool(words)
    booking = Booking()
    async with session(config(booking, flow=flow), booking) as (emu, handle):
        events = handle.events()
        seen = []
        for word in words:
            seen += await ask(handle, events, word)
        explained = handle.explain()
    assert explained is not None
    assert tool_answers(emu)[-1] == (tool, {"error": reason})
    assert booking.ran == words[:-1]  # every call but the refused one ran
    assert explained.blocked_tools[tool] == reason
    assert tool not in explained.allowed_tools
    (violation,) = of(LiveEvent.FlowViolation, seen)
    assert (violation.tool, violation.reason, violation.enforced) == (tool, reason, True)
    assert violation.id is not None
    assert explained.mode == "enforce"
    assert [(v.tool, v.reason, v.enforced) for v in explained.violations] == [(tool, reason, True)]
    # the refused call never reached the application as a call that ran
    executed = [e.name for e in of(LiveEvent.ToolExecution, seen) if "error" not in e.result]
    assert executed == words[:-1]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_observe_mode_runs_the_call_and_records_the_violation(
    autojump_clock: MockClock, case: str
) -> None:
    flow, words, reason = CASES[case]
    tool = refused_tool(words)
    booking = Booking()
    async with session(config(booking, flow=flow, flow_mode="observe"), booking) as (emu, h):
        events = h.events()
        seen = []
        for word in words:
            seen += await ask(h, events, word)
        explained = h.explain()
    assert booking.ran == words  # the call the flow does not admit ran too
    assert "error" not in tool_answers(emu)[-1][1]
    (violation,) = of(LiveEvent.FlowViolation, seen)
    assert (violation.tool, violation.reason, violation.enforced) == (tool, reason, False)
    assert explained is not None and explained.mode == "observe"
    assert [(v.tool, v.reason, v.enforced) for v in explained.violations] == [(tool, reason, False)]
    assert "observe" in str(explained)


async def test_an_admitted_call_publishes_no_violation(autojump_clock: MockClock) -> None:
    booking = Booking()
    flow = Flow([Step("talk", allow=["note"], gate=always(), done=is_set("never"))])
    async with session(config(booking, flow=flow), booking) as (emu, handle):
        events = handle.events()
        seen = await ask(handle, events, "note")
        explained = handle.explain()
    assert booking.ran == ["note"] and of(LiveEvent.FlowViolation, seen) == []
    assert explained is not None and explained.violations == ()
    assert tool_answers(emu) == [("note", {"ok": True})]
