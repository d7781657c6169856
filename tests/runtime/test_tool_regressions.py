"""Regressions from the review of the tool runtime, through a real session on the emulator."""

from __future__ import annotations

import attrs
import trio

from livehandle._config.live import LiveConfig
from livehandle._errors import ToolHookFailed
from livehandle._events import LiveEvent
from livehandle._open import open_live_session
from livehandle._tools.declare import tool
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator
from tests.testing.helpers import until


def config(*tools: object, **settings: object) -> LiveConfig:
    return LiveConfig(response_modality="TEXT", tools=tools, **settings)  # type: ignore[arg-type]


def answered(conn: object) -> list[m.FunctionResponse]:
    return [r for msg in conn.messages(m.ToolResponse) for r in msg.function_responses]  # type: ignore[attr-defined]


@tool
async def quick() -> str:
    """Answers at once."""
    return "q"


async def test_calls_without_ids_are_each_answered() -> None:
    # Before: both calls were tracked under the key "", and the second one's cleanup raised a
    # bare KeyError that ended the session.
    gate = trio.Event()

    @tool
    async def slow() -> str:
        """Waits for the test."""
        await gate.wait()
        return "slow"

    async with (
        LiveEmulator().running() as emu,
        open_live_session(config(slow, quick), endpoint=emu.url) as h,
    ):
        events = h.events()
        calls = (m.FunctionCall("slow"), m.FunctionCall("quick"), m.FunctionCall("quick"))
        await emu.connections[0].send(m.ToolCall(calls))
        await until(events, LiveEvent.ToolCall)
        gate.set()
        conn = emu.connections[0]
        await conn.wait_for(lambda c: len(c.messages(m.ToolResponse)) == 1)
    assert [r.response for r in answered(conn)] == [
        {"output": "slow"},
        {"output": "q"},
        {"output": "q"},
    ]
    assert h.tool_stats.answered == 3


async def test_a_call_withdrawn_after_it_finished_is_not_answered() -> None:
    gate = trio.Event()
    waiting = trio.Event()

    @tool
    async def slow() -> str:
        """Waits for the test."""
        waiting.set()
        await gate.wait()
        return "s"

    async with (
        LiveEmulator().running() as emu,
        open_live_session(config(quick, slow), endpoint=emu.url) as h,
    ):
        events = h.events()
        conn = emu.connections[0]
        await conn.send(
            m.ToolCall((m.FunctionCall("quick", id="c0"), m.FunctionCall("slow", id="c1")))
        )
        await waiting.wait()  # quick has finished; its answer waits for slow's
        await conn.send(m.ToolCallCancellation(("c0",)))
        seen = await until(events, LiveEvent.ToolCancelled)
        gate.set()
        seen += await until(events, LiveEvent.ToolExecution)
        await conn.wait_for(lambda c: len(c.messages(m.ToolResponse)) == 1)
    assert seen[-2:] and [e for e in seen if isinstance(e, LiveEvent.ToolCancelled)] == [
        LiveEvent.ToolCancelled(("c0",))
    ]
    assert [r.id for r in answered(conn)] == ["c1"]


async def test_a_raising_on_tool_call_hook_answers_errors_and_the_session_lives() -> None:
    def on_tool_call(calls: object, state: object) -> None:
        raise RuntimeError("hook bug")

    async with (
        LiveEmulator().running() as emu,
        open_live_session(config(quick, on_tool_call=on_tool_call), endpoint=emu.url) as h,
    ):
        events = h.events()
        conn = emu.connections[0]
        await conn.send(m.ToolCall((m.FunctionCall("quick", id="c0"),)))
        seen = await until(events, LiveEvent.ToolExecution)
        await h.send_text("still here?")
        await until(events, LiveEvent.TurnComplete)
    errors = [e.error for e in seen if isinstance(e, LiveEvent.Error)]
    assert len(errors) == 1 and isinstance(errors[0], ToolHookFailed)
    assert errors[0].hook == "on_tool_call"
    (answer,) = answered(conn)
    assert "hook bug" in answer.response["error"]


async def test_an_answer_that_cannot_be_encoded_is_replaced_by_an_error() -> None:
    def before(responses: list[m.FunctionResponse], state: object) -> list[m.FunctionResponse]:
        return [attrs.evolve(r, response={"x": float("nan")}) for r in responses]

    async with (
        LiveEmulator().running() as emu,
        open_live_session(config(quick, before_tool_response=before), endpoint=emu.url) as h,
    ):
        events = h.events()
        conn = emu.connections[0]
        await conn.send(m.ToolCall((m.FunctionCall("quick", id="c0"),)))
        seen = await until(events, LiveEvent.ToolExecution)
        await conn.wait_for(lambda c: len(c.messages(m.ToolResponse)) == 1)
    (answer,) = answered(conn)
    assert answer.id == "c0" and "could not be encoded" in answer.response["error"]
    assert any(isinstance(e, LiveEvent.Error) for e in seen)


async def test_a_barge_in_during_the_hook_accounts_for_every_call() -> None:
    entered = trio.Event()

    async def on_tool_call(calls: object, state: object) -> None:
        entered.set()
        await trio.sleep_forever()  # e.g. a slow policy service; the barge-in cancels it

    @tool(background=True)
    async def book() -> str:
        """Books."""
        return "booked"

    async with (
        LiveEmulator().running() as emu,
        open_live_session(config(book, quick, on_tool_call=on_tool_call), endpoint=emu.url) as h,
    ):
        events = h.events()
        conn = emu.connections[0]
        await conn.send(
            m.ToolCall((m.FunctionCall("book", id="bg"), m.FunctionCall("quick", id="in")))
        )
        await entered.wait()
        await conn.send(m.ServerContent(interrupted=True))
        seen = await until(events, LiveEvent.ToolCancelled)
    cancelled = sorted(i for e in seen if isinstance(e, LiveEvent.ToolCancelled) for i in e.ids)
    assert cancelled == ["bg", "in"]  # neither answered: both have a recorded reason
    assert h.tool_stats.cancelled_by_barge_in == 2
