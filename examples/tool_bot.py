"""A tool bot: a quick weather lookup and a slow booking that runs in the background.

Run it with no API key and it talks to the in-process emulator, scripted to call the tools::

    python examples/tool_bot.py

Set ``GEMINI_API_KEY`` (or pass ``--endpoint wss://...``) to run it against another server.

What it shows:

* ``@tool`` turns typed functions into declarations: the name, the description and each
  argument's schema come from the signature and the docstring;
* ``get_weather`` runs inline: the session answers the model as soon as it returns;
* ``book_table`` is a background (NON_BLOCKING) tool: the model is told at once that it is
  running and keeps talking; the result follows when the booking is done (``WHEN_IDLE``: the
  model mentions it when it is not speaking);
* ``LiveEvent.ToolExecution`` reports every answer; no tool task outlives the session.
"""

from __future__ import annotations

import argparse
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import trio

from livehandle import LiveConfig, LiveEvent, open_live_session, tool
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FORECASTS = {"paris": ("cloudy", 18), "rome": ("sunny", 27)}


@tool
async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
    """Current weather for a city.

    Args:
        city: the city's name, e.g. "Paris".
        unit: degrees Celsius (C) or Fahrenheit (F).
    """
    sky, celsius = FORECASTS.get(city.lower(), ("unknown", 20))
    temperature = celsius if unit == "C" else round(celsius * 9 / 5 + 32)
    return {"city": city, "sky": sky, "temperature": temperature, "unit": unit}


@tool(background=True, scheduling="WHEN_IDLE", timeout=30)
async def book_table(restaurant: str, time: str, people: int = 2) -> dict[str, object]:
    """Book a restaurant table; takes a few seconds.

    Args:
        restaurant: where to book.
        time: when, e.g. "20:00".
        people: how many guests.
    """
    await trio.sleep(3)  # a slow booking service
    return {"restaurant": restaurant, "time": time, "people": people, "confirmation": "BK-1042"}


SCRIPT = Scenario(
    rules=[
        Rule(
            When(text="weather"),
            [CallTools([ToolCallSpec("get_weather", {"city": "Paris"})]), Say("It is {result}.")],
        ),
        Rule(
            When(text="book"),
            [
                CallTools(
                    [ToolCallSpec("book_table", {"restaurant": "Chez Lili", "time": "20:00"})]
                ),
                Say("I am booking it now; I will tell you when it is confirmed."),
            ],
        ),
    ]
)


@asynccontextmanager
async def server(endpoint: str | None) -> AsyncIterator[str | None]:
    """The endpoint to use: the given one, Gemini (GEMINI_API_KEY), or an emulator started here."""
    if endpoint is not None or os.environ.get("GEMINI_API_KEY"):
        yield endpoint
        return
    async with LiveEmulator(SCRIPT).running() as emu:
        yield emu.url


async def main(endpoint: str | None) -> None:
    """Ask for the weather, then for a booking, and wait until the booking is confirmed."""
    config = LiveConfig(
        response_modality="TEXT",
        instruction="You help with the weather and restaurant bookings.",
        tools=[get_weather, book_table],
    )
    async with server(endpoint) as where, open_live_session(config, endpoint=where) as handle:
        began = trio.current_time()

        def say(line: str) -> None:
            print(f"[{trio.current_time() - began:5.2f}s] {line}")

        events = handle.stream()
        for question in ("What is the weather in Paris?", "Please book a table for two at 8pm."):
            say(f"user: {question}")
            await handle.send_text(question)
            async for event in events:
                match event:
                    case LiveEvent.ToolCall(calls=calls):
                        say("model calls: " + ", ".join(f"{c.name}({c.args})" for c in calls))
                    case LiveEvent.ToolExecution(name=name, result=result, background=background):
                        say(f"{'background ' if background else ''}tool {name} answered {result}")
                    case LiveEvent.TextComplete(text=text):
                        say(f"model: {text}")
                    case LiveEvent.TurnComplete():
                        break
        async for event in events:  # the booking finishes while nobody is talking
            match event:
                case LiveEvent.ToolExecution(name=name, result=result, background=True):
                    say(f"background tool {name} answered {result}")
                case LiveEvent.TextComplete(text=text):
                    say(f"model: {text}")
                case LiveEvent.TurnComplete():
                    break
        stats = handle.tool_stats
        say(f"done: {stats.calls} tool calls, {stats.answered} answered, {stats.errors} errors")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL (default: emulator)")
    trio.run(main, parser.parse_args().endpoint)
