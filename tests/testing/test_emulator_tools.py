"""Tool calls in the emulator: blocking waits, parallel and chained calls, cancellation,
NON_BLOCKING scheduling."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from livehandle._events import SessionEvent
from livehandle._wire import messages as m
from livehandle.testing import (
    CallTools,
    LiveEmulator,
    Pause,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from tests.testing.helpers import SETUP_TEXT, connect, kinds, text_of, until, user_text

WEATHER = CallTools([ToolCallSpec("get_weather", {"city": "Paris"})])


def with_tools(*declarations: m.FunctionDeclaration) -> m.Setup:
    return attrs.evolve(SETUP_TEXT, tools=(m.Tool(function_declarations=declarations),))


SETUP = with_tools(
    m.FunctionDeclaration("get_weather"),
    m.FunctionDeclaration("get_time"),
    m.FunctionDeclaration("book_table", behavior=m.Behavior.NON_BLOCKING),
)


def answer(call: m.FunctionCall, output: object, **kw: object) -> m.ToolResponse:
    response = m.FunctionResponse(name=call.name, id=call.id, response={"output": output}, **kw)  # type: ignore[arg-type]
    return m.ToolResponse((response,))


async def test_a_blocking_call_waits_for_its_response_and_the_reply_uses_it() -> None:
    scenario = Scenario(
        rules=[Rule(When(text="weather"), [WEATHER, Say("It is {result} in Paris.")])]
    )
    async with LiveEmulator(scenario).running() as emu, connect(emu, SETUP) as (session, events):
        await session.send(user_text("weather please"))
        call_event = (await until(events, SessionEvent.ToolCall))[-1]
        assert isinstance(call_event, SessionEvent.ToolCall)
        (call,) = call_event.calls
        assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
        await trio.testing.wait_all_tasks_blocked()
        assert emu.connections[0].sent_messages(m.ServerContent)[-1:] != [
            m.ServerContent(turn_complete=True)
        ]  # nothing more until answered
        await session.send(answer(call, "sunny"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "It is sunny in Paris."
    assert emu.connections[0].messages(m.ToolResponse)[0].function_responses[0].id == call.id


async def test_parallel_calls_come_in_one_message_and_need_every_answer() -> None:
    both = CallTools([ToolCallSpec("get_weather", {"city": "Oslo"}), ToolCallSpec("get_time")])
    scenario = Scenario(default=[both, Say("Results: {results}")])
    async with LiveEmulator(scenario).running() as emu, connect(emu, SETUP) as (session, events):
        await session.send(user_text("both"))
        call_event = (await until(events, SessionEvent.ToolCall))[-1]
        assert isinstance(call_event, SessionEvent.ToolCall)
        weather, clock = call_event.calls
        await session.send(answer(weather, "rain"))
        await session.send(answer(clock, "noon"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "Results: rain, noon"


async def test_chained_calls_come_one_message_after_another() -> None:
    scenario = Scenario(
        default=[WEATHER, CallTools([ToolCallSpec("get_time")]), Say("{name} said {result}")]
    )
    async with LiveEmulator(scenario).running() as emu, connect(emu, SETUP) as (session, events):
        await session.send(user_text("chain"))
        for output in ("cloudy", "9:00"):
            call_event = (await until(events, SessionEvent.ToolCall))[-1]
            assert isinstance(call_event, SessionEvent.ToolCall)
            await session.send(answer(call_event.calls[0], output))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "get_time said 9:00"
    assert len(emu.connections[0].sent_messages(m.ToolCall)) == 2


async def test_interruption_while_calls_are_pending_cancels_them() -> None:
    scenario = Scenario(rules=[Rule(When(text="weather"), [WEATHER, Say("done")])])
    async with LiveEmulator(scenario).running() as emu, connect(emu, SETUP) as (session, events):
        await session.send(user_text("weather"))
        call_event = (await until(events, SessionEvent.ToolCall))[-1]
        assert isinstance(call_event, SessionEvent.ToolCall)
        await session.send(user_text("never mind"))
        seen = await until(events, SessionEvent.TurnComplete)
        after = await until(events, SessionEvent.TurnComplete)
    assert kinds(seen)[-3:] == ["Interrupted", "ToolCallCancelled", "TurnComplete"]
    cancelled = [e for e in seen if isinstance(e, SessionEvent.ToolCallCancelled)]
    assert cancelled[0].ids == (call_event.calls[0].id,)
    assert text_of(after) == "You said: never mind"


async def test_non_blocking_call_does_not_stop_the_reply() -> None:
    book = CallTools([ToolCallSpec("book_table", {"when": "8pm"})])
    scenario = Scenario(default=[book, Say("I am booking it.")])
    async with LiveEmulator(scenario).running() as emu, connect(emu, SETUP) as (session, events):
        await session.send(user_text("book"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "I am booking it."


async def _background_result(scheduling: m.Scheduling, *, busy: bool) -> list[list[SessionEvent]]:
    """Book in the background, answer later with ``scheduling``; return each later turn's events."""
    book = CallTools([ToolCallSpec("book_table")])
    long_talk = [Say("one"), Pause(5), Say("two")]
    scenario = Scenario(
        rules=[
            Rule(When(text="book"), [book, Say("Booking.")]),
            Rule(When(text="talk"), long_talk),
        ],
        on_tool_result=[Say("Booked: {result}")],
    )
    turns = []
    # In memory: the callers run on a mock clock.
    async with LiveEmulator(scenario).in_memory() as emu, connect(emu, SETUP) as (session, events):
        await session.send(user_text("book"))
        first = await until(events, SessionEvent.TurnComplete)
        call = next(e for e in first if isinstance(e, SessionEvent.ToolCall)).calls[0]
        started: list[SessionEvent] = []
        if busy:
            await session.send(user_text("talk"))
            started = await until(events, SessionEvent.TextDelta)  # the model is talking now
        await session.send(answer(call, "table 4", scheduling=scheduling))
        if scheduling == m.Scheduling.SILENT:
            await session.send(user_text("anything else?"))
        turns.append(started + await until(events, SessionEvent.TurnComplete))
        if busy:
            turns.append(await until(events, SessionEvent.TurnComplete))
    return turns


async def test_when_idle_result_waits_for_the_current_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    talk, result = await _background_result(m.Scheduling.WHEN_IDLE, busy=True)
    assert text_of(talk) == "one two"
    assert text_of(result) == "Booked: table 4"


async def test_interrupt_result_cuts_the_current_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    talk, result = await _background_result(m.Scheduling.INTERRUPT, busy=True)
    assert text_of(talk) == "one"
    assert "Interrupted" in kinds(talk)
    assert text_of(result) == "Booked: table 4"


async def test_silent_result_is_only_added_to_context(
    autojump_clock: trio.testing.MockClock,
) -> None:
    (next_turn,) = await _background_result(m.Scheduling.SILENT, busy=False)
    assert text_of(next_turn) == "You said: anything else?"


async def test_idle_result_is_answered_at_once(autojump_clock: trio.testing.MockClock) -> None:
    (result,) = await _background_result(m.Scheduling.WHEN_IDLE, busy=False)
    assert text_of(result) == "Booked: table 4"
