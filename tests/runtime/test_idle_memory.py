"""What an idle session does not allocate until it needs it (issue 15's idle-memory target).

Each lazy part has two states to check: made at its first use, and never made by a session
that never uses it.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from livehandle._nursery import LazyEvent, let_go

# -- let_go: a started task keeps no start-up nursery -------------------------------------------


async def test_a_task_status_let_go_hands_the_value_over_and_then_holds_nothing() -> None:
    wrapped: list[trio.TaskStatus[int]] = []

    async def task(*, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        task_status = let_go(task_status)
        wrapped.append(task_status)
        task_status.started(42)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        assert await nursery.start(task) == 42
        (status,) = wrapped
        assert status._status is None  # type: ignore[attr-defined]  # trio's is let go
        with pytest.raises(RuntimeError, match="twice"):
            status.started(1)
        nursery.cancel_scope.cancel()


def test_let_go_leaves_the_ignored_status_and_a_wrapped_one_as_they_are() -> None:
    assert let_go(trio.TASK_STATUS_IGNORED) is trio.TASK_STATUS_IGNORED

    class Status:
        def started(self, value: object = None) -> None:
            raise AssertionError("not called here")

    once = let_go(Status())  # type: ignore[arg-type]
    assert let_go(once) is once


async def test_a_failure_before_started_still_reaches_the_starter() -> None:
    async def task(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status = let_go(task_status)
        raise ValueError("before started")

    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="before started"):
            await nursery.start(task)


# -- LazyEvent ----------------------------------------------------------------------------------


async def test_a_lazy_event_set_before_anyone_waits_never_makes_a_trio_event() -> None:
    event = LazyEvent()
    assert not event.is_set()
    event.set()
    event.set()  # idempotent
    assert event.is_set()
    await event.wait()  # returns at once
    assert event._event is None


async def test_a_lazy_event_makes_its_trio_event_at_the_first_wait_and_wakes_every_waiter() -> None:
    event = LazyEvent()
    woken: list[int] = []

    async def waiter(number: int) -> None:
        await event.wait()
        woken.append(number)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, 1)
        nursery.start_soon(waiter, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert isinstance(event._event, trio.Event)
        assert woken == []
        event.set()
    assert sorted(woken) == [1, 2]


async def test_waiting_on_a_lazy_event_is_a_checkpoint_even_when_set() -> None:
    event = LazyEvent()
    event.set()
    with trio.CancelScope() as scope:
        scope.cancel()
        await event.wait()
        pytest.fail("a cancelled wait must raise Cancelled")  # pragma: no cover
    assert scope.cancelled_caught


async def test_a_cancelled_wait_leaves_the_lazy_event_usable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    event = LazyEvent()
    with trio.move_on_after(1):
        await event.wait()
    assert not event.is_set()
    event.set()
    with trio.fail_after(1):
        await event.wait()


# -- open_owned_nursery (a slotted context manager, not a generator) ----------------------------


async def test_an_owned_nursery_reraises_the_body_error_unwrapped_after_close_and_tasks() -> None:
    from livehandle._nursery import open_owned_nursery

    order: list[str] = []

    async def close() -> None:
        order.append("close")

    async def task() -> None:
        try:
            await trio.sleep_forever()
        finally:
            order.append("task ended")

    error = ValueError("the body's own")

    async def body() -> None:
        async with open_owned_nursery(close, "test") as nursery:
            nursery.start_soon(task)
            await trio.testing.wait_all_tasks_blocked()
            raise error

    with pytest.raises(ValueError, match="the body's own") as info:
        await body()
    assert info.value is error
    assert order == ["close", "task ended"]


async def test_a_failed_task_of_an_owned_nursery_becomes_one_session_task_failed() -> None:
    from livehandle._errors import SessionTaskFailed
    from livehandle._nursery import open_owned_nursery

    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    async def broken() -> None:
        raise KeyError("inner")

    async def body() -> None:
        async with open_owned_nursery(close, "test") as nursery:
            nursery.start_soon(broken)
            await trio.sleep_forever()

    with pytest.raises(SessionTaskFailed, match="a task of the test failed") as info:
        await body()
    assert isinstance(info.value.__cause__, BaseExceptionGroup)
    assert closed == [True]


async def test_an_owned_nursery_cancelled_from_outside_belongs_to_that_scope() -> None:
    from livehandle._nursery import open_owned_nursery

    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    with trio.CancelScope() as outer:
        async with open_owned_nursery(close, "test") as nursery:
            nursery.start_soon(trio.sleep_forever)
            outer.cancel()
            await trio.sleep_forever()
    assert outer.cancelled_caught
    assert closed == [True]


async def test_a_failing_close_of_an_owned_nursery_is_reported() -> None:
    from livehandle._errors import SessionTaskFailed
    from livehandle._nursery import open_owned_nursery

    async def close() -> None:
        raise OSError("close failed")

    async def body() -> None:
        async with open_owned_nursery(close, "test"):
            pass

    with pytest.raises(SessionTaskFailed, match="close failed"):
        await body()


# -- telemetry counts by kind -------------------------------------------------------------------


def test_telemetry_makes_its_counts_by_kind_at_the_first_count() -> None:
    from livehandle._runtime.telemetry import SessionTelemetry

    telemetry = SessionTelemetry(clock=lambda: 0.0)
    assert (telemetry._dropped, telemetry._persistence, telemetry._tokens_by_modality) == (
        None,
        None,
        None,
    )
    assert (telemetry.dropped, telemetry.persistence) == ({}, {})
    snapshot = telemetry.snapshot()
    assert (snapshot["dropped"], snapshot["persistence"], snapshot["tokens_by_modality"]) == (
        {},
        {},
        {},
    )

    telemetry.record_dropped("audio", 2)
    telemetry.record_dropped("audio")
    telemetry.record_persistence("saved")
    assert telemetry.dropped == {"audio": 3}
    assert telemetry.persistence == {"saved": 1}
    assert telemetry._tokens_by_modality is None  # still nothing counted there


# -- the transcript's turn in progress ----------------------------------------------------------


def test_a_turn_in_progress_makes_its_lists_at_their_first_part_and_drops_them_when_done() -> None:
    from livehandle._runtime.transcript import TranscriptBuffer

    buffer = TranscriptBuffer()
    idle = (buffer._typed, buffer._spoken, buffer._model, buffer._tool_calls)
    assert idle == ((), (), (), ())
    assert (buffer.user_text, buffer.model_text) == ("", "")

    buffer.add_typed("hi")
    buffer.add_user_speech(" there")
    buffer.add_model_speech("Hel")
    buffer.add_model_speech("lo")
    buffer.add_tool_call("weather", {"city": "Oslo"}, "sunny")
    turn = buffer.finish_turn()

    assert (turn.user, turn.model, turn.typed) == ("hi there", "Hello", True)
    assert [call.name for call in turn.tool_calls] == ["weather"]
    assert (buffer._typed, buffer._spoken, buffer._model, buffer._tool_calls) == idle
    assert buffer.current_turn().user == ""


# -- the telemetry emitter's cancel scope -------------------------------------------------------


def _observer():  # type: ignore[no-untyped-def]
    from livehandle._broadcast import Broadcast
    from livehandle._runtime.observe import SessionObserver
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._state import State

    return SessionObserver(SessionTelemetry(), State(), Broadcast(8))


async def test_an_observer_without_an_emitter_keeps_no_cancel_scope(
    autojump_clock: trio.testing.MockClock,
) -> None:
    observer = _observer()
    assert observer._emitter is None
    observer.stop_emitter()  # nothing to stop: no error, still nothing made
    assert observer._emitter is None


async def test_an_emitter_stopped_before_it_starts_ends_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    observer = _observer()
    observer.stop_emitter()
    with trio.fail_after(1):
        await observer.run_emitter(0.5)  # returns: it was stopped already
    assert trio.current_time() < 0.5


async def test_a_running_emitter_publishes_until_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from livehandle._events import LiveEvent

    observer = _observer()
    subscription = observer._live.subscribe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(observer.run_emitter, 1.0)
        await trio.sleep(2.5)
        observer.stop_emitter()
    kinds = [type(event) for event in [subscription.receive_nowait() for _ in range(2)]]
    assert kinds == [LiveEvent.Telemetry, LiveEvent.Telemetry]
    assert observer._emitter is not None
    assert observer._emitter.cancelled_caught
