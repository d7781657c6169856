"""Postures, grounds and the unmet line reaching the model, at once or with the user's next send."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle import Flow, Step, is_set, require
from livehandle._runtime.flow import GUIDANCE_HEADER
from tests.flow_session.helpers import Booking, ask, client_turns, config, session

if TYPE_CHECKING:
    from trio.testing import MockClock

FLOW = Flow(
    steps=[
        Step("collect", posture="Ask for the city.", allow=["set_city"], done=is_set("city")),
        Step(
            "confirm",
            after=["collect"],
            posture="Confirm the trip.",
            ground="The city is {city}.{vip? A VIP.:}",
            allow=["set_city", "note"],
            done=is_set("confirmed"),
        ),
        Step("book", after=["confirm"], allow=["book"]),
    ],
    constraints=[require("confirm", "book")],
)

START = "\n".join((GUIDANCE_HEADER, "Ask for the city.", "Still required: confirm, book."))


def confirming(city: str, vip: bool = False) -> str:
    ground = f"The city is {city}." + (" A VIP." if vip else "")
    lines = ("Confirm the trip.", ground, "Still required: confirm, book.")
    return "\n".join((GUIDANCE_HEADER, *lines))


def guidance_sent(emu: object) -> list[str]:
    return [text for text, _ in client_turns(emu) if text.startswith(GUIDANCE_HEADER)]  # type: ignore[arg-type]


async def test_immediate_delivery_sends_the_guidance_after_each_boundary_that_changes_it(
    autojump_clock: MockClock,
) -> None:
    booking = Booking()
    async with session(config(booking, flow=FLOW), booking) as (emu, handle):
        events = handle.events()
        # the start's guidance is on the wire before the user said anything
        assert client_turns(emu) == [(START, False)]
        await ask(handle, events, "hello")  # nothing changed: nothing re-sent
        assert client_turns(emu) == [(START, False), ("hello", True)]
        await ask(handle, events, "paris")  # collect done, confirm entered
        after_paris = client_turns(emu)
        await ask(handle, events, "hello again")  # unchanged again
        unchanged = client_turns(emu)
        await ask(handle, events, "lyon")  # the ground's value changes: re-sent
        handle.state.set("vip", True)
        await ask(handle, events, "hello")  # the ground's conditional changes: re-sent
        sent = client_turns(emu)
    assert after_paris[-2:] == [("paris", True), (confirming("Paris"), False)]
    assert unchanged == [*after_paris, ("hello again", True)]
    assert sent[len(unchanged) :] == [
        ("lyon", True),
        (confirming("Lyon"), False),
        ("hello", True),
        (confirming("Lyon", vip=True), False),
    ]


async def test_deferred_delivery_sends_the_guidance_with_the_users_next_send(
    autojump_clock: MockClock,
) -> None:
    booking = Booking()
    cfg = config(booking, flow=FLOW, context_delivery="deferred")
    async with session(cfg, booking) as (emu, handle):
        events = handle.events()
        assert client_turns(emu) == []  # queued, not sent
        await ask(handle, events, "paris")
        first = client_turns(emu)
        assert confirming("Paris") not in guidance_sent(emu)  # waits for the next send
        await ask(handle, events, "hello")
        second = client_turns(emu)
    assert first == [(START, False), ("paris", True)]  # before the user's turn
    assert second[len(first) :] == [(confirming("Paris"), False), ("hello", True)]
