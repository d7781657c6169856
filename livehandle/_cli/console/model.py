"""What the console talks to: its session configuration and, without a key, the emulated model.

Against Gemini the console offers one real tool, ``get_weather``, so a tool call can be seen.
The built-in emulator cannot understand speech: it answers a spoken turn by saying what it heard
(its length), calls ``get_weather`` when a typed line mentions the weather, tells a long story
when asked for one (talk over it to see a barge-in), and echoes anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livehandle._config.live import LiveConfig
    from livehandle.testing import Scenario

__all__ = ["STORY", "console_config", "console_scenario", "get_weather_tool"]

INSTRUCTION = (
    "You are a friendly voice assistant talking to a developer who is trying out livehandle. "
    "Keep your answers short. Use get_weather when asked about the weather."
)
STORY = (
    "Once upon a time, a small boat left the harbour at dawn. The sea was calm, the gulls were "
    "loud, and the old captain hummed a song about the islands far away, where the water is "
    "warm and green and the evenings are long."
)


def get_weather_tool() -> Any:
    """The demonstration tool of ``demo`` and ``console`` (Gemini is offered it too)."""
    from livehandle import tool

    @tool
    async def get_weather(city: str) -> str:
        """Current weather for a city.

        Args:
            city: the city's name, e.g. "Paris".
        """
        forecasts = {"paris": "sunny and 21 degrees", "oslo": "snowing at minus 3 degrees"}
        return forecasts.get(city.lower(), "mild and dry")

    return get_weather


def console_config() -> LiveConfig:
    """Audio out with both transcriptions (the default), the instruction and the tool."""
    from livehandle._config.live import LiveConfig

    return LiveConfig(instruction=INSTRUCTION, tools=[get_weather_tool()])


def console_scenario() -> Scenario:
    """How the emulated model answers in the console (see the module docstring)."""
    from livehandle.testing import Audio, CallTools, Rule, Say, Scenario, ToolCallSpec, When

    return Scenario(
        rules=[
            Rule(
                When(text="weather"),
                [
                    CallTools([ToolCallSpec("get_weather", {"city": "Paris"})]),
                    Say("In Paris it is {result}."),
                ],
            ),
            Rule(When(text="story"), [Audio(12000, STORY)]),
            Rule(
                When(kind="speech"),
                [Say('I heard "{user_text}", but I am the emulator: I cannot understand speech.')],
            ),
        ]
    )
