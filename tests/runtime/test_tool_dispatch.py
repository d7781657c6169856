"""Tools through a real session on the emulator: every call gets exactly one answer, or a
recorded reason why not, and no tool task outlives the session."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import attrs
import pytest
import trio
import trio.testing

from livehandle._config.live import LiveConfig
from livehandle._errors import StaleToolResponse
from livehandle._events import LiveEvent
from livehandle._open import open_live_session
from livehandle._tools.declare import tool
from livehandle._transport import Endpoint
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
from tests.testing.helpers import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle._handle import LiveHandle
    from livehandle._state import State
    from livehandle.testing import EmulatorConnection


def calls(*specs: tuple[str, dict[str, object]]) -> CallTools:
    return CallTools([ToolCallSpec(name, args, id=f"c{i}") for i, (name, args) in enumerate(specs)])


def scenario(*steps: object) -> Scenario:
    return Scenario(rules=[Rule(When(text="go"), list(steps))])  # type: ignore[arg-type]


def text_config(*tools: object, **settings: object) -> LiveConfig:
    return LiveConfig(response_modality="TEXT", tools=tools, **settings)  # type: ignore[arg-type]


def responses(conn: EmulatorConnection) -> list[list[m.FunctionResponse]]:
    return [list(r.function_responses) for r in conn.messages(m.ToolResponse)]


async def closed(emu: LiveEmulator) -> EmulatorConnection:
    """The first connection, once the session closed it: everything it sent is recorded."""
    conn = emu.connections[0]
    await conn.wait_closed()
    return conn


async def ask(handle: LiveHandle) -> list[LiveEvent]:
    events = handle.events()
    await handle.send_text("go")
    return await until(events, LiveEvent.TurnComplete)


# -- tools used below ---------------------------------------------------------------------------


@tool
async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
    """Current weather for a city.

    Args:
        city: the city's name.
        unit: C or F.
    """
    return {"city": city, "temp": 18 if unit == "C" else 64}


@tool
def add(a: int, b: int) -> int:
    """Add two numbers (a sync tool: it runs in a worker thread)."""
    return a + b


@tool
async def explode() -> str:
    """Always fails."""
    raise ValueError("the oven is on fire")


# -- inline tools -------------------------------------------------------------------------------


async def test_calls_in_one_message_run_concurrently_and_get_one_response() -> None:
    both_running = trio.Event()
    started: list[str] = []

    @tool
    async def first() -> str:
        """Waits for the second one: only works if both run at the same time."""
        started.append("first")
        await both_running.wait()
        return "one"

    @tool
    async def second() -> str:
        """Lets the first one finish."""
        started.append("second")
        both_running.set()
        return "two"

    emulator = LiveEmulator(scenario(calls(("first", {}), ("second", {})), Say("{results}")))
    config = text_config(first, second)
    async with emulator.running() as emu, open_live_session(config, endpoint=emu.url) as handle:
        with trio.fail_after(5):
            seen = await ask(handle)
        conn = emu.connections[0]
    (answer,) = responses(conn)
    assert [(r.id, r.response) for r in answer] == [
        ("c0", {"output": "one"}),
        ("c1", {"output": "two"}),
    ]
    executions = [e for e in seen if isinstance(e, LiveEvent.ToolExecution)]
    assert [(e.name, e.id, e.result) for e in executions] == [
        ("first", "c0", {"output": "one"}),
        ("second", "c1", {"output": "two"}),
    ]
    assert LiveEvent.TextComplete("one, two") in seen
    assert handle.tool_stats.answered == 2 and handle.tool_stats.calls == 2


async def test_chained_calls_across_messages_each_get_their_answer() -> None:
    steps = (
        calls(("get_weather", {"city": "Paris"})),
        calls(("add", {"a": 2, "b": 3})),
        Say("{results}"),
    )
    config = text_config(get_weather, add)
    async with (
        LiveEmulator(scenario(*steps)).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        seen = await ask(handle)
        conn = emu.connections[0]
    assert [[r.response for r in batch] for batch in responses(conn)] == [
        [{"city": "Paris", "temp": 18}],
        [{"output": 5}],
    ]
    assert LiveEvent.TextComplete("5") in seen
    assert conn.errors == []


async def test_failures_are_answered_as_errors_and_never_raised() -> None:
    steps = (
        calls(
            ("explode", {}),
            ("get_weather", {"city": 5}),
            ("get_weather", {"town": "Paris"}),
            ("teleport", {}),
        ),
        Say("{results}"),
    )
    config = text_config(explode, get_weather)
    async with (
        LiveEmulator(scenario(*steps)).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        seen = await ask(handle)
        conn = emu.connections[0]
    (answer,) = responses(conn)
    errors = [r.response["error"] for r in answer]
    assert len(errors) == 4 and [r.id for r in answer] == ["c0", "c1", "c2", "c3"]
    assert errors[0] == "ValueError: the oven is on fire"
    assert "city" in errors[1]  # a number where a string belongs
    assert "town" in errors[2] or "city" in errors[2]  # unknown / missing argument
    assert "unknown tool 'teleport'" in errors[3]
    assert isinstance(seen[-1], LiveEvent.TurnComplete)
    assert handle.tool_stats.errors == 4


async def test_results_json_cannot_carry_are_answered_as_errors() -> None:
    # bytes have no JSON form (a TypeError), NaN is a bad number (a ValueError): both are answers.
    @tool
    def blob() -> bytes:
        """Returns bytes."""
        return b"raw"

    @tool
    def ratio() -> float:
        """Returns NaN."""
        return float("nan")

    steps = (calls(("blob", {}), ("ratio", {})), Say("{results}"))
    async with (
        LiveEmulator(scenario(*steps)).running() as emu,
        open_live_session(text_config(blob, ratio), endpoint=emu.url) as handle,
    ):
        with trio.fail_after(5):
            await ask(handle)
        conn = emu.connections[0]
    (answer,) = responses(conn)
    errors = [r.response["error"] for r in answer]
    assert [r.id for r in answer] == ["c0", "c1"]
    assert "blob returned a value that is not JSON" in errors[0] and "a bytes at $" in errors[0]
    assert "ratio returned a value that is not JSON" in errors[1] and "nan at $" in errors[1]
    assert handle.tool_stats.errors == 2


async def test_a_slow_tool_times_out_with_an_error_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @tool(timeout=2)
    async def slow() -> str:
        """Takes far too long."""
        await trio.sleep(60)
        return "late"

    config = text_config(slow)
    async with (
        LiveEmulator(scenario(calls(("slow", {})), Say("{results}"))).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        began = trio.current_time()
        await ask(handle)
        elapsed = trio.current_time() - began
        conn = emu.connections[0]
    (answer,) = responses(conn)
    assert "slow" in answer[0].response["error"] and "2" in answer[0].response["error"]
    assert 2 <= elapsed < 10


async def test_sync_tools_run_in_a_worker_thread() -> None:
    threads: list[int] = []

    @tool
    def where() -> str:
        """Reports its thread."""
        threads.append(threading.get_ident())
        return "here"

    async with (
        LiveEmulator(scenario(calls(("where", {})), Say("{results}"))).running() as emu,
        open_live_session(text_config(where), endpoint=emu.url) as handle,
    ):
        seen = await ask(handle)
    assert threads and threads[0] != threading.get_ident()
    assert LiveEvent.TextComplete("here") in seen


# -- cancellation -------------------------------------------------------------------------------


async def test_server_cancellation_stops_the_named_call_only() -> None:
    running = trio.Event()
    outcome: list[str] = []

    @tool
    async def wait_forever() -> str:
        """Never finishes on its own."""
        running.set()
        try:
            await trio.sleep_forever()
        finally:
            outcome.append("cancelled")
        return "unreachable"

    steps = (calls(("wait_forever", {}), ("add", {"a": 1, "b": 1})), Pause(30), Say("done"))
    config = text_config(wait_forever, add)
    async with LiveEmulator(scenario(*steps)).running() as emu:
        async with open_live_session(config, endpoint=emu.url) as handle:
            events = handle.events()
            await handle.send_text("go")
            await running.wait()
            await emu.connections[0].send(m.ToolCallCancellation(("c0",)))
            seen = await until(events, LiveEvent.ToolCancelled)
            await until(events, LiveEvent.ToolExecution)  # c1's answer went out
        conn = await closed(emu)
    assert seen[-1] == LiveEvent.ToolCancelled(("c0",))
    assert outcome == ["cancelled"]
    (answer,) = responses(conn)
    assert [r.id for r in answer] == ["c1"]  # the withdrawn call is not answered
    assert handle.tool_stats.cancelled_by_server == 1


async def test_barge_in_cancels_inline_calls_and_reports_them_once() -> None:
    running = trio.Event()
    outcome: list[str] = []

    @tool
    async def wait_forever() -> str:
        """Never finishes on its own."""
        running.set()
        try:
            await trio.sleep_forever()
        finally:
            outcome.append("cancelled")
        return "unreachable"

    emulator = LiveEmulator(scenario(calls(("wait_forever", {})), Say("done")))
    async with emulator.running() as emu:
        async with open_live_session(text_config(wait_forever), endpoint=emu.url) as handle:
            events = handle.events()
            await handle.send_text("go")
            await running.wait()
            await handle.send_text("never mind")  # a new turn interrupts the waiting reply
            seen = await until(events, LiveEvent.TurnComplete)  # the interrupted turn
            seen += await until(events, LiveEvent.TurnComplete)  # the answer to "never mind"
        conn = await closed(emu)
    cancelled = [e for e in seen if isinstance(e, LiveEvent.ToolCancelled)]
    # Reported once, by whichever came first: the barge-in or the server's withdrawal.
    assert [e.ids for e in cancelled] == [("c0",)]
    assert cancelled[0].reason in ("barge_in", "server")
    assert any(isinstance(e, LiveEvent.Interrupted) for e in seen)
    assert outcome == ["cancelled"]
    assert responses(conn) == []  # cancelled, not answered
    assert conn.errors == []


async def test_disconnect_with_hung_tools_is_bounded(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    entered = trio.Event()
    token = trio.lowlevel.current_trio_token()

    @tool
    def stuck() -> str:
        """A sync tool that ignores cancellation."""
        token.run_sync_soon(entered.set)
        release.wait(30)
        return "too late"

    @tool(background=True)
    async def forever() -> str:
        """A background tool that never ends."""
        await trio.sleep_forever()
        return "never"

    steps = (calls(("stuck", {}), ("forever", {})), Say("done"))
    caplog.set_level(logging.WARNING, logger="livehandle.tools")
    try:
        async with (
            LiveEmulator(scenario(*steps)).in_memory() as emu,
            open_live_session(
                text_config(stuck, forever), endpoint=emu.url, transport=emu.memory_transport()
            ) as handle,
        ):
            await handle.send_text("go")
            await entered.wait()
            assert set(handle._tools.running) == {"c0", "c1"}
            began = trio.current_time()
            await handle.disconnect()
            took = trio.current_time() - began
            assert handle._tools.running == ()  # disconnect() itself stopped every tool
    finally:
        release.set()  # let the abandoned thread finish
    assert took <= 1.0
    assert handle._tools.running == ()
    assert any("stuck" in r.getMessage() for r in caplog.records)


# -- background tools ---------------------------------------------------------------------------


def background_tool(scheduling: str, gate: trio.Event) -> object:
    @tool(name="book_table", background=True, scheduling=scheduling)
    async def book_table(when: str) -> dict[str, str]:
        """Book a restaurant table (slow)."""
        await gate.wait()
        return {"status": "booked", "when": when}

    return book_table


@pytest.mark.parametrize(
    ("scheduling", "model_reacts"),
    [("WHEN_IDLE", True), ("INTERRUPT", True), ("SILENT", False)],
)
async def test_background_tool_is_acknowledged_then_answered_with_its_scheduling(
    scheduling: str, model_reacts: bool
) -> None:
    gate = trio.Event()
    steps = (calls(("book_table", {"when": "8pm"})), Say("I am booking it"))
    config = text_config(background_tool(scheduling, gate))
    async with LiveEmulator(scenario(*steps)).running() as emu:
        async with open_live_session(config, endpoint=emu.url) as handle:
            seen = await ask(handle)  # the model goes on talking: it does not wait
            (ack,) = responses(emu.connections[0])[0]
            assert ack.response == {"status": "running", "tool": "book_table"}
            assert ack.scheduling == m.Scheduling.SILENT and ack.will_continue
            assert LiveEvent.TextComplete("I am booking it") in seen
            events = handle.events()
            gate.set()
            execution = (await until(events, LiveEvent.ToolExecution))[-1]
            if model_reacts:
                after = await until(events, LiveEvent.TurnComplete)
                said = [e.text for e in after if isinstance(e, LiveEvent.TextComplete)]
        conn = await closed(emu)
        declared = conn.setup.tools if conn.setup is not None else None
    assert isinstance(execution, LiveEvent.ToolExecution) and execution.background
    final = responses(conn)[-1][0]
    assert final.id == "c0" and final.scheduling == m.Scheduling[scheduling]
    assert final.response == {
        "status": "completed",
        "tool": "book_table",
        "result": {"status": "booked", "when": "8pm"},
    }
    assert not final.will_continue
    if model_reacts:
        assert said and "book_table finished" in said[0]
    assert declared is not None
    (declaration,) = declared[0].function_declarations or ()
    assert declaration.behavior == m.Behavior.NON_BLOCKING
    assert conn.errors == []


async def test_a_background_tool_on_vertex_is_answered_once_without_will_continue() -> None:
    # wire-protocol.md section 8: Vertex has no FunctionResponse.willContinue, and the emulator's
    # Vertex mode refuses it with 1007 as the server does; so there is no interim "running"
    # answer there, only the result, which the model still acts on.
    gate = trio.Event()
    steps = (calls(("book_table", {"when": "8pm"})), Say("I am booking it"))
    config = text_config(background_tool("WHEN_IDLE", gate))
    async with LiveEmulator(scenario(*steps)).running() as emu:
        endpoint = Endpoint.vertex(
            project="p", location="us-central1", token=lambda: "tok", base_url=emu.url
        )
        async with open_live_session(config, endpoint=endpoint) as handle:
            seen = await ask(handle)  # the model goes on talking: it does not wait
            assert LiveEvent.TextComplete("I am booking it") in seen
            assert responses(emu.connections[0]) == []  # no acknowledgement on Vertex
            events = handle.events()
            gate.set()
            execution = (await until(events, LiveEvent.ToolExecution))[-1]
            after = await until(events, LiveEvent.TurnComplete)
        conn = await closed(emu)
    assert conn.backend == "vertex"
    assert isinstance(execution, LiveEvent.ToolExecution) and execution.background
    ((final,),) = responses(conn)
    assert final.id == "c0" and final.scheduling == m.Scheduling.WHEN_IDLE
    assert final.will_continue is None
    assert final.response["result"] == {"status": "booked", "when": "8pm"}
    said = [e.text for e in after if isinstance(e, LiveEvent.TextComplete)]
    assert said and "book_table finished" in said[0]
    assert conn.errors == [] and conn.close_code != 1007


async def test_background_result_reports_a_failure_through_the_formatter() -> None:
    @tool(background=True)
    async def fragile() -> str:
        """Fails in the background."""
        raise RuntimeError("no tables left")

    async with (
        LiveEmulator(scenario(calls(("fragile", {})), Say("ok"))).running() as emu,
        open_live_session(text_config(fragile), endpoint=emu.url) as handle,
    ):
        events = handle.events()
        await handle.send_text("go")
        execution = (await until(events, LiveEvent.ToolExecution))[-1]
    assert isinstance(execution, LiveEvent.ToolExecution)
    assert execution.result == {
        "status": "error",
        "tool": "fragile",
        "error": "RuntimeError: no tables left",
    }


# -- hooks, manual mode, connection binding ------------------------------------------------------


async def test_on_tool_call_may_answer_and_before_tool_response_may_rewrite() -> None:
    seen_calls: list[str] = []

    async def on_tool_call(
        calls: tuple[m.FunctionCall, ...], state: State
    ) -> list[m.FunctionResponse] | None:
        seen_calls.extend(c.name for c in calls)
        if calls[0].name == "add":
            return None  # let the tool run
        return [m.FunctionResponse(c.name, {"output": "from the hook"}, id=c.id) for c in calls]

    def before(responses: list[m.FunctionResponse], state: State) -> list[m.FunctionResponse]:
        return [attrs.evolve(r, response={**r.response, "checked": True}) for r in responses]

    steps = (calls(("get_weather", {"city": "Oslo"})), calls(("add", {"a": 1, "b": 2})), Say("x"))
    config = text_config(get_weather, add, on_tool_call=on_tool_call, before_tool_response=before)
    async with (
        LiveEmulator(scenario(*steps)).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        await ask(handle)
        conn = emu.connections[0]
    assert seen_calls == ["get_weather", "add"]
    assert [[r.response for r in batch] for batch in responses(conn)] == [
        [{"output": "from the hook", "checked": True}],
        [{"output": 3, "checked": True}],
    ]


async def test_declared_functions_and_manual_mode_leave_calls_to_the_application() -> None:
    declared = m.Tool(function_declarations=(m.FunctionDeclaration("lookup"),))
    steps = (calls(("lookup", {}), ("mystery", {})), Say("{results}"))
    config = text_config(declared, manual_tools=True)
    async with (
        LiveEmulator(scenario(*steps)).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        events = handle.events()
        await handle.send_text("go")
        (call_event,) = [
            e for e in await until(events, LiveEvent.ToolCall) if isinstance(e, LiveEvent.ToolCall)
        ]
        await handle.send_tool_response(
            [
                m.FunctionResponse(c.name, {"output": c.name.upper()}, id=c.id)
                for c in call_event.calls
            ]
        )
        seen = await until(events, LiveEvent.TurnComplete)
        conn = emu.connections[0]
    assert len(responses(conn)) == 1  # only the application's answer
    assert LiveEvent.TextComplete("LOOKUP, MYSTERY") in seen
    assert handle.tool_stats.left_to_application == 2


async def test_answers_for_a_replaced_connection_are_dropped_and_reported() -> None:
    gate = trio.Event()
    running = trio.Event()

    @tool
    async def slow() -> str:
        """Finishes when the test says so."""
        running.set()
        await gate.wait()
        return "stale"

    async with LiveEmulator(scenario(calls(("slow", {})), Say("x"))).running() as emu:
        async with open_live_session(text_config(slow), endpoint=emu.url) as handle:
            events = handle.events()
            await handle.send_text("go")
            await running.wait()
            handle._session._connection_id += 1  # as after a reconnect
            gate.set()
            seen = await until(events, LiveEvent.Error)
        conn = await closed(emu)
    errors = [e for e in seen if isinstance(e, LiveEvent.Error)]
    error = errors[-1].error
    assert isinstance(error, StaleToolResponse)
    assert error.ids == ("c0",) and (error.issued_on, error.current) == (1, 2)
    assert responses(conn) == []
    assert handle.tool_stats.stale_dropped == 1


# -- regressions (issue 12, part 9) -------------------------------------------------------------


@asynccontextmanager
async def fail_after_minutes() -> AsyncIterator[None]:
    """Bound a mock-clock test: a defect that leaves something waiting fails it, not hangs."""
    with trio.fail_after(600):
        yield


async def test_a_cancellation_for_an_unseen_id_does_not_poison_a_later_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @tool
    async def plus(a: int, b: int) -> int:
        """Add two numbers (async: a worker thread would race the mock clock)."""
        return a + b

    async with (
        fail_after_minutes(),
        LiveEmulator(scenario(calls(("plus", {"a": 2, "b": 3})))).in_memory() as emu,
        open_live_session(
            text_config(plus), endpoint=emu.url, transport=emu.memory_transport()
        ) as handle,
    ):
        events = handle.events()
        # The server withdraws a call the client has never seen ("c0", the id the next call
        # will have): nothing is running, so this must change nothing.
        await emu.connections[0].send(m.ToolCallCancellation(("c0",)))
        await handle.send_text("go")
        seen = await until(events, LiveEvent.TurnComplete)
        phase = handle.phase()
        memory = (handle._tools._server_cancelled, handle._tools._reported)
        conn = emu.connections[0]
    (answer,) = responses(conn)
    assert [(r.id, r.response) for r in answer] == [("c0", {"output": 5})]
    executions = [e for e in seen if isinstance(e, LiveEvent.ToolExecution)]
    assert [e.id for e in executions] == ["c0"]
    assert not any(isinstance(e, LiveEvent.ToolCancelled) for e in seen)
    assert phase.value in ("active", "model_speaking")
    assert memory == ({}, {})
    stats = handle.tool_stats
    assert (stats.calls, stats.answered, stats.cancelled_by_server) == (1, 1, 0)
    assert stats.ignored_cancellations == 1


async def test_cancelled_ids_are_remembered_only_while_their_call_is_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    running = trio.Event()

    @tool
    async def wait_forever() -> str:
        """Never finishes on its own."""
        running.set()
        await trio.sleep_forever()
        return "unreachable"

    async with (
        fail_after_minutes(),
        LiveEmulator(scenario(calls(("wait_forever", {})))).in_memory() as emu,
        open_live_session(
            text_config(wait_forever), endpoint=emu.url, transport=emu.memory_transport()
        ) as handle,
    ):
        events = handle.events()
        conn = emu.connections[0]
        for n in range(200):  # ids of nothing: not one is remembered
            await conn.send(m.ToolCallCancellation((f"ghost{n}",)))
        await handle.send_text("go")
        await running.wait()
        await conn.send(m.ToolCallCancellation(("c0",)))
        seen = await until(events, LiveEvent.ToolCancelled)
        await trio.testing.wait_all_tasks_blocked()  # the cancelled tool has unwound
        assert handle._tools.running == ()
        memory = (handle._tools._server_cancelled, handle._tools._reported)
    assert seen[-1] == LiveEvent.ToolCancelled(("c0",))  # a call in flight: reported
    assert memory == ({}, {})  # and forgotten once it ended
    assert handle.tool_stats.ignored_cancellations == 200
    assert handle.tool_stats.cancelled_by_server == 1
    assert responses(conn) == []


async def test_a_drop_during_a_tool_counts_each_call_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from livehandle._errors import ConnectionLost
    from livehandle._runtime.dispatch import ToolStats
    from livehandle.testing import Fault

    running = trio.Event()

    @tool
    async def slow() -> str:
        """Takes far longer than the connection lasts."""
        running.set()
        await trio.sleep(3600)
        return "late"

    async with (
        fail_after_minutes(),
        LiveEmulator(scenario(calls(("slow", {})), Say("x"))).in_memory() as emu,
        open_live_session(
            text_config(slow), endpoint=emu.url, transport=emu.memory_transport()
        ) as handle,
    ):
        await handle.send_text("go")
        await running.wait()
        await emu.connections[0].fault(Fault("drop"))
        with pytest.raises(ConnectionLost) as caught:
            await handle.done()
    assert caught.value.code == 1006
    assert handle.tool_stats == ToolStats(calls=1, cancelled_by_disconnect=1)


async def test_a_call_left_to_the_application_is_cancellable_until_the_turn_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    declared = m.Tool(function_declarations=(m.FunctionDeclaration("lookup"),))
    config = text_config(declared, manual_tools=True)
    async with (
        fail_after_minutes(),
        LiveEmulator(scenario(calls(("lookup", {})), Say("ok"))).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        conn = emu.connections[0]
        await handle.send_text("go")
        await until(events, LiveEvent.ToolCall)
        await trio.testing.wait_all_tasks_blocked()  # the dispatcher left it to us
        await conn.send(m.ToolCallCancellation(("c0",)))
        seen = await until(events, LiveEvent.ToolCancelled)
        await handle.send_tool_response([m.FunctionResponse("lookup", {"output": 1}, id="c0")])
        await until(events, LiveEvent.TurnComplete)
        memory = (handle._tools._server_cancelled, handle._tools._reported)
    assert seen[-1] == LiveEvent.ToolCancelled(("c0",))  # the application learns of it
    assert memory == ({}, {})  # forgotten at the end of the turn
    assert handle.tool_stats.ignored_cancellations == 0
