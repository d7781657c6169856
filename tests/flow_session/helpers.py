"""Shared pieces of the session-level flow tests: a session on the in-memory emulator, the wire."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from livehandle import LiveConfig, LiveEvent, lowlevel as m, open_live_session, tool
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When
from tests.testing.helpers import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from livehandle import LiveHandle, Tool
    from livehandle.testing import EmulatorConnection


def calls(word: str, name: str, args: dict[str, Any] | None = None) -> Rule:
    """A rule: a user turn containing ``word`` is answered by a call of ``name``, then "ok"."""
    return Rule(When(text=word), [CallTools([ToolCallSpec(name, args or {})]), Say("ok")])


class Booking:
    """``set_city`` (writes ``city`` to the state), ``book`` and ``note``, recording each run."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.handle: LiveHandle | None = None
        booking = self

        @tool
        async def book() -> dict[str, bool]:
            """Book the trip."""
            booking.ran.append("book")
            return {"booked": True}

        @tool
        async def set_city(city: str) -> dict[str, bool]:
            """Remember the city."""
            booking.ran.append("set_city")
            assert booking.handle is not None
            booking.handle.state.set("city", city)
            return {"ok": True}

        @tool
        async def note(text: str = "") -> dict[str, bool]:
            """Take a note."""
            booking.ran.append("note")
            return {"ok": True}

        self.tools: tuple[Tool, ...] = (book, set_city, note)


SCENARIO = Scenario(
    rules=[
        calls("book", "book"),
        calls("paris", "set_city", {"city": "Paris"}),
        calls("lyon", "set_city", {"city": "Lyon"}),
        calls("note", "note", {"text": "x"}),
    ]
)


def config(booking: Booking, **kwargs: Any) -> LiveConfig:
    return LiveConfig(tools=list(booking.tools), response_modality="TEXT", **kwargs)


@asynccontextmanager
async def session(
    cfg: LiveConfig, booking: Booking | None = None, scenario: Scenario = SCENARIO, **kwargs: Any
) -> AsyncIterator[tuple[LiveEmulator, LiveHandle]]:
    """A session of ``cfg`` on the in-memory emulator answering with ``scenario``."""
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(
            cfg, endpoint=emu.url, transport=emu.memory_transport(), **kwargs
        ) as handle,
    ):
        if booking is not None:
            booking.handle = handle
        yield emu, handle


async def ask(handle: LiveHandle, events: Any, text: str) -> list[LiveEvent]:
    """Send ``text``; the events up to and including the turn's ``TurnComplete``."""
    await handle.send_text(text)
    return await until(events, LiveEvent.TurnComplete)


def conn(emu: LiveEmulator) -> EmulatorConnection:
    return emu.connections[0]


def tool_answers(emu: LiveEmulator) -> list[tuple[str | None, Any]]:
    """Every function response the session sent, as (name, response), in order."""
    return [
        (r.name, r.response)
        for msg in conn(emu).messages(m.ToolResponse)
        for r in msg.function_responses
    ]


def client_turns(emu: LiveEmulator) -> list[tuple[str, bool | None]]:
    """Every clientContent the session sent, as (its text, turnComplete), in order."""
    return [
        (" ".join(p.text or "" for c in msg.turns or () for p in c.parts or ()), msg.turn_complete)
        for msg in conn(emu).messages(m.ClientContent)
    ]


def of(kind: type, events: Sequence[LiveEvent]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]
