"""Watchers: predicates, the bounded firing queue, and running the actions."""

from __future__ import annotations

import enum

import pytest
import trio

from livehandle import (
    MutationOrigin,
    State,
    StateConfig,
    StateMutation,
    StateProblem,
    StateProblemKind,
    StateWatch,
    WatchPredicate,
)


class Level(enum.Enum):
    HIGH = "high"


def _recorder() -> tuple[list[tuple[str, object]], object]:
    seen: list[tuple[str, object]] = []

    async def action(mutation: StateMutation) -> None:
        seen.append((mutation.key, mutation.new))

    return seen, action


def _state_with_problems(**settings: object) -> tuple[State, list[StateProblem]]:
    state = State(StateConfig(**settings))  # type: ignore[arg-type]
    problems: list[StateProblem] = []
    state._attach(on_problem=problems.append)
    return state, problems


# -- predicates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "old", "new", "expected"),
    [
        (WatchPredicate.changed(), None, 1, True),
        (WatchPredicate.changed_to(3), 1, 3, True),
        (WatchPredicate.changed_to(3), 1, 3.0, True),
        (WatchPredicate.changed_to(3), 1, 4, False),
        (WatchPredicate.changed_to(1), 0, True, False),  # true is not 1
        (WatchPredicate.changed_to(Level.HIGH), None, "high", True),
        (WatchPredicate.changed_to({"a": [1]}), None, {"a": [1]}, True),
        (WatchPredicate.changed_from("x"), "x", "y", True),
        (WatchPredicate.changed_from("x"), "z", "y", False),
        (WatchPredicate.changed_from(None), None, 1, True),  # absent reads as None
        (WatchPredicate.crossed_above(10), 10, 11, True),
        (WatchPredicate.crossed_above(10), 9, 10, False),
        (WatchPredicate.crossed_above(10), 11, 12, False),
        (WatchPredicate.crossed_above(10), None, 12, False),  # a non-number never crosses
        (WatchPredicate.crossed_above(10), 5, "12", False),
        (WatchPredicate.crossed_above(0), False, True, False),  # booleans are not numbers
        (WatchPredicate.crossed_below(10), 10, 9.5, True),
        (WatchPredicate.crossed_below(10), 11, 10, False),
        (WatchPredicate.crossed_below(10), 12, None, False),
        (WatchPredicate.became_true(), None, True, True),
        (WatchPredicate.became_true(), False, True, True),
        (WatchPredicate.became_true(), True, True, False),
        (WatchPredicate.became_true(), 0, 1, False),
        (WatchPredicate.became_false(), True, False, True),
        (WatchPredicate.became_false(), None, False, True),
        (WatchPredicate.became_false(), True, None, False),
        (WatchPredicate.custom(lambda old, new: new == "x"), None, "x", True),
    ],
)
def test_predicates(predicate: WatchPredicate, old: object, new: object, expected: bool) -> None:
    assert predicate.matches(old, new) is expected  # type: ignore[arg-type]


def test_predicate_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="number"):
        WatchPredicate.crossed_above("10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="number"):
        WatchPredicate.crossed_below(True)
    with pytest.raises(ValueError, match="finite"):
        WatchPredicate.crossed_above(float("nan"))
    with pytest.raises(TypeError):
        WatchPredicate.changed_to(object())
    with pytest.raises(TypeError, match="callable"):
        WatchPredicate.custom(3)  # type: ignore[arg-type]


def test_watch_accepts_names_callables_and_predicates_only() -> None:
    state = State()

    async def action(mutation: StateMutation) -> None:
        pass

    assert state.watch("a", action, "became_true").predicate.description == "became_true"
    assert state.watch("a", action, lambda o, n: True).predicate.description.startswith("custom")
    with pytest.raises(ValueError, match="changed"):
        state.watch("a", action, "became_big")
    with pytest.raises(TypeError, match="when must be"):
        state.watch("a", action, 3)
    with pytest.raises(TypeError, match="callable"):
        state.watch("a", None, "changed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        state.watch("", action)


# -- firing -----------------------------------------------------------------------------------


async def test_actions_run_only_in_run_watchers_in_order() -> None:
    state = State()
    seen, action = _recorder()
    state.watch("a", action)  # type: ignore[arg-type]
    state.watch("user:*", action)  # type: ignore[arg-type]

    state.set("a", 1)
    state.user.set("name", "Ada")
    state.set("a", 2)
    state.set("other", 0)
    assert seen == []
    assert state.pending_watchers == 3

    assert await state.run_watchers() == 3
    assert seen == [("a", 1), ("user:name", "Ada"), ("a", 2)]
    assert state.pending_watchers == 0


async def test_watchers_of_one_change_fire_in_registration_order() -> None:
    state = State()
    order: list[str] = []
    state.watch("user:*", lambda m: order.append("prefix"))
    state.watch("user:name", lambda m: order.append("exact"))
    state.watch("*", lambda m: order.append("all"))

    state.user.set("name", "Ada")
    await state.run_watchers()

    assert order == ["prefix", "exact", "all"]


async def test_watchers_see_every_kind_of_change() -> None:
    state = State()
    origins: list[MutationOrigin] = []
    state.watch("k", lambda m: origins.append(m.origin))

    state.set("k", 1)
    state.modify("k", 0, lambda n: n + 1)
    state.set("x", 1)
    state.rename("x", "k")
    state.remove("k")
    state.set("k", 5)
    state.clear_prefix("k")
    with state.delta() as delta:
        delta.set("k", 9)
    await state.run_watchers()

    assert origins == [
        MutationOrigin.SET,
        MutationOrigin.MODIFY,
        MutationOrigin.RENAME,
        MutationOrigin.REMOVE,
        MutationOrigin.SET,
        MutationOrigin.CLEAR_PREFIX,
        MutationOrigin.COMMIT,
    ]


async def test_the_predicate_is_evaluated_at_write_time() -> None:
    state = State()
    seen, action = _recorder()
    state.watch("flag", action, "became_true")  # type: ignore[arg-type]

    state.set("flag", True)
    state.set("flag", False)  # by the time the actions run, the value is false again
    state.set("flag", True)
    await state.run_watchers()

    assert seen == [("flag", True), ("flag", True)]


async def test_an_unchanged_write_fires_nothing() -> None:
    state = State()
    seen, action = _recorder()
    state.watch("a", action)  # type: ignore[arg-type]
    state.set("a", [1])
    state.set("a", [1])
    await state.run_watchers()

    assert seen == [("a", [1])]


async def test_a_cancelled_watch_stops_and_its_queued_firings_are_skipped() -> None:
    state = State()
    seen, action = _recorder()
    watch = state.watch("a", action)  # type: ignore[arg-type]
    assert isinstance(watch, StateWatch)
    state.set("a", 1)

    watch.cancel()
    watch.cancel()
    state.set("a", 2)
    assert await state.run_watchers() == 0
    assert seen == []
    assert not watch.active
    assert "cancelled" in repr(watch)


async def test_sync_actions_are_allowed() -> None:
    state = State()
    seen: list[object] = []
    watch = state.watch("a", lambda m: seen.append(m.new))
    state.set("a", 1)

    await state.run_watchers()
    assert seen == [1]
    assert watch.fired == 1


async def test_firings_queued_by_actions_run_in_the_same_call_after_the_others() -> None:
    state = State()
    order: list[str] = []

    async def first(mutation: StateMutation) -> None:
        order.append(f"first {mutation.new}")
        state.set("b", "from first")

    async def second(mutation: StateMutation) -> None:
        order.append(f"second {mutation.new}")

    state.watch("a", first)
    state.watch("b", second)
    state.set("a", 1)
    state.set("b", "direct")

    assert await state.run_watchers() == 3
    assert order == ["first 1", "second direct", "second from first"]


async def test_a_self_triggering_watcher_is_bounded_per_call() -> None:
    state, _ = _state_with_problems(watch_queue=4)
    pending: list[int] = []
    state._attach(on_pending=lambda: pending.append(state.pending_watchers))
    state.watch("n", lambda m: state.modify("n", 0, lambda n: n + 1))
    state.set("n", 0)
    assert pending == [1]

    assert await state.run_watchers() == 4
    assert state.get("n") == 4
    assert state.pending_watchers == 1  # left for the next call, and the runtime told again
    assert pending == [1, 1]


# -- problems -------------------------------------------------------------------------------------


async def test_a_predicate_that_raises_is_reported_not_propagated() -> None:
    state, problems = _state_with_problems()
    seen, action = _recorder()

    def bad(old: object, new: object) -> bool:
        raise KeyError("oops")

    state.watch("a", action, bad)  # type: ignore[arg-type]
    state.watch("a", action)  # type: ignore[arg-type]
    state.set("a", 1)  # does not raise
    await state.run_watchers()

    assert seen == [("a", 1)]
    assert [p.kind for p in problems] == [StateProblemKind.PREDICATE_FAILED]
    assert isinstance(problems[0].error, KeyError)
    assert problems[0].key == "a"


async def test_an_action_that_raises_is_reported_and_the_next_ones_run() -> None:
    state, problems = _state_with_problems()
    seen, action = _recorder()

    async def bad(mutation: StateMutation) -> None:
        raise RuntimeError("boom")

    state.watch("a", bad)
    state.watch("a", lambda m: 1 / 0)
    state.watch("a", action)  # type: ignore[arg-type]
    state.set("a", 1)

    assert await state.run_watchers() == 3
    assert seen == [("a", 1)]
    assert [p.kind for p in problems] == [StateProblemKind.ACTION_FAILED] * 2
    assert "RuntimeError" in problems[0].detail
    assert isinstance(problems[1].error, ZeroDivisionError)


async def test_an_action_past_the_timeout_is_cancelled_and_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    state, problems = _state_with_problems(watcher_timeout=2.0)
    seen, action = _recorder()
    cancelled = trio.Event()

    async def stuck(mutation: StateMutation) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    state.watch("a", stuck)
    state.watch("a", action)  # type: ignore[arg-type]
    state.set("a", 1)
    started = trio.current_time()

    await state.run_watchers()

    assert trio.current_time() - started == pytest.approx(2.0)
    assert cancelled.is_set()
    assert seen == [("a", 1)]
    assert [p.kind for p in problems] == [StateProblemKind.ACTION_TIMED_OUT]
    assert "2 s" in problems[0].detail


async def test_run_watchers_timeout_argument(autojump_clock: trio.testing.MockClock) -> None:
    state, problems = _state_with_problems()

    async def slow(mutation: StateMutation) -> None:
        await trio.sleep(1.0)

    state.watch("a", slow)
    state.set("a", 1)
    await state.run_watchers(timeout=0.5)
    assert [p.kind for p in problems] == [StateProblemKind.ACTION_TIMED_OUT]

    state.set("a", 2)
    await state.run_watchers(timeout=5)
    assert len(problems) == 1
    with pytest.raises(ValueError, match="timeout"):
        await state.run_watchers(timeout=0)


async def test_a_full_queue_drops_the_newest_firing_and_counts_it() -> None:
    state, problems = _state_with_problems(watch_queue=2)
    seen, action = _recorder()
    state.watch("a", action)  # type: ignore[arg-type]

    for value in range(4):
        state.set("a", value)

    assert state.pending_watchers == 2
    assert [p.kind for p in problems] == [StateProblemKind.WATCH_QUEUE_FULL] * 2
    assert state.problem_counts()[StateProblemKind.WATCH_QUEUE_FULL] == 2
    await state.run_watchers()
    assert seen == [("a", 0), ("a", 1)]  # the oldest were kept


def test_on_pending_is_called_when_the_queue_becomes_non_empty() -> None:
    state = State()
    calls: list[int] = []
    state.watch("a", lambda m: None)
    state.set("a", 1)  # queued before the runtime attached

    state._attach(on_pending=lambda: calls.append(state.pending_watchers))
    assert calls == [1]  # told at once about what waits
    state.set("a", 2)
    assert calls == [1]  # already non-empty: no new call


async def test_on_pending_fires_again_after_the_queue_drained() -> None:
    state = State()
    calls: list[int] = []
    state._attach(on_pending=lambda: calls.append(1))
    state.watch("a", lambda m: None)

    state.set("a", 1)
    await state.run_watchers()
    state.set("a", 2)

    assert calls == [1, 1]


def test_a_callback_that_raises_never_breaks_a_write(caplog: pytest.LogCaptureFixture) -> None:
    state = State()

    def broken(*args: object) -> None:
        raise RuntimeError("callback bug")

    state._attach(on_pending=broken, on_problem=broken)
    state.watch("a", lambda m: None)
    state.watch("a", lambda m: None, lambda old, new: 1 / 0)
    state.set("a", 1)

    assert state.get("a") == 1
    assert "callback raised" in caplog.text
    assert state.problem_counts()[StateProblemKind.PREDICATE_FAILED] == 1


async def test_a_redacted_keys_value_never_appears_in_a_problem() -> None:
    state, problems = _state_with_problems(redact_keys=("pin",))

    async def bad(mutation: StateMutation) -> None:
        raise RuntimeError("bad")

    state.watch("pin", bad)
    state.set("pin", "9876")
    await state.run_watchers()

    assert problems
    assert "9876" not in repr(problems) + problems[0].detail


async def test_run_watchers_is_not_reentrant() -> None:
    state, problems = _state_with_problems()

    async def nested(mutation: StateMutation) -> None:
        await state.run_watchers()

    state.watch("a", nested)
    state.set("a", 1)
    await state.run_watchers()

    assert [p.kind for p in problems] == [StateProblemKind.ACTION_FAILED]
    assert isinstance(problems[0].error, RuntimeError)
    assert "already running" in str(problems[0].error)


def test_an_async_predicate_is_reported_as_a_problem() -> None:
    state, problems = _state_with_problems()

    async def not_allowed(old: object, new: object) -> bool:
        return True

    state.watch("a", lambda m: None, not_allowed)
    state.set("a", 1)

    assert state.pending_watchers == 0
    assert [p.kind for p in problems] == [StateProblemKind.PREDICATE_FAILED]
    assert "plain function" in str(problems[0].error)
