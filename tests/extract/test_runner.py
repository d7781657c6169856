"""ExtractionRunner: which extractors are due, running them concurrently, applying results."""

from __future__ import annotations

from collections.abc import Sequence  # noqa: TC003 (hints resolved at run time)
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    ExtractionFailed,
    ExtractionTrigger,
    LiveEvent,
    Promotion,
    State,
    TranscriptTurn,
    TriggerKind,
    extractor,
)
from livehandle._extract.runner import ExtractionRunner

TURNS = [TranscriptTurn(i, f"user {i}", f"model {i}") for i in range(1, 6)]
BOUNDARY = TriggerKind.EVERY_TURN


def window_of(size: int) -> list[TranscriptTurn]:
    return TURNS[-size:]


@attrs.frozen
class Booking:
    name: str | None = None
    party_size: int | None = None


def returning(name: str, value: Any, **options: Any) -> Any:
    async def fn(turns: Sequence[TranscriptTurn]) -> Any:
        return value

    return extractor(name=name, **options)(fn)


# -- due --------------------------------------------------------------------------------------


def make_runner() -> tuple[ExtractionRunner, dict[str, Any]]:
    by_name = {
        "every": returning("every", 1),
        "third": returning("third", 1, trigger=ExtractionTrigger.every(3)),
        "tool": returning("tool", 1, trigger=ExtractionTrigger.AFTER_TOOL_CALL),
        "generation": returning("generation", 1, trigger=ExtractionTrigger.GENERATION_COMPLETE),
    }
    return ExtractionRunner(by_name.values()), by_name


def names(items: Sequence[Any]) -> list[str]:
    return [item.name for item in items]


def test_every_turn_is_due_at_every_boundary() -> None:
    runner, _ = make_runner()
    for turn in (1, 2, 7):
        assert "every" in names(runner.due(BOUNDARY, turn, False))


def test_interval_is_due_at_multiples_counting_from_one() -> None:
    runner, _ = make_runner()
    due_at = [turn for turn in range(10) if "third" in names(runner.due(BOUNDARY, turn, False))]
    assert due_at == [3, 6, 9]


def test_after_tool_call_is_due_only_after_a_tool_call() -> None:
    runner, _ = make_runner()
    assert "tool" not in names(runner.due(BOUNDARY, 1, False))
    assert "tool" in names(runner.due(BOUNDARY, 1, True))


def test_generation_complete_only_at_that_moment_and_alone() -> None:
    runner, _ = make_runner()
    assert "generation" not in names(runner.due(BOUNDARY, 3, True))
    assert names(runner.due(TriggerKind.GENERATION_COMPLETE, 3, True)) == ["generation"]


def test_due_keeps_registration_order() -> None:
    runner, _ = make_runner()
    assert names(runner.due(BOUNDARY, 3, True)) == ["every", "third", "tool"]


@pytest.mark.parametrize("kind", [TriggerKind.INTERVAL, TriggerKind.AFTER_TOOL_CALL, "every_turn"])
def test_due_refuses_a_kind_that_is_not_a_moment(kind: Any) -> None:
    runner, _ = make_runner()
    with pytest.raises(ValueError, match="due\\(\\) takes"):
        runner.due(kind, 1, False)


def test_due_refuses_a_negative_turn_count() -> None:
    runner, _ = make_runner()
    with pytest.raises(ValueError, match="turn_count"):
        runner.due(BOUNDARY, -1, False)


# -- construction -----------------------------------------------------------------------------


def test_duplicate_names_and_non_extractors_are_refused() -> None:
    with pytest.raises(ValueError, match="two extractors are named 'a'"):
        ExtractionRunner([returning("a", 1), returning("a", 2)])
    with pytest.raises(TypeError, match="is not a turn extractor"):
        ExtractionRunner([object()])  # type: ignore[list-item]


async def test_run_refuses_an_extractor_it_does_not_know() -> None:
    runner = ExtractionRunner([returning("a", 1)])
    with pytest.raises(ValueError, match="not one of this runner's extractors"):
        await runner.run([returning("a", 1)], window_of, State())


# -- running ----------------------------------------------------------------------------------


async def test_results_go_to_state_and_become_events_without_flattening() -> None:
    booking = returning("booking", {"name": "Ann", "party_size": 4})
    runner = ExtractionRunner([booking])
    state = State()
    events = await runner.run(runner.due(BOUNDARY, 1), window_of, state)
    assert events == [LiveEvent.Extraction("booking", {"name": "Ann", "party_size": 4})]
    # No rules: nothing is flattened into per-field keys.
    assert state.to_dict() == {"booking": {"name": "Ann", "party_size": 4}}


async def test_each_extractor_gets_its_window() -> None:
    seen: dict[str, list[int]] = {}

    def recording(name: str, size: int) -> Any:
        async def fn(turns: Sequence[TranscriptTurn]) -> int:
            seen[name] = [turn.index for turn in turns]
            return 1

        return extractor(name=name, window=size)(fn)

    runner = ExtractionRunner([recording("one", 1), recording("three", 3)])
    await runner.run(runner.extractors, window_of, State())
    assert seen == {"one": [5], "three": [3, 4, 5]}


async def test_empty_window_and_should_extract_no_skip_without_events() -> None:
    called: list[str] = []

    def counting(name: str, **options: Any) -> Any:
        async def fn(turns: Sequence[TranscriptTurn]) -> int:
            called.append(name)
            return 1

        return extractor(name=name, **options)(fn)

    runner = ExtractionRunner(
        [counting("empty"), counting("no", should_extract=lambda turns: False), counting("yes")]
    )
    state = State()
    events = await runner.run(runner.extractors, lambda size: [], state)
    assert events == [] and called == [] and state.keys() == []
    events = await runner.run(runner.extractors, window_of, state)
    assert sorted(called) == ["empty", "yes"]  # "no" is never called
    assert events == [LiveEvent.Extraction("empty", 1), LiveEvent.Extraction("yes", 1)]


async def test_extractors_run_concurrently() -> None:
    started = {"a": trio.Event(), "b": trio.Event()}

    def waiting_for(me: str, other: str) -> Any:
        async def fn(turns: Sequence[TranscriptTurn]) -> str:
            started[me].set()
            await started[other].wait()  # never returns if the other one has not started
            return me

        return extractor(name=me, timeout=5)(fn)

    runner = ExtractionRunner([waiting_for("a", "b"), waiting_for("b", "a")])
    with trio.fail_after(10):
        events = await runner.run(runner.extractors, window_of, State())
    assert events == [LiveEvent.Extraction("a", "a"), LiveEvent.Extraction("b", "b")]


async def test_outcomes_follow_registration_order_not_finishing_order() -> None:
    b_done = trio.Event()
    finished: list[str] = []

    async def slow(turns: Sequence[TranscriptTurn]) -> int:
        await b_done.wait()
        finished.append("slow")
        return 1

    async def fast(turns: Sequence[TranscriptTurn]) -> int:
        finished.append("fast")
        b_done.set()
        raise RuntimeError("fast failure")

    async def third(turns: Sequence[TranscriptTurn]) -> int:
        return 3

    runner = ExtractionRunner([extractor(slow), extractor(fast), extractor(third)])
    events = await runner.run(runner.extractors[::-1], window_of, State())
    assert finished == ["fast", "slow"]
    assert [type(event).__name__ for event in events] == [
        "Extraction",
        "ExtractionError",
        "Extraction",
    ]
    assert [event.name for event in events] == ["slow", "fast", "third"]  # type: ignore[attr-defined]


async def test_a_stuck_extractor_times_out_and_the_others_still_apply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def stuck(turns: Sequence[TranscriptTurn]) -> int:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    runner = ExtractionRunner([extractor(timeout=2.0)(stuck), returning("fine", 7, timeout=30)])
    state = State()
    start = trio.current_time()
    events = await runner.run(runner.extractors, window_of, state)
    assert trio.current_time() - start == pytest.approx(2.0)
    error, ok = events
    assert isinstance(error, LiveEvent.ExtractionError) and error.name == "stuck"
    assert isinstance(error.error, ExtractionFailed) and error.error.timed_out
    assert error.error.reason == "timed out after 2 s"
    assert isinstance(error.error.__cause__, TimeoutError)
    assert ok == LiveEvent.Extraction("fine", 7)
    assert "stuck" not in state and state.get("fine") == 7


async def test_user_errors_become_extraction_errors_with_the_cause() -> None:
    async def broken(turns: Sequence[TranscriptTurn]) -> int:
        raise ValueError("bad transcript")

    def nosy(turns: Sequence[TranscriptTurn]) -> bool:
        raise KeyError("k")

    async def wrong(turns: Sequence[TranscriptTurn]) -> Booking:
        return {"name": 3}  # type: ignore[return-value]

    runner = ExtractionRunner(
        [
            extractor(broken),
            extractor(should_extract=nosy)(returning("x", 1).fn),
            extractor(wrong),
        ]
    )
    state = State()
    events = await runner.run(runner.extractors, window_of, state)
    errors = [event.error for event in events if isinstance(event, LiveEvent.ExtractionError)]
    assert len(errors) == 3 == len(events)
    assert str(errors[0]) == "extractor 'broken' failed: raised ValueError: bad transcript"
    assert isinstance(errors[0].__cause__, ValueError)
    assert errors[1].extractor == "fn" and "should_extract raised KeyError" in errors[1].reason
    assert errors[2].extractor == "wrong" and "does not fit Booking" in errors[2].reason
    assert not errors[0].timed_out
    assert state.keys() == []


async def test_outside_cancellation_propagates_and_writes_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(turns: Sequence[TranscriptTurn]) -> int:
        await trio.sleep(5)
        return 1

    runner = ExtractionRunner([extractor(timeout=60)(slow)])
    state = State()
    with trio.move_on_after(1) as scope:
        await runner.run(runner.extractors, window_of, state)
    assert scope.cancelled_caught
    assert state.keys() == [] and runner.latest("slow") is None


async def test_none_means_nothing_found_and_keeps_the_previous_value() -> None:
    answers: list[Booking | None] = [Booking("Ann"), None]

    @extractor
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return answers.pop(0)

    runner = ExtractionRunner([booking])
    state = State()
    first = await runner.run([booking], window_of, state)
    second = await runner.run([booking], window_of, state)
    assert first == [LiveEvent.Extraction("booking", {"name": "Ann", "party_size": None})]
    assert second == []
    assert runner.latest("booking") == Booking("Ann")
    assert state.get("booking", Booking) == Booking("Ann")


async def test_promotions_follow_their_extraction_event() -> None:
    @extractor(
        promotions=[Promotion.keep_known("name"), Promotion.overwrite("party_size").to("size")]
    )
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return Booking("Ann", None)

    runner = ExtractionRunner([booking, returning("after", 1)])
    state = State()
    state.set("name", "Bob")
    events = await runner.run(runner.extractors, window_of, state)
    assert [type(event).__name__ for event in events] == [
        "Extraction",
        "StatePromotion",
        "StatePromotion",
        "Extraction",
    ]
    name, size = events[1], events[2]
    assert isinstance(name, LiveEvent.StatePromotion) and isinstance(size, LiveEvent.StatePromotion)
    assert (name.accepted, name.reason) == (False, "existing state value was kept")
    assert (size.key, size.accepted, size.reason) == ("size", False, "null")
    assert state.get("name") == "Bob"


async def test_the_event_value_is_independent_of_the_state_and_latest() -> None:
    runner = ExtractionRunner([returning("cart", {"items": [1]})])
    state = State()
    (event,) = await runner.run(runner.extractors, window_of, state)
    assert isinstance(event, LiveEvent.Extraction)
    event.value["items"].append(2)  # type: ignore[index]
    assert state.get("cart") == {"items": [1]}
    assert runner.latest("cart") == {"items": [1]}


# -- a hand-written extractor class -----------------------------------------------------------


@attrs.frozen
class Counter:
    name: str = "count"
    window: int = 2
    trigger: ExtractionTrigger = ExtractionTrigger.EVERY_TURN
    promotions: tuple[Promotion, ...] = (Promotion.overwrite("n").to("turns_seen"),)
    timeout: float = 1.0

    def should_extract(self, window: Sequence[TranscriptTurn]) -> bool:
        return True

    async def extract(self, window: Sequence[TranscriptTurn]) -> object:
        return {"n": len(window)}


async def test_a_protocol_class_with_optional_members() -> None:
    runner = ExtractionRunner([Counter()])
    state = State()
    events = await runner.run(runner.extractors, window_of, state)
    assert events[0] == LiveEvent.Extraction("count", {"n": 2})
    assert state.get("turns_seen") == 2
    assert runner.latest("count") == {"n": 2}


async def test_a_protocol_class_whose_result_has_no_json_form() -> None:
    @attrs.frozen
    class Bytes(Counter):
        async def extract(self, window: Sequence[TranscriptTurn]) -> object:
            return {"n": b"x"}

    runner = ExtractionRunner([Bytes()])
    (event,) = await runner.run(runner.extractors, window_of, State())
    assert isinstance(event, LiveEvent.ExtractionError)
    assert "its result has no JSON form: TypeError" in event.error.reason


def test_a_protocol_class_with_a_bad_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout must be a positive"):
        ExtractionRunner([Counter(timeout=0)])


# -- latest -----------------------------------------------------------------------------------


async def test_latest_typed() -> None:
    booking = extractor(name="booking")(_typed_booking)
    runner = ExtractionRunner([booking])
    assert runner.latest("booking") is None
    assert runner.latest("booking", Booking) is None
    await runner.run([booking], window_of, State())
    assert runner.latest("booking") == Booking("Ann", 4)
    assert runner.latest("booking", Booking) == Booking("Ann", 4)
    assert runner.latest("booking", dict) == {"name": "Ann", "party_size": 4}
    with pytest.raises(TypeError, match="extracted 'booking' cannot be read as list"):
        runner.latest("booking", list)
    with pytest.raises(ValueError, match="no extractor is named 'nope'"):
        runner.latest("nope")


async def _typed_booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
    return Booking("Ann", 4)


def test_restore_takes_latest_values_from_the_state() -> None:
    booking = extractor(name="booking")(_typed_booking)
    runner = ExtractionRunner([booking, returning("other", 1)])
    state = State()
    state.set("booking", {"name": "Zoe", "party_size": 2})
    runner.restore(state)
    assert runner.latest("booking") == Booking("Zoe", 2)
    assert runner.latest("other") is None


def test_repr_and_len() -> None:
    runner, _ = make_runner()
    assert len(runner) == 4
    assert repr(runner) == "ExtractionRunner(extractors=['every', 'third', 'tool', 'generation'])"
