"""The issue's "Done when": ``book`` needs ``city``; refused with the reason until it is set.

Sessions on the in-memory emulator and the mock clock, a real ``LiveConfig(flow=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle import (
    Flow,
    LiveEvent,
    Promotion,
    Step,
    TranscriptTurn,
    extractor,
    is_set,
)
from tests.flow_session.helpers import Booking, ask, config, session, tool_answers

if TYPE_CHECKING:
    from collections.abc import Sequence

    from trio.testing import MockClock

NOT_YET = "'book' is not available in the current step"

FLOW = Flow(
    steps=[
        Step("collect", posture="Ask for the city.", allow=["set_city"], done=is_set("city")),
        Step("book", after=["collect"], allow=["book"]),
    ]
)


async def test_book_is_refused_until_a_tool_sets_the_city_then_it_runs(
    autojump_clock: MockClock,
) -> None:
    booking = Booking()
    async with session(config(booking, flow=FLOW), booking) as (emu, handle):
        events = handle.events()
        explained = handle.why_blocked()
        assert explained is not None and explained.blocked_tools["book"] == NOT_YET
        refused = await ask(handle, events, "book it")
        assert tool_answers(emu) == [("book", {"error": NOT_YET})]  # on the wire
        assert booking.ran == []  # the tool body never ran
        blocked = handle.why_blocked()
        assert blocked is not None and blocked.blocked_tools["book"] == NOT_YET
        assert "book" not in blocked.allowed_tools
        await ask(handle, events, "paris")
        explained = handle.explain()
        assert explained is not None
        assert "book" in explained.allowed_tools and "book" not in explained.blocked_tools
        assert explained.active == ("book",) and explained.done == ("collect",)
        ran = await ask(handle, events, "book it")
    assert booking.ran == ["set_city", "book"]
    assert tool_answers(emu)[-1] == ("book", {"booked": True})
    (violation,) = [e for e in refused if isinstance(e, LiveEvent.FlowViolation)]
    assert violation.reason == NOT_YET and violation.enforced
    assert not any(isinstance(e, LiveEvent.FlowViolation) for e in ran)


@extractor(name="slots", promotions=[Promotion.overwrite("city")])
async def slots(turns: Sequence[TranscriptTurn]) -> dict[str, str | None]:
    words = turns[-1].user.split()
    return {"city": words[-1].title() if words[0] == "to" else None}


async def test_book_is_admitted_once_an_extractor_promotes_the_city(
    autojump_clock: MockClock,
) -> None:
    booking = Booking()
    async with session(config(booking, flow=FLOW, extractors=[slots]), booking) as (emu, h):
        events = h.events()
        await ask(h, events, "book it")
        assert tool_answers(emu) == [("book", {"error": NOT_YET})]
        seen = await ask(h, events, "to rome")  # the extractor fills the slot at the boundary
        assert h.state.get("city") == "Rome"
        explained = h.explain()
        assert explained is not None and "book" in explained.allowed_tools
        assert h.state.get("flow:done") == ["collect"]  # relatched at that same boundary
        assert h.state.get("flow:active") == ["book"]
        await ask(h, events, "book it")
    assert booking.ran == ["book"]  # set_city never ran: the extractor filled the slot
    assert tool_answers(emu)[-1] == ("book", {"booked": True})
    entered = [e.step for e in seen if isinstance(e, LiveEvent.StepEntered)]
    promoted = [e for e in seen if isinstance(e, LiveEvent.StatePromotion) and e.accepted]
    assert entered == ["book"] and [p.key for p in promoted] == ["city"]
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("StatePromotion") < kinds.index("StepEntered")
