"""How to test a bot with livehandle's pytest fixtures.

Run: ``pytest examples/test_with_fixtures.py``.

Installing livehandle registers the fixtures ``live_emulator`` (an emulator on a free local
port, one per test) and ``live_endpoint`` (its URL).  ``live_emulator_scenario`` scripts what the
emulated model does; the emulator records what the client sent, for assertions.  The fixtures are
Trio fixtures: run the tests with pytest-trio (``trio_mode = true``, or ``@pytest.mark.trio``).
"""

from __future__ import annotations

import pytest

from livehandle import LiveConfig, LiveEvent, open_live_session, tool
from livehandle.lowlevel import ToolResponse
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When


@tool
async def get_weather(city: str) -> str:
    """Current weather for a city (the bot's own tool, under test)."""
    return {"paris": "sunny and 21 degrees"}.get(city.lower(), "unknown")


@pytest.fixture
def live_emulator_scenario() -> Scenario:
    """The model calls get_weather when asked about the weather, then reads out the result."""
    weather = CallTools([ToolCallSpec("get_weather", {"city": "Paris"})])
    return Scenario(rules=[Rule(When(text="weather"), [weather, Say("It is {result}.")])])


@pytest.mark.trio
async def test_the_bot_answers_with_its_tool(live_endpoint: str) -> None:
    """The scripted model calls the bot's tool and reads out its answer."""
    config = LiveConfig(response_modality="TEXT", tools=[get_weather])
    async with open_live_session(config, endpoint=live_endpoint) as handle:
        events = handle.events()
        await handle.send_text("What is the weather in Paris?")
        async for event in events:
            if isinstance(event, LiveEvent.TextComplete):
                assert event.text == "It is sunny and 21 degrees."
                break


@pytest.mark.trio
async def test_the_emulator_records_what_the_bot_sent(live_emulator: LiveEmulator) -> None:
    """Assertions on what the client sent: here, its answer to the tool call."""
    config = LiveConfig(response_modality="TEXT", tools=[get_weather])
    async with open_live_session(config, endpoint=live_emulator.url) as handle:
        events = handle.events()
        await handle.send_text("weather, please")
        async for event in events:
            if isinstance(event, LiveEvent.TurnComplete):
                break
    (connection,) = live_emulator.connections
    (answer,) = connection.messages(ToolResponse)
    assert answer.function_responses[0].response == {"output": "sunny and 21 degrees"}
