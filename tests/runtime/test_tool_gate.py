"""The tool gate seam: a governing flow screens every call before anything else sees it.

A fake gate stands in for the flow runtime; it is plugged in where the lead's wiring will plug
the real one (``assemble_live_handle(gate=...)``).  Sessions run on the in-memory emulator.
"""

from __future__ import annotations

import functools
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import pytest
import trio

import livehandle._open
from livehandle._assemble import assemble_live_handle
from livehandle._config.live import LiveConfig
from livehandle._errors import ToolHookFailed
from livehandle._events import LiveEvent
from livehandle._open import open_live_session
from livehandle._runtime.answers import Answer, Screened, response_to, with_refusals
from livehandle._runtime.gate import is_success
from livehandle._tools.declare import tool
from livehandle._wire import messages as m
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When
from tests.testing.helpers import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle._handle import LiveHandle
    from livehandle._state import State
    from livehandle.testing import EmulatorConnection


@attrs.define
class FakeGate:
    """Refuses the tools named in ``refuse`` (with their reason); records what it was told."""

    refuse: dict[str, str] = attrs.field(factory=dict)
    checked: list[tuple[str, str | None]] = attrs.field(factory=list)
    successes: list[str] = attrs.field(factory=list)
    ended: list[str] = attrs.field(factory=list)

    def check(self, name: str, call_id: str | None) -> str | None:
        self.checked.append((name, call_id))
        return self.refuse.get(name)

    def succeeded(self, name: str) -> None:
        self.successes.append(name)

    def finished(self, name: str) -> None:
        self.ended.append(name)


def calls(*names: str) -> CallTools:
    return CallTools(
        [ToolCallSpec(name, ARGS.get(name, {}), id=f"c{i}") for i, name in enumerate(names)]
    )


ARGS: dict[str, dict[str, object]] = {"add": {"a": 2, "b": 3}, "weather": {"city": "Oslo"}}


def text_config(*tools: object, **settings: object) -> LiveConfig:
    return LiveConfig(response_modality="TEXT", tools=tools, **settings)  # type: ignore[arg-type]


def answers(conn: EmulatorConnection) -> list[list[m.FunctionResponse]]:
    return [list(r.function_responses) for r in conn.messages(m.ToolResponse)]


@asynccontextmanager
async def governed(
    monkeypatch: pytest.MonkeyPatch, gate: FakeGate, config: LiveConfig, *steps: object
) -> AsyncIterator[tuple[LiveHandle, EmulatorConnection]]:
    """A session on the in-memory emulator whose tool dispatcher consults ``gate``."""
    monkeypatch.setattr(
        livehandle._open, "assemble_live_handle", functools.partial(assemble_live_handle, gate=gate)
    )
    rules = Scenario(rules=[Rule(When(text="go"), list(steps))])  # type: ignore[arg-type]
    async with (
        LiveEmulator(rules).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        yield handle, emu.connections[0]  # connected before the session is yielded


async def ask(handle: LiveHandle) -> list[LiveEvent]:
    events = handle.events()
    await handle.send_text("go")
    with trio.fail_after(10):
        return await until(events, LiveEvent.TurnComplete)


# -- tools ----------------------------------------------------------------------------------------

ran: list[str] = []


@tool
async def book() -> str:
    """Books (records that its body was entered)."""
    ran.append("book")
    return "booked"


@tool
async def add(a: int, b: int) -> int:
    """Adds."""
    ran.append("add")
    return a + b


@tool
async def weather(city: str) -> dict[str, object]:
    """The weather."""
    ran.append("weather")
    return {"city": city, "sky": "clear"}


@tool
async def explode() -> str:
    """Always fails."""
    raise ValueError("boom")


@tool(timeout=1.0)
async def slow() -> str:
    """Never finishes in time."""
    await trio.sleep(5)
    return "late"


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    ran.clear()


NOT_YET = "'book' is not permitted yet"


# -- refusals -------------------------------------------------------------------------------------


async def test_a_refused_call_is_answered_with_the_reason_and_its_tool_never_runs(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    gate = FakeGate(refuse={"book": NOT_YET})
    config = text_config(book, add, weather)
    steps = (calls("weather", "book", "add"), Say("{results}"))
    async with governed(monkeypatch, gate, config, *steps) as (handle, conn):
        seen = await ask(handle)
    assert "book" not in ran and sorted(ran) == ["add", "weather"]
    assert gate.checked == [("weather", "c0"), ("book", "c1"), ("add", "c2")]
    ((first, second, third),) = answers(conn)  # one toolResponse, in the calls' order
    assert (first.id, second.id, third.id) == ("c0", "c1", "c2")
    assert second.response == {"error": NOT_YET}
    assert third.response == {"output": 5}
    executions = [e for e in seen if isinstance(e, LiveEvent.ToolExecution)]
    assert [(e.name, e.id) for e in executions] == [
        ("weather", "c0"),
        ("book", "c1"),
        ("add", "c2"),
    ]
    assert executions[1].result == {"error": NOT_YET}
    (shown,) = [e for e in seen if isinstance(e, LiveEvent.ToolCall)]
    assert [c.id for c in shown.calls] == ["c0", "c2"]  # the refused call is never shown
    assert gate.successes == ["weather", "add"]
    assert handle.tool_stats.refused == 1 and handle.tool_stats.answered == 3


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("book", "add", "book"), [{"error": NOT_YET}, {"output": 5}, {"error": NOT_YET}]),
        (("add", "book", "book"), [{"output": 5}, {"error": NOT_YET}, {"error": NOT_YET}]),
        (("book", "book"), [{"error": NOT_YET}, {"error": NOT_YET}]),
    ],
)
async def test_refusals_keep_their_place_among_the_answers(
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: object,
    names: tuple[str, ...],
    expected: list[dict[str, object]],
) -> None:
    gate = FakeGate(refuse={"book": NOT_YET})
    async with governed(monkeypatch, gate, text_config(book, add), calls(*names), Say("ok")) as (
        handle,
        conn,
    ):
        seen = await ask(handle)
    ((*answered,),) = answers(conn)
    assert [a.response for a in answered] == expected
    assert [a.id for a in answered] == [f"c{i}" for i in range(len(names))]
    assert "book" not in ran
    if "add" not in names:  # every call refused: nothing to show the application
        assert not any(isinstance(e, LiveEvent.ToolCall) for e in seen)


def test_refusals_go_before_the_first_answer_to_a_later_call() -> None:
    calls_ = tuple(m.FunctionCall(name=n, id=f"c{i}") for i, n in enumerate("abcd"))
    screened = Screened(calls_, {0: "no a", 2: "no c"})
    invented = m.FunctionCall(name="x", id="zz")  # a hook's answer to no call of the message
    given = [Answer(c, response_to(c, {"output": c.name})) for c in (calls_[3], calls_[1])]
    given.append(Answer(invented, response_to(invented, {})))
    merged = with_refusals(screened, given)
    # The answers keep their own order (d before b); each refusal goes before the first
    # answer to a later call.
    assert [a.call.id for a in merged] == ["c0", "c2", "c3", "c1", "zz"]
    assert merged[1].response.response == {"error": "no c"}
    assert screened.admitted == (calls_[1], calls_[3])


async def test_the_on_tool_call_hook_never_sees_a_refused_call(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    hooked: list[list[str | None]] = []

    def on_tool_call(
        calls_: tuple[m.FunctionCall, ...], state: State
    ) -> list[m.FunctionResponse] | None:
        hooked.append([c.id for c in calls_])
        if calls_[0].name == "weather":  # the hook answers these itself
            return [m.FunctionResponse(c.name, {"output": "hooked"}, id=c.id) for c in calls_]
        return None

    gate = FakeGate(refuse={"book": NOT_YET})
    config = text_config(book, add, weather, on_tool_call=on_tool_call)
    steps = (calls("book", "add"), calls("weather", "book"), calls("book"), Say("ok"))
    async with governed(monkeypatch, gate, config, *steps) as (handle, conn):
        await ask(handle)
    assert hooked == [["c1"], ["c0"]]  # never "book", and not at all for the third message
    assert [[a.response for a in batch] for batch in answers(conn)] == [
        [{"error": NOT_YET}, {"output": 5}],
        [{"output": "hooked"}, {"error": NOT_YET}],
        [{"error": NOT_YET}],
    ]
    assert gate.successes == ["add", "weather"]  # the hook's answer counts as a success
    assert ran == ["add"]


async def test_a_gate_that_raises_refuses_the_call_and_is_reported(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    class Broken(FakeGate):
        def check(self, name: str, call_id: str | None) -> str | None:
            raise KeyError(name)

    async with governed(monkeypatch, Broken(), text_config(add), calls("add"), Say("ok")) as (
        handle,
        conn,
    ):
        seen = await ask(handle)
    ((answer,),) = answers(conn)
    assert "could not be checked" in answer.response["error"]
    assert ran == []
    errors = [e.error for e in seen if isinstance(e, LiveEvent.Error)]
    assert any(isinstance(e, ToolHookFailed) for e in errors)


# -- calls left to the application ----------------------------------------------------------------


async def test_the_application_is_never_left_a_refused_call_and_its_answers_count(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    declared = m.Tool(
        function_declarations=(m.FunctionDeclaration("lookup"), m.FunctionDeclaration("pay"))
    )
    gate = FakeGate(refuse={"pay": "'pay' is not available in the current step"})
    config = text_config(declared)
    steps = (calls("pay", "lookup"), Say("{results}"), calls("lookup"), Say("{results}"))
    async with governed(monkeypatch, gate, config, *steps) as (handle, conn):
        events = handle.events()
        await handle.send_text("go")
        with trio.fail_after(10):
            (first,) = [
                e
                for e in await until(events, LiveEvent.ToolCall)
                if isinstance(e, LiveEvent.ToolCall)
            ]
            assert [c.name for c in first.calls] == ["lookup"]  # "pay" is never shown
            await handle.send_tool_response([m.FunctionResponse("lookup", {"output": 1}, id="c1")])
            (second,) = [
                e
                for e in await until(events, LiveEvent.ToolCall)
                if isinstance(e, LiveEvent.ToolCall)
            ]
            # An answer reporting an error is not a success.
            await handle.send_tool_response(
                [m.FunctionResponse("lookup", {"error": "not found"}, id=second.calls[0].id)]
            )
            await until(events, LiveEvent.TurnComplete)
    refusal = m.FunctionResponse(
        "pay", {"error": "'pay' is not available in the current step"}, id="c0"
    )
    assert [refusal] in answers(conn)  # its own message: the application answers the rest
    assert len(answers(conn)) == 3
    assert gate.successes == ["lookup"]
    assert handle.tool_stats.left_to_application == 2 and handle.tool_stats.refused == 1


# -- background tools -----------------------------------------------------------------------------


async def test_a_refused_background_call_is_answered_at_once_and_never_started(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    @tool(background=True)
    async def reserve() -> str:
        """Reserves in the background."""
        ran.append("reserve")
        return "reserved"

    gate = FakeGate(refuse={"reserve": "'reserve' may run at most once"})
    async with governed(monkeypatch, gate, text_config(reserve), calls("reserve"), Say("ok")) as (
        handle,
        conn,
    ):
        await ask(handle)
    assert answers(conn) == [
        [m.FunctionResponse("reserve", {"error": "'reserve' may run at most once"}, id="c0")]
    ]  # no "running" acknowledgement: the refusal is the one answer
    assert ran == [] and gate.successes == []
    assert handle.tool_stats.background_running == 0


async def test_an_admitted_background_call_succeeds_once_with_its_result_not_its_ack(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    release = trio.Event()

    @tool(background=True)
    async def reserve() -> str:
        """Reserves in the background."""
        await release.wait()
        return "reserved"

    gate = FakeGate()
    async with governed(monkeypatch, gate, text_config(reserve), calls("reserve"), Say("ok")) as (
        handle,
        conn,
    ):
        await ask(handle)
        ((ack,),) = answers(conn)
        assert ack.will_continue and gate.successes == []  # an acknowledgement is not final
        events = handle.events()
        release.set()
        with trio.fail_after(10):
            await until(events, LiveEvent.ToolExecution)
    assert gate.successes == ["reserve"]


# -- what counts as a success ---------------------------------------------------------------------


async def test_only_final_answers_without_an_error_count_as_successes(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    gate = FakeGate()
    config = text_config(add, explode, slow, weather)
    steps = (calls("explode", "slow", "add"), calls("weather", "nosuch"), Say("ok"))
    async with governed(monkeypatch, gate, config, *steps) as (handle, conn):
        await ask(handle)
    first, second = answers(conn)
    assert "error" in first[0].response and "error" in first[1].response  # raised, timed out
    assert "error" in second[1].response  # unknown tool
    assert gate.successes == ["add", "weather"]


def test_is_success_needs_a_final_answer_without_an_error_key() -> None:
    assert is_success(m.FunctionResponse("t", {"output": {"error": "nested is fine"}}))
    assert not is_success(m.FunctionResponse("t", {"error": "no"}))
    assert not is_success(m.FunctionResponse("t", {"status": "running"}, will_continue=True))
