"""Digressions through ``handle.digress()``: resume, restart and terminate the main flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle import Flow, LiveEvent, Step, called_ok, is_set
from livehandle._runtime.flow import GUIDANCE_HEADER
from tests.flow_session.helpers import (
    Booking,
    ask,
    client_turns,
    config,
    of,
    session,
    tool_answers,
)

if TYPE_CHECKING:
    from trio.testing import MockClock

MAIN = Flow(
    [
        Step(
            "collect", posture="Ask for the city.", allow=["set_city"], done=called_ok("set_city")
        ),
        Step("book", after=["collect"], allow=["book"]),
    ]
)
FAQ = Flow(
    [Step("faq", posture="Answer the question.", allow=["note"], done=called_ok("note"))],
    name="faq",
)


def transitions(events: list[LiveEvent]) -> list[tuple[str, str, str]]:
    return [(e.from_phase, e.to_phase, e.reason) for e in of(LiveEvent.PhaseTransition, events)]


def entered(events: list[LiveEvent]) -> list[tuple[str, str]]:
    return [(e.flow, e.step) for e in of(LiveEvent.StepEntered, events)]


async def test_a_digression_governs_until_it_completes_then_the_main_flow_resumes(
    autojump_clock: MockClock,
) -> None:
    booking = Booking()
    async with session(config(booking, flow=MAIN), booking) as (emu, handle):
        events = handle.events()
        await ask(handle, events, "paris")  # main: collect done, book active
        handle.digress(FAQ, then="resume")
        during = handle.explain()
        seen = await ask(handle, events, "book")  # the overlay governs: book refused
        seen += await ask(handle, events, "note")  # the overlay completes
        after = handle.explain()
        seen += await ask(handle, events, "book")
    assert during is not None and during.flow == "faq" and during.stack == ("main", "faq")
    assert during.active == ("faq",)
    assert during.allowed_tools == ("note",)
    assert transitions(seen) == [("main", "faq", "digression"), ("faq", "main", "resume")]
    assert ("faq", "faq") in entered(seen)
    assert after is not None and after.flow == "main" and after.active == ("book",)
    assert booking.ran == ["set_city", "note", "book"]
    answers = tool_answers(emu)
    assert answers[1] == ("book", {"error": "'book' is not available in the current step"})
    assert any(text.endswith("Answer the question.") for text, _ in client_turns(emu))


async def test_restart_starts_the_main_flow_over(autojump_clock: MockClock) -> None:
    booking = Booking()
    async with session(config(booking, flow=MAIN), booking) as (_, handle):
        events = handle.events()
        await ask(handle, events, "paris")
        handle.digress(FAQ, then="restart")
        seen = await ask(handle, events, "note")
        seen += await ask(handle, events, "hello")
        explained = handle.explain()
        done = handle.state.get("flow:done")
    assert transitions(seen) == [("main", "faq", "digression"), ("faq", "main", "restart")]
    assert explained is not None and explained.active == ("collect",) and explained.done == ()
    assert "book" in explained.blocked_tools
    assert done == []
    assert ("main", "collect") in entered(seen)  # entered again in the new run


async def test_terminate_refuses_every_tool_and_the_session_goes_on(
    autojump_clock: MockClock,
) -> None:
    booking = Booking()
    async with session(config(booking, flow=MAIN), booking) as (emu, handle):
        events = handle.events()
        handle.digress(FAQ, then="terminate")
        seen = await ask(handle, events, "note")  # completes the overlay: main terminated
        refused = await ask(handle, events, "paris")
        explained = handle.explain()
        terminated = handle.state.get("flow:terminated")
        later = await ask(handle, events, "how are you")
    assert transitions(seen) == [("main", "faq", "digression"), ("faq", "main", "terminate")]
    reason = "'set_city' is not available: the conversation flow was terminated"
    assert tool_answers(emu)[-1] == ("set_city", {"error": reason})
    assert booking.ran == ["note"]
    (violation,) = of(LiveEvent.FlowViolation, refused)
    assert violation.reason == reason
    assert explained is not None and explained.terminated
    assert explained.allowed_tools == ()
    assert set(explained.blocked_tools) == {"book", "note", "set_city"}
    for tool, why in explained.blocked_tools.items():
        assert why == f"{tool!r} is not available: the conversation flow was terminated"
    assert terminated is True
    ended = f"{GUIDANCE_HEADER}\nThe conversation flow has ended; no tool is available."
    assert (ended, False) in client_turns(emu)
    assert "You said: how are you" in "".join(e.text for e in of(LiveEvent.TextComplete, later))
    assert not of(LiveEvent.Disconnected, later)


async def test_a_digression_completed_by_the_state_no_longer_lifts_the_main_flows_blocks(
    autojump_clock: MockClock,
) -> None:
    side = Flow([Step("faq", allow=["note"], done=is_set("answered"))], name="faq")
    booking = Booking()
    async with session(config(booking, flow=MAIN), booking) as (emu, handle):
        events = handle.events()
        handle.digress(side, then="resume")
        handle.state.set("answered", True)  # the side topic is closed, between turns
        explained = handle.explain()
        await ask(handle, events, "book")
    refused = "'book' is not available in the current step"  # collect is still the main step
    assert booking.ran == []
    assert tool_answers(emu) == [("book", {"error": refused})]
    assert explained is not None and explained.blocked_tools.get("book") == refused
