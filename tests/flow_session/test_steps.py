"""Steps at work in a session: the flow's keys in the state, StepEntered, on_enter actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from livehandle import (
    Flow,
    FlowActionFailed,
    FlowGuardFailed,
    LiveEvent,
    Step,
    StepAction,
    StepEntry,
    TurnStepTimeout,
    custom,
    is_set,
    resolved,
)
from livehandle._runtime.flow import GUIDANCE_HEADER
from livehandle.testing import Pause, Rule, Say, Scenario, When
from tests.flow_session.helpers import Booking, ask, client_turns, config, of, session
from tests.testing.helpers import until

if TYPE_CHECKING:
    from trio.testing import MockClock


def entered(events: list[LiveEvent]) -> list[str]:
    return [e.step for e in of(LiveEvent.StepEntered, events)]


def errors(events: list[LiveEvent], kind: type) -> list[Any]:
    return [e.error for e in of(LiveEvent.Error, events) if isinstance(e.error, kind)]


async def test_the_state_carries_active_done_and_the_marking_and_each_step_is_entered_once(
    autojump_clock: MockClock,
) -> None:
    flow = Flow(
        [
            Step("greet", done=is_set("greeted")),
            Step("collect", after=["greet"], allow=["set_city"], done=is_set("city")),
            Step("book", after=["collect"], allow=["book"]),
        ]
    )
    booking = Booking()
    async with session(config(booking, flow=flow), booking) as (_, handle):
        events = handle.events()
        assert handle.state.get("flow:active") == ["greet"]
        assert handle.state.get("flow:done") == []
        handle.state.set("greeted", True)
        first = await ask(handle, events, "hello")
        assert handle.state.get("flow:active") == ["collect"]
        second = await ask(handle, events, "paris")
        third = await ask(handle, events, "hello")
        marking = handle.state.get("flow:marking")["main"]
        active, done_ = handle.state.get("flow:active"), handle.state.get("flow:done")
    assert isinstance(first[0], LiveEvent.Connected)
    assert entered(first) == ["greet", "collect"]  # greet at the start, after Connected
    kinds = [type(e).__name__ for e in first]
    assert kinds.index("Connected") < kinds.index("StepEntered")
    assert entered(second) == ["book"] and entered(third) == []
    assert active == ["book"] and done_ == ["greet", "collect"]
    assert marking["done"] == ["greet", "collect"]
    assert marking["tool_ok"] == {"set_city": 1}
    assert marking["turns"] == 3


async def test_an_inline_action_writes_its_result_and_a_resolved_guard_then_progresses(
    autojump_clock: MockClock,
) -> None:
    seen_entries: list[tuple[str, str]] = []

    async def look_up(entry: StepEntry) -> dict[str, int]:
        seen_entries.append((entry.step, entry.flow))
        await trio.sleep(1)
        entry.add_context("The price is 12.")
        return {"price": 12}

    flow = Flow(
        [
            Step("lookup", on_enter=look_up, done=resolved("lookup")),
            Step("quote", after=["lookup"], posture="Quote the price.", done=is_set("never")),
        ]
    )
    booking = Booking()
    async with session(config(booking, flow=flow), booking) as (emu, handle):
        events = handle.events()
        assert handle.state.get("lookup:result") == {"price": 12}  # awaited at the start
        # ... and the step it resolves is done at that same boundary: the next one is entered
        assert handle.state.get("flow:marking")["main"]["done"] == ["lookup"]
        assert handle.state.get("flow:active") == ["quote"]
        assert any("Quote the price." in text for text, _ in client_turns(emu))
        seen = await ask(handle, events, "hello")
        assert handle.state.get("flow:done") == ["lookup"]
        assert handle.state.get("flow:active") == ["quote"]
        sent = client_turns(emu)
    assert seen_entries == [("lookup", "main")]  # once
    assert entered(seen) == ["lookup", "quote"]
    # the action's context and the next step's posture, in one clientContent before the user
    assert sent[0] == (f"The price is 12. {GUIDANCE_HEADER}\nQuote the price.", False)
    assert sent[1] == ("hello", True)


LONG = Scenario(rules=[Rule(When(text="story"), [Say("Once"), Pause(60), Say("the end")])])


async def test_a_spawned_action_belongs_to_the_turn_and_a_barge_in_cancels_it(
    autojump_clock: MockClock,
) -> None:
    started = trio.Event()
    outcome: list[str] = []

    async def wait(entry: StepEntry) -> None:
        started.set()
        try:
            await trio.sleep_forever()
        finally:
            outcome.append("cancelled")

    flow = Flow([Step("talk", on_enter=StepAction(wait, mode="spawn", timeout=600))])
    booking = Booking()
    async with session(config(booking, flow=flow), booking, LONG) as (_, handle):
        events = handle.events()
        await started.wait()
        await handle.send_text("tell me a story")
        await until(events, LiveEvent.TextDelta)
        await handle.send_text("stop")  # the user barges in
        seen = await until(events, LiveEvent.Interrupted)
        assert outcome == ["cancelled"]
        seen += await until(events, LiveEvent.TurnComplete)
    assert errors(seen, FlowActionFailed) == []  # a cancellation is not a failure


async def test_a_background_action_runs_on_and_writes_its_result(autojump_clock: MockClock) -> None:
    release = trio.Event()

    async def slow(entry: StepEntry) -> str:
        await release.wait()
        return "fetched"

    flow = Flow(
        [
            Step("fetch", on_enter=StepAction(slow, mode="background"), done=resolved("fetch")),
            Step("use", after=["fetch"]),
        ]
    )
    booking = Booking()
    async with session(config(booking, flow=flow), booking, LONG) as (_, handle):
        events = handle.events()
        await handle.send_text("tell me a story")
        await until(events, LiveEvent.TextDelta)
        await handle.send_text("stop")  # a barge-in does not touch a background action
        await until(events, LiveEvent.Interrupted)
        await until(events, LiveEvent.TurnComplete)
        assert handle.state.get("fetch:result") is None
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert handle.state.get("fetch:result") == "fetched"
        seen = await until(events, LiveEvent.TurnComplete)  # the answer to "stop"
        seen += await ask(handle, events, "hello")
    assert entered(seen) == ["use"]  # relatched at a boundary after the result arrived


def boom(entry: StepEntry) -> None:
    raise RuntimeError("no database")


async def too_slow(entry: StepEntry) -> None:
    await trio.sleep(10)


def not_json(entry: StepEntry) -> object:
    return object()


@pytest.mark.parametrize(
    ("action", "cause"),
    [
        (StepAction(boom), RuntimeError),
        (StepAction(too_slow, timeout=2.0), TimeoutError),
        (StepAction(not_json), TypeError),
        (StepAction(boom, mode="spawn"), RuntimeError),
        (StepAction(too_slow, mode="background", timeout=2.0), TimeoutError),
    ],
)
async def test_a_failing_action_is_reported_and_the_session_goes_on(
    autojump_clock: MockClock, action: StepAction, cause: type
) -> None:
    flow = Flow(
        [Step("first", on_enter=action, done=is_set("go")), Step("second", after=["first"])]
    )
    booking = Booking()
    async with session(config(booking, flow=flow), booking) as (_, handle):
        events = handle.events()
        await trio.sleep(5)  # past the action's timeout
        handle.state.set("go", True)
        seen = await ask(handle, events, "hello")
        later = await ask(handle, events, "again")
    (error,) = errors(seen, FlowActionFailed)
    assert error.step == "first"
    assert type(error.__cause__) is cause
    assert entered(seen) == ["first", "second"]  # the flow went on
    assert of(LiveEvent.TurnComplete, later)  # so did the session


async def test_a_raising_custom_guard_is_reported_once_and_does_not_hold(
    autojump_clock: MockClock,
) -> None:
    def flaky(state: object) -> bool:
        raise KeyError("nope")

    flow = Flow(
        [
            Step("ask", allow=["note"], done=custom(flaky, "the answer is known")),
            Step("after", after=["ask"]),
        ]
    )
    booking = Booking()
    async with session(config(booking, flow=flow), booking) as (_, handle):
        events = handle.events()
        for _ in range(3):
            explained = handle.explain()  # evaluates the guard each time
            assert explained is not None and explained.active == ("ask",)
        seen = await ask(handle, events, "note")
        seen += await ask(handle, events, "hello")
    (error,) = errors(seen, FlowGuardFailed)
    assert error.guard == "the answer is known"
    assert isinstance(error.__cause__, KeyError)
    assert "after" not in entered(seen)  # a guard that raises does not hold


async def test_an_inline_action_past_the_step_bound_fails_alone_and_the_boundary_completes(
    autojump_clock: MockClock,
) -> None:
    async def forever(entry: StepEntry) -> None:
        await trio.sleep_forever()

    flow = Flow(
        [
            Step("first", done=is_set("go")),
            Step("second", after=["first"], posture="Second.", on_enter=forever),
            Step("third", after=["first"], posture="Third."),
        ]
    )
    booking = Booking()
    cfg = config(booking, flow=flow, turn_step_timeout=5.0)  # the action has no timeout of its own
    async with session(cfg, booking) as (emu, handle):
        events = handle.events()
        handle.state.set("go", True)
        began = trio.current_time()
        seen = await ask(handle, events, "hello")
        took = trio.current_time() - began
        active = handle.state.get("flow:active")
        sent = client_turns(emu)
    (error,) = errors(seen, FlowActionFailed)
    assert error.step == "second" and isinstance(error.__cause__, TimeoutError)
    assert errors(seen, TurnStepTimeout) == []  # the flow step itself finished in its bound
    assert entered(seen) == ["first", "second", "third"]  # no StepEntered lost
    assert active == ["second", "third"]
    assert sent[-1] == (f"{GUIDANCE_HEADER}\nSecond.\nThird.", False)  # delivered at once
    assert took < 5.0


async def test_an_action_asking_for_a_prompt_makes_the_model_speak_first(
    autojump_clock: MockClock,
) -> None:
    def greet(entry: StepEntry) -> None:
        entry.add_context("Greet the caller by name: Ada.", prompt=True)

    flow = Flow([Step("greet", on_enter=greet, done=is_set("never"))])
    booking = Booking()
    async with session(config(booking, flow=flow), booking) as (emu, handle):
        events = handle.events()
        seen = await until(events, LiveEvent.TurnComplete)  # nobody said anything
        sent = client_turns(emu)
    assert sent == [("Greet the caller by name: Ada.", False), ("", True)]
    assert entered(seen) == ["greet"]
    assert of(LiveEvent.TextComplete, seen)  # the model answered the prompt
