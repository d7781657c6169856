"""Without a flow, a flow naming an unknown tool, and a flow carried over by persistence."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehandle import (
    Flow,
    FlowError,
    LiveConfig,
    LiveEvent,
    MemoryStore,
    SessionError,
    Step,
    StepEntry,
    called_ok,
    is_set,
)
from tests.flow_session.helpers import Booking, ask, config, of, session, tool_answers

if TYPE_CHECKING:
    from trio.testing import MockClock


async def test_without_a_flow_explain_is_none_and_digress_raises(autojump_clock: MockClock) -> None:
    booking = Booking()
    async with session(config(booking), booking) as (emu, handle):
        events = handle.events()
        assert handle.explain() is None and handle.why_blocked() is None
        with pytest.raises(SessionError, match=r"LiveConfig\(flow=\.\.\.\)"):
            handle.digress(Flow([Step("side")], name="side"))
        seen = await ask(handle, events, "book")  # no gate: the call runs
        assert handle.state.get("flow:active") is None
    assert booking.ran == ["book"]
    assert not of(LiveEvent.FlowViolation, seen) and not of(LiveEvent.StepEntered, seen)
    del emu


def test_a_flow_naming_an_unknown_tool_is_refused_naming_the_step() -> None:
    booking = Booking()
    flow = Flow([Step("collect", allow=["set_city"]), Step("pay", allow=["charge_card"])])
    with pytest.raises(FlowError) as caught:
        LiveConfig(tools=list(booking.tools), flow=flow)
    assert caught.value.kind == "unknown_tool" and caught.value.step == "pay"
    assert "'pay'" in str(caught.value) and "charge_card" in str(caught.value)


def test_an_unknown_mode_is_refused() -> None:
    flow = Flow([Step("only")])
    with pytest.raises(ValueError, match="flow_mode"):
        LiveConfig(flow=flow, flow_mode="lenient")


async def test_a_restored_session_continues_the_marking(autojump_clock: MockClock) -> None:
    fired: list[str] = []

    def note_entry(entry: StepEntry) -> None:
        fired.append(entry.step)

    flow = Flow(
        [
            Step("greet", on_enter=note_entry, done=is_set("greeted")),
            Step("collect", after=["greet"], on_enter=note_entry, done=called_ok("set_city")),
            Step("book", after=["collect"], on_enter=note_entry, allow=["book"]),
        ]
    )
    booking = Booking()
    store = MemoryStore()
    cfg = config(booking, flow=flow)
    async with session(cfg, booking, session_id="call-7", store=store) as (_, handle):
        events = handle.events()
        handle.state.set("greeted", True)
        first = await ask(handle, events, "hello")
    assert fired == ["greet", "collect"]
    async with session(cfg, booking, session_id="call-7", store=store) as (_, handle):
        events = handle.events()
        restored = handle.explain()
        start = await ask(handle, events, "hi again")
        assert fired == ["greet", "collect"]  # neither entered again
        second = await ask(handle, events, "paris")
        marking = handle.state.get("flow:marking")["main"]
    assert [e.step for e in of(LiveEvent.StepEntered, first)] == ["greet", "collect"]
    assert of(LiveEvent.Restored, start)
    assert restored is not None
    assert restored.done == ("greet",) and restored.active == ("collect",)
    assert not of(LiveEvent.StepEntered, start)
    assert [e.step for e in of(LiveEvent.StepEntered, second)] == ["book"]
    assert fired == ["greet", "collect", "book"]
    assert marking["done"] == ["greet", "collect"]
    assert marking["tool_ok"] == {"set_city": 1}
    assert marking["turns"] == 3  # one turn before, two after the restore


async def test_a_terminated_flow_stays_terminated_when_restored(autojump_clock: MockClock) -> None:
    main = Flow([Step("collect", allow=["set_city"], done=is_set("never"))])
    side = Flow([Step("bye", allow=["note"], done=called_ok("note"))], name="bye")
    booking = Booking()
    store = MemoryStore()
    cfg = config(booking, flow=main)
    async with session(cfg, booking, session_id="call-8", store=store) as (_, handle):
        events = handle.events()
        handle.digress(side, then="terminate")
        await ask(handle, events, "note")
        assert handle.state.get("flow:terminated") is True
    async with session(cfg, booking, session_id="call-8", store=store) as (emu, handle):
        events = handle.events()
        explained = handle.explain()
        await ask(handle, events, "paris")
    assert explained is not None and explained.terminated and explained.allowed_tools == ()
    reason = "'set_city' is not available: the conversation flow was terminated"
    assert tool_answers(emu)[-1] == ("set_city", {"error": reason})
    assert booking.ran == ["note"]


async def test_a_marking_of_another_flow_is_not_taken_up(autojump_clock: MockClock) -> None:
    before = Flow([Step("a1", done=is_set("go")), Step("a2", after=["a1"])])
    after = Flow([Step("b1", done=is_set("never")), Step("b2", after=["b1"])])
    booking = Booking()
    store = MemoryStore()
    async with session(config(booking, flow=before), booking, session_id="c9", store=store) as (
        _,
        handle,
    ):
        events = handle.events()
        handle.state.set("go", True)
        await ask(handle, events, "hello")
        assert handle.state.get("flow:done") == ["a1"]
    cfg = config(booking, flow=after)  # the flow changed between the two sessions
    async with session(cfg, booking, session_id="c9", store=store) as (_, handle):
        events = handle.events()
        seen = await ask(handle, events, "hello")
        explained = handle.explain()
        done_, active = handle.state.get("flow:done"), handle.state.get("flow:active")
    assert explained is not None and explained.active == ("b1",) and explained.done == ()
    assert [e.step for e in of(LiveEvent.StepEntered, seen)] == ["b1"]
    assert (done_, active) == ([], ["b1"])


async def test_digress_refuses_what_cannot_be_a_digression(autojump_clock: MockClock) -> None:
    booking = Booking()
    main = Flow([Step("talk", done=is_set("never"))])
    async with session(config(booking, flow=main), booking) as (_, handle):
        with pytest.raises(FlowError) as caught:
            handle.digress(Flow([Step("pay", allow=["charge_card"])], name="pay"))
        assert caught.value.kind == "unknown_tool" and caught.value.step == "pay"
        with pytest.raises(ValueError, match="later"):
            handle.digress(Flow([Step("x")], name="x"), then="later")
        with pytest.raises(TypeError):
            handle.digress("faq")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="main"):
            handle.digress(Flow([Step("x")]))  # named "main", like the flow it would cover
        explained = handle.explain()
    assert explained is not None and explained.stack == ("main",)  # nothing was pushed
