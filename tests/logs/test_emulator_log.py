"""The emulator logs one line per connection (opened, closed) and one per turn."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import attrs
import trio

from livehandle import InvalidArgument, LiveConfig, LiveEvent, open_live_session, tool
from livehandle.testing import (
    CallTools,
    Fault,
    LiveEmulator,
    Pause,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from livehandle.testing._log import CLIP, clip
from tests.testing.helpers import until

if TYPE_CHECKING:
    import pytest
    import trio.testing

TEXT = LiveConfig(response_modality="TEXT", auto_resume=True)


@tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


SCENARIO = Scenario(
    rules=[
        Rule(
            When(text="weather"),
            [CallTools([ToolCallSpec("get_weather", {"city": "Paris"})]), Say("It is {result}.")],
        )
    ]
)


def emulator_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "livehandle.emulator"]


async def test_a_line_per_connection_and_per_turn_with_tools_and_resumes(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livehandle.emulator")
    config = attrs.evolve(TEXT, tools=(get_weather,))
    async with (
        LiveEmulator(SCENARIO).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("What is the weather?")
        await until(events, LiveEvent.TurnComplete)
        await emu.connections[0].fault(Fault("drop"))
        await until(events, LiveEvent.Resumed)
        await handle.send_text("thanks")
        await until(events, LiveEvent.TurnComplete)
        await handle.disconnect()

    lines = [r.getMessage() for r in emulator_lines(caplog)]
    model = "models/" + config.model.removeprefix("models/")
    assert lines[0] == (f"connection 0 opened from in-memory: model {model}, starts conversation 1")
    assert lines[1] == (
        "connection 0 turn 1: user sent text 'What is the weather?'; "
        "model answered 'It is sunny in Paris.'; tools called: get_weather"
    )
    assert re.fullmatch(r"connection 0 closed: code 1006, \d+\.\d s, 1 turn", lines[2]), lines[2]
    assert lines[3] == (
        f"connection 1 opened from in-memory: model {model}, resumes conversation 1"
    )
    assert lines[4] == (
        "connection 1 turn 2: user sent text 'thanks'; model answered 'You said: thanks'"
    )
    assert re.fullmatch(r"connection 1 closed: code 1000, \d+\.\d s, 1 turn", lines[5]), lines[5]
    assert len(lines) == 6
    records = emulator_lines(caplog)
    assert all(r.levelno == logging.INFO for r in records)
    assert [(r.session_id, r.connection_id) for r in records] == [
        ("conversation-1", 0),
        ("conversation-1", 0),
        ("conversation-1", 0),
        ("conversation-1", 1),
        ("conversation-1", 1),
        ("conversation-1", 1),
    ]


async def test_an_interrupted_turn_and_a_refused_connection_are_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livehandle.emulator")
    slow = Scenario(rules=[Rule(When(text="tell me"), [Say("Once upon"), Pause(60), Say("end")])])
    async with LiveEmulator(slow, api_key="right-key").in_memory() as emu:
        wrong = emu.url + "?key=wrong-key"
        refused = False
        try:
            async with open_live_session(TEXT, endpoint=wrong, transport=emu.memory_transport()):
                pass
        except* InvalidArgument:
            refused = True
        assert refused
        async with open_live_session(
            TEXT, endpoint=emu.url + "?key=right-key", transport=emu.memory_transport()
        ) as handle:
            events = handle.events()
            await handle.send_text("tell me")
            await until(events, LiveEvent.TextDelta)  # the story has begun; it pauses now
            await handle.send_text("stop")
            await until(events, LiveEvent.Interrupted)
            await handle.disconnect()
    lines = [r.getMessage() for r in emulator_lines(caplog)]
    assert re.fullmatch(r"connection 0 closed: code 1007, \d+\.\d s, 0 turns", lines[0]), lines
    turns = [line for line in lines if " turn " in line]
    assert turns[0].startswith("connection 1 turn 1: user sent text 'tell me'; model answered ")
    assert turns[0].endswith(" (interrupted)")
    assert not any("key" in line for line in lines)


def test_clip_keeps_one_short_line() -> None:
    assert clip("a\n  b") == "'a b'"
    long = clip("x" * 500)
    assert len(long) == CLIP + 2 and long.endswith("...'")
