"""A hotel booking bot governed by a flow: greet, collect the city and date, confirm, book.

Run it with no API key and it talks to the in-process emulator, scripted to call the tools::

    python examples/flow_bot.py

What it shows:

* a ``Flow`` of four steps, in which ``book`` is refused until the city and the date are known
  and the caller has confirmed (``never_until``), may succeed only once (``once``), and is a
  commit tool (``confirm_tools``), so the flow would not even build without a guard on it;
* the model fills the slots with tools (``set_city``, ``set_date``) that write to the session's
  state, and each step's allow-list decides which tools the model may call while it is active;
* the scripted model calls ``book`` too early: the session answers ``{"error": "'book' is not
  permitted yet"}`` and the booking function never runs; once the caller has said yes, the same
  call goes through; a second booking is refused by ``once``;
* ``print(handle.why_blocked())`` after every turn answers "which step are we in, what may the
  model do, and why not the rest?" (the "Governing a conversation" how-to shows the output).

A real bot would speak (``send_audio``); this one types, so that the example is deterministic.
"""

from __future__ import annotations

import argparse
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from livehandle import (
    Flow,
    FlowExplanation,
    LiveConfig,
    LiveEvent,
    Step,
    called_ok,
    captured,
    is_set,
    is_true,
    never_until,
    once,
    open_live_session,
    require,
    tool,
)
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle import LiveHandle

READY = captured("city", "date") & is_true("confirmed")  # what a booking needs

FLOW = Flow(
    steps=[
        Step(
            "greet",
            posture="Greet the caller and ask which city and which date they want a room for.",
            allow=["set_city", "set_date"],
            done=is_set("city") | is_set("date"),
        ),
        Step(
            "collect",
            after=["greet"],
            posture="Ask only for what is still missing.",
            ground="{city?The city is known.:The city is not known yet.} "
            "{date?The date is known.:The date is not known yet.}",
            allow=["set_city", "set_date"],
            done=captured("city", "date"),
        ),
        Step(
            "confirm",
            after=["collect"],
            posture="Read the booking back and ask the caller to confirm it.",
            ground="The caller wants a room in {city} on {date}.",
            allow=["confirm"],
            done=is_true("confirmed"),
        ),
        Step(
            "book",
            after=["confirm"],
            gate=READY,
            posture="Book the room, then give the caller the booking reference.",
            allow=["book"],
            done=called_ok("book"),
        ),
    ],
    constraints=[never_until("book", READY), once("book"), require("confirm", "book")],
    confirm_tools=["book"],
)

LISBON_FRIDAY = {"city": "Lisbon", "date": "Friday"}

SCRIPT = Scenario(
    rules=[
        Rule(
            When(text="Lisbon"),
            [
                CallTools([ToolCallSpec("set_city", {"city": "Lisbon"})]),
                Say("Lisbon, lovely. For which date?"),
            ],
        ),
        Rule(  # the model jumps the gun: it books before the caller has confirmed
            When(text="Friday"),
            [
                CallTools([ToolCallSpec("set_date", {"date": "Friday"})]),
                CallTools([ToolCallSpec("book", LISBON_FRIDAY)]),
                Say("I could not book yet ({result}). A room in Lisbon on Friday: shall I book?"),
            ],
        ),
        Rule(
            When(text="yes"),
            [
                CallTools([ToolCallSpec("confirm", {})]),
                CallTools([ToolCallSpec("book", LISBON_FRIDAY)]),
                Say("Booked: {result}."),
            ],
        ),
        Rule(
            When(text="another"),
            [CallTools([ToolCallSpec("book", LISBON_FRIDAY)]), Say("Sorry: {result}.")],
        ),
    ],
)

TURNS = (
    "Hello, I need a room in Lisbon.",
    "On Friday. Just book it.",
    "Yes, please.",
    "Could you book another one?",
)


@attrs.frozen
class Outcome:
    """What the example did: the explanation after each turn (and at the start), the bookings."""

    explanations: tuple[FlowExplanation | None, ...]
    bookings: tuple[dict[str, str], ...]


@asynccontextmanager
async def server(endpoint: str | None) -> AsyncIterator[str | None]:
    """The endpoint to use: the given one, Gemini (GEMINI_API_KEY), or an emulator started here."""
    if endpoint is not None or os.environ.get("GEMINI_API_KEY"):
        yield endpoint
        return
    async with LiveEmulator(SCRIPT).running() as emu:
        yield emu.url


async def main(endpoint: str | None) -> Outcome:
    """Book a room in four typed turns, printing what the flow allows after each one."""
    opened: list[LiveHandle] = []  # the session, once open: the tools write to its state
    bookings: list[dict[str, str]] = []

    def remember(key: str, value: object) -> None:
        opened[0].state.set(key, value)  # a tool runs only while the session is open

    @tool
    async def set_city(city: str) -> dict[str, str]:
        """Record the city the caller wants a room in.

        Args:
            city: the city's name, e.g. "Lisbon".
        """
        remember("city", city)
        return {"city": city}

    @tool
    async def set_date(date: str) -> dict[str, str]:
        """Record the date of the stay.

        Args:
            date: the day, e.g. "Friday".
        """
        remember("date", date)
        return {"date": date}

    @tool
    async def confirm() -> dict[str, bool]:
        """Record that the caller has confirmed the booking read back to them."""
        remember("confirmed", True)
        return {"confirmed": True}

    @tool
    async def book(city: str, date: str) -> dict[str, str]:
        """Book the room.

        Args:
            city: where.
            date: which day.
        """
        bookings.append({"city": city, "date": date})
        return {"reference": f"HX-{len(bookings):04d}", "city": city, "date": date}

    config = LiveConfig(
        response_modality="TEXT",
        instruction="You book hotel rooms. Follow the booking steps you are given.",
        tools=[set_city, set_date, confirm, book],
        flow=FLOW,
    )
    explanations: list[FlowExplanation | None] = []
    async with server(endpoint) as where, open_live_session(config, endpoint=where) as handle:
        opened.append(handle)
        explanation = handle.why_blocked()
        print(explanation)
        explanations.append(explanation)
        events = handle.stream()
        for line in TURNS:
            print(f"user: {line}")
            await handle.send_text(line)
            async for event in events:
                match event:
                    case LiveEvent.StepEntered(step=step):
                        print(f"step entered: {step}")
                    case LiveEvent.FlowViolation(tool=name, reason=reason):
                        print(f"refused: {name}: {reason}")
                    case LiveEvent.TextComplete(text=text):
                        print(f"model: {text}")
                    case LiveEvent.TurnComplete():
                        break
            explanation = handle.why_blocked()
            print(explanation)
            explanations.append(explanation)
    return Outcome(tuple(explanations), tuple(bookings))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL (default: emulator)")
    outcome = trio.run(main, parser.parse_args().endpoint)
    print(f"bookings made: {len(outcome.bookings)}")
