"""A booking bot that fills slots from the conversation: name, date and party size.

Run it with no API key and it talks to the in-process emulator::

    python examples/booking_bot.py

What it shows:

* a turn extractor (``@extractor``) reads the last turns of the transcript after every turn and
  returns a typed ``Booking``; the turn pipeline stores it in the state under ``"booking"`` and
  publishes ``LiveEvent.Extraction``, and ``handle.extracted("booking", Booking)`` reads it back;
* promotion rules copy each slot the extractor found into a key of its own (``slot:name``...):
  a slot the window no longer mentions comes back as None, and a null never erases, so the slots
  accumulate over the call, each with its provenance (``state.evidence``);
* a watcher (``handle.state.watch``) sees every change of a slot, whoever made it, and once all
  three are known asks the model to confirm (``handle.add_context``): the context goes out at
  the same turn boundary, before ``TurnComplete`` is published;
* the state's journal (``state.cursor``, ``state.mutations_since``) tells what a turn changed.

A real bot would speak (``send_audio``) and extract with an ``LlmExtractor``; this one types, and
its extractor reads the slots with regular expressions so that the example is deterministic.
"""

from __future__ import annotations

import argparse
import os
import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from livehandle import LiveConfig, LiveEvent, Promotion, extractor, open_live_session
from livehandle.testing import LiveEmulator, Rule, Say, Scenario, When

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from livehandle import StateMutation, TranscriptTurn


@attrs.frozen
class Booking:
    """The slots of a table booking; None while unknown."""

    name: str | None = None
    date: str | None = None
    party_size: int | None = None

    @property
    def complete(self) -> bool:
        """Whether every slot is known."""
        return None not in (self.name, self.date, self.party_size)


_NAME = re.compile(r"\b(?:[Mm]y name is|[Tt]he name is|[Uu]nder)\s+([A-Z][a-z]+)\b")
_DATE = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I)
_PARTY = re.compile(r"\b(\d+|two|three|four|five|six)\s+(?:people|guests|of us)\b", re.I)
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


SLOTS = ("name", "date", "party_size")


@extractor(
    name="booking",
    window=2,
    promotions=[Promotion.overwrite(slot).to(f"slot:{slot}") for slot in SLOTS],
)
async def booking(turns: Sequence[TranscriptTurn]) -> Booking:
    """The booking's slots, from what the user said in the last two turns (newest wins)."""
    found = Booking()
    for turn in turns:
        if match := _NAME.search(turn.user):
            found = attrs.evolve(found, name=match.group(1))
        if match := _DATE.search(turn.user):
            found = attrs.evolve(found, date=match.group(1).capitalize())
        if match := _PARTY.search(turn.user):
            size = match.group(1).lower()
            found = attrs.evolve(found, party_size=int(_NUMBERS.get(size, size)))
    return found


SCRIPT = Scenario(
    rules=[
        Rule(When(text="confirm the booking"), [Say("Booked! See you then.")]),
        Rule(When(text="table"), [Say("Gladly. For how many people, and which day?")]),
        Rule(When(text="people"), [Say("Noted. Under which name?")]),
    ],
    default=[Say("Thank you.")],
)


@asynccontextmanager
async def server(endpoint: str | None) -> AsyncIterator[str | None]:
    """The endpoint to use: the given one, Gemini (GEMINI_API_KEY), or an emulator started here."""
    if endpoint is not None or os.environ.get("GEMINI_API_KEY"):
        yield endpoint
        return
    async with LiveEmulator(SCRIPT).running() as emu:
        yield emu.url


async def main(endpoint: str | None) -> Booking | None:
    """Book a table in three typed turns; return the slots the extractor filled in."""
    config = LiveConfig(
        response_modality="TEXT",
        instruction="You take table bookings: ask for the name, the day and the party size.",
        extractors=[booking],
    )
    async with server(endpoint) as where, open_live_session(config, endpoint=where) as handle:
        state = handle.state

        async def confirm(change: StateMutation) -> None:
            slots = Booking(
                state.get("slot:name", str),
                state.get("slot:date", str),
                state.get("slot:party_size", int),
            )
            if slots.complete and not state.get("booking:confirmation_asked", bool):
                print(f"watcher: all slots known: {slots}; asking the model to confirm")
                state.set("booking:confirmation_asked", True)
                handle.add_context(
                    f"All details are known ({slots.name}, {slots.date}, "
                    f"{slots.party_size} people): confirm the booking.",
                    prompt=True,
                )

        state.watch("slot:*", confirm, when="changed")
        events = handle.stream()
        for line in (
            "Hello, I would like a table on Friday.",
            "We are four people.",
            "The name is Ada.",
        ):
            print(f"user: {line}")
            cursor = handle.state.cursor
            await handle.send_text(line)
            async for event in events:
                match event:
                    case LiveEvent.TextComplete(text=text):
                        print(f"model: {text}")
                    case LiveEvent.Extraction(name="booking", value=value):
                        print(f"extracted: {value}")
                    case LiveEvent.TurnComplete():
                        break
            changed = [
                m.key for m in handle.state.mutations_since(cursor) if m.key.startswith("slot:")
            ]
            print(f"this turn filled: {changed}")
        async for event in events:  # the model's confirmation, prompted by the watcher
            match event:
                case LiveEvent.TextComplete(text=text):
                    print(f"model: {text}")
                case LiveEvent.TurnComplete():
                    break
        source = state.evidence("slot:name").extractor
        print(f"the name came from the extractor {source!r}")
        return Booking(
            state.get("slot:name", str),
            state.get("slot:date", str),
            state.get("slot:party_size", int),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL (default: emulator)")
    print(trio.run(main, parser.parse_args().endpoint))
