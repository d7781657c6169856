from __future__ import annotations

import pytest
import trio
import trio.testing

from livehandle._broadcast import Broadcast, BroadcastStatistics, Subscription
from livehandle._errors import Lagged


async def drain(subscription):
    """Receive until the subscription ends; fail (rather than hang) if it never does."""
    with trio.fail_after(10):
        return [item async for item in subscription]


async def test_every_subscriber_gets_every_item_in_order(autojump_clock):
    broadcast = Broadcast[int](capacity=8)
    received: dict[str, list[int]] = {"a": [], "b": []}

    async def consume(name, subscription):
        with subscription:
            async for item in subscription:
                received[name].append(item)
                await trio.lowlevel.checkpoint()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume, "a", broadcast.subscribe())
            nursery.start_soon(consume, "b", broadcast.subscribe())
            for item in range(100):
                broadcast.publish(item)
                await trio.testing.wait_all_tasks_blocked()
            broadcast.close()

    assert received == {"a": list(range(100)), "b": list(range(100))}


async def test_publish_never_blocks_and_memory_stays_bounded_with_a_stalled_subscriber():
    broadcast = Broadcast[int](capacity=16)
    stalled = broadcast.subscribe(on_lag="skip")
    with trio.testing.assert_no_checkpoints():
        results = [broadcast.publish(item) for item in range(10_000)]
    assert all(results)
    assert stalled.pending == 16
    assert stalled.total_missed == 10_000 - 16
    assert stalled.receive_nowait() == 10_000 - 16


async def test_publish_with_no_subscribers_is_a_no_op_that_returns_true():
    broadcast = Broadcast[str]()
    assert broadcast.publish("nobody listens") is True
    assert broadcast.statistics().published == 1
    late = broadcast.subscribe()
    with pytest.raises(trio.WouldBlock):
        late.receive_nowait()


async def test_lagged_is_raised_once_with_exact_count_then_resumes_at_oldest_retained_item():
    broadcast = Broadcast[int](capacity=3)
    subscription = broadcast.subscribe()
    for item in range(10):
        broadcast.publish(item)

    with pytest.raises(Lagged) as caught:
        await subscription.receive()
    assert caught.value.missed == 7
    assert [await subscription.receive() for _ in range(3)] == [7, 8, 9]

    broadcast.publish(10)
    assert await subscription.receive() == 10
    assert subscription.total_missed == 7


async def test_lagged_propagates_out_of_async_for_with_raise_policy(autojump_clock):
    broadcast = Broadcast[int](capacity=2)
    subscription = broadcast.subscribe(on_lag="raise")
    for item in range(5):
        broadcast.publish(item)
    broadcast.close()

    with pytest.raises(Lagged) as caught:
        await drain(subscription)
    assert caught.value.missed == 3
    assert await drain(subscription) == [3, 4]


async def test_skip_policy_skips_silently_and_counts_total_missed(autojump_clock):
    broadcast = Broadcast[int](capacity=3)
    subscription = broadcast.subscribe(on_lag="skip")
    for item in range(10):
        broadcast.publish(item)
    assert await subscription.receive() == 7
    assert subscription.total_missed == 7

    for item in range(10, 15):
        broadcast.publish(item)
    broadcast.close()
    assert await drain(subscription) == [12, 13, 14]
    assert subscription.total_missed == 11


async def test_close_lets_subscribers_drain_then_ends_iteration(autojump_clock):
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    for item in (1, 2, 3):
        broadcast.publish(item)
    broadcast.close()
    broadcast.close()  # idempotent

    assert broadcast.closed
    assert broadcast.publish(4) is False
    assert await drain(subscription) == [1, 2, 3]
    with trio.fail_after(10), pytest.raises(trio.EndOfChannel):
        await subscription.receive()
    assert broadcast.statistics().published == 3


async def test_subscribing_after_close_ends_immediately(autojump_clock):
    broadcast = Broadcast[int]()
    broadcast.publish(1)
    broadcast.close()
    subscription = broadcast.subscribe()

    assert subscription.pending == 0
    assert broadcast.subscriber_count == 0
    with trio.fail_after(10), pytest.raises(trio.EndOfChannel):
        await subscription.receive()
    with pytest.raises(trio.EndOfChannel):
        subscription.receive_nowait()


async def test_leaving_with_block_unsubscribes_and_stops_delivery(autojump_clock):
    broadcast = Broadcast[int]()
    with broadcast.subscribe() as subscription:
        assert broadcast.subscriber_count == 1
        broadcast.publish(1)
        assert subscription.pending == 1

    assert broadcast.subscriber_count == 0
    assert subscription.closed
    assert subscription.pending == 0
    broadcast.publish(2)
    assert subscription.pending == 0
    with trio.fail_after(10), pytest.raises(trio.ClosedResourceError):
        await subscription.receive()


async def test_leaving_async_with_block_unsubscribes_at_a_checkpoint():
    broadcast = Broadcast[int]()
    with trio.testing.assert_checkpoints():
        async with broadcast.subscribe() as subscription:
            assert broadcast.subscriber_count == 1
    assert broadcast.subscriber_count == 0
    assert subscription.closed
    subscription.close()  # idempotent
    with pytest.raises(trio.ClosedResourceError):
        subscription.receive_nowait()


async def test_closing_one_subscription_leaves_the_others_subscribed():
    broadcast = Broadcast[int]()
    first = broadcast.subscribe()
    second = broadcast.subscribe()
    first.close()
    broadcast.publish(1)
    assert broadcast.subscriber_count == 1
    assert second.receive_nowait() == 1


async def test_cancelled_waiting_receive_loses_nothing(autojump_clock):
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    with trio.move_on_after(1) as scope:
        await subscription.receive()
    assert scope.cancelled_caught

    broadcast.publish(1)
    assert await subscription.receive() == 1


async def test_receive_cancelled_before_it_starts_leaves_the_item_buffered():
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    broadcast.publish(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await subscription.receive()
    assert scope.cancelled_caught
    assert subscription.pending == 1
    assert await subscription.receive() == 1


async def test_receive_cancelled_before_it_starts_does_not_consume_the_lag_report():
    broadcast = Broadcast[int](capacity=1)
    subscription = broadcast.subscribe()
    broadcast.publish(1)
    broadcast.publish(2)
    with trio.CancelScope() as scope:
        scope.cancel()
        await subscription.receive()
    assert scope.cancelled_caught
    with pytest.raises(Lagged):
        await subscription.receive()


async def test_receive_is_a_checkpoint_on_every_path(autojump_clock):
    broadcast = Broadcast[int](capacity=1)
    subscription = broadcast.subscribe()
    broadcast.publish(1)
    broadcast.publish(2)
    with trio.testing.assert_checkpoints(), pytest.raises(Lagged):
        await subscription.receive()
    with trio.testing.assert_checkpoints():
        assert await subscription.receive() == 2
    broadcast.close()
    with trio.fail_after(10), trio.testing.assert_checkpoints(), pytest.raises(trio.EndOfChannel):
        await subscription.receive()
    subscription.close()
    with (
        trio.fail_after(10),
        trio.testing.assert_checkpoints(),
        pytest.raises(trio.ClosedResourceError),
    ):
        await subscription.receive()


async def test_receive_nowait_is_not_a_checkpoint():
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    broadcast.publish(1)
    with trio.testing.assert_no_checkpoints():
        assert subscription.receive_nowait() == 1


async def test_receive_nowait_raises_would_block_when_empty():
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    with pytest.raises(trio.WouldBlock):
        subscription.receive_nowait()


async def test_waiting_receiver_is_woken_by_publish(autojump_clock):
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    received = []

    async def receive_one():
        received.append(await subscription.receive())

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_one)
            await trio.testing.wait_all_tasks_blocked()
            assert received == []
            broadcast.publish(42)

    assert received == [42]


async def test_waiting_receiver_is_woken_by_broadcast_close(autojump_clock):
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    ended = trio.Event()

    async def wait_for_end():
        with pytest.raises(trio.EndOfChannel):
            await subscription.receive()
        ended.set()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_end)
            await trio.testing.wait_all_tasks_blocked()
            assert not ended.is_set()
            broadcast.close()

    assert ended.is_set()


async def test_waiting_receiver_gets_closed_resource_error_when_subscription_closes(autojump_clock):
    broadcast = Broadcast[int]()
    subscription = broadcast.subscribe()
    woken = trio.Event()

    async def wait_for_close():
        with pytest.raises(trio.ClosedResourceError):
            await subscription.receive()
        woken.set()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_close)
            await trio.testing.wait_all_tasks_blocked()
            subscription.close()

    assert woken.is_set()
    assert broadcast.subscriber_count == 0


@pytest.mark.parametrize("capacity", [0, -1])
async def test_capacity_below_one_is_rejected(capacity):
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        Broadcast[int](capacity=capacity)
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        Broadcast[int]().subscribe(capacity=capacity)


async def test_unknown_lag_policy_is_rejected():
    with pytest.raises(ValueError, match="on_lag"):
        Broadcast[int]().subscribe(on_lag="ignore")  # type: ignore[arg-type]


async def test_per_subscription_capacity_overrides_the_default():
    broadcast = Broadcast[int](capacity=100)
    small = broadcast.subscribe(capacity=2, on_lag="skip")
    default = broadcast.subscribe()
    for item in range(5):
        broadcast.publish(item)
    assert (small.capacity, small.pending, small.total_missed) == (2, 2, 3)
    assert (default.capacity, default.pending) == (100, 5)


async def test_statistics_report_subscribers_published_capacity_and_state():
    broadcast = Broadcast[int](capacity=4)
    broadcast.subscribe()
    broadcast.subscribe()
    broadcast.publish(1)
    assert broadcast.statistics() == BroadcastStatistics(
        subscribers=2, published=1, capacity=4, closed=False
    )
    broadcast.close()
    assert broadcast.statistics() == BroadcastStatistics(
        subscribers=0, published=1, capacity=4, closed=True
    )


# -- Subscription: only Broadcast.subscribe() makes one ------------------------------------------


def test_a_subscription_has_no_public_constructor():
    from collections import deque

    broadcast = Broadcast[int]()
    with pytest.raises(TypeError, match=r"use Broadcast\.subscribe\(\)"):
        Subscription(broadcast, deque(maxlen=1), "raise")
    with pytest.raises(TypeError, match="no public constructor"):
        Subscription[int](broadcast, deque(maxlen=1), "raise")
    assert broadcast.subscriber_count == 0  # nothing half-made was registered


def test_a_subscription_is_final_and_still_a_trio_receive_channel():
    assert Subscription.__final__ is True
    subscription = Broadcast[int]().subscribe()
    assert type(subscription) is Subscription
    assert isinstance(subscription, trio.abc.ReceiveChannel)


# -- retention: the first subscribers miss nothing ---------------------------------------------


async def test_a_subscription_made_while_retaining_starts_at_the_beginning():
    broadcast: Broadcast[int] = Broadcast(8)
    early = broadcast.subscribe()
    broadcast.retain()
    for i in range(3):
        broadcast.publish(i)
    assert broadcast.retaining
    sub = broadcast.subscribe()
    evens = broadcast.subscribe(accept=lambda v: v % 2 == 0)
    broadcast.publish(3)
    broadcast.release()
    late = broadcast.subscribe()
    broadcast.publish(4)
    assert [sub.receive_nowait() for _ in range(sub.pending)] == [0, 1, 2, 3, 4]
    assert [evens.receive_nowait() for _ in range(evens.pending)] == [0, 2, 4]
    assert [late.receive_nowait() for _ in range(late.pending)] == [4]
    assert [early.receive_nowait() for _ in range(early.pending)] == [0, 1, 2, 3, 4]
    assert not broadcast.retaining


async def test_retention_is_bounded_by_capacity_and_overflow_is_reported_as_lag():
    broadcast: Broadcast[int] = Broadcast(4)
    broadcast.retain()
    for i in range(10):
        broadcast.publish(i)
    raising = broadcast.subscribe()
    skipping = broadcast.subscribe(on_lag="skip")
    small = broadcast.subscribe(capacity=2, on_lag="skip")
    with pytest.raises(Lagged) as lagged:
        raising.receive_nowait()
    assert lagged.value.missed == 6
    assert [raising.receive_nowait() for _ in range(raising.pending)] == [6, 7, 8, 9]
    assert [skipping.receive_nowait() for _ in range(skipping.pending)] == [6, 7, 8, 9]
    assert skipping.total_missed == 6
    assert [small.receive_nowait() for _ in range(small.pending)] == [8, 9]
    assert small.total_missed == 8


async def test_a_subscription_made_after_close_still_gets_what_was_retained(autojump_clock):
    broadcast: Broadcast[str] = Broadcast()
    broadcast.retain()
    broadcast.publish("connected")
    broadcast.publish("disconnected")
    broadcast.close()
    sub = broadcast.subscribe()
    assert [item async for item in sub] == ["connected", "disconnected"]
    broadcast.release()
    with pytest.raises(trio.EndOfChannel):
        broadcast.subscribe().receive_nowait()


@pytest.mark.parametrize("capacity", [1, 3, 8, 9, 20])
async def test_a_short_buffer_turns_into_a_ring_without_losing_order_or_lag_counts(capacity):
    # The first few items wait in a list, the rest in a ring: the switch loses nothing and
    # drops exactly what overflowed, oldest first.
    broadcast = Broadcast[int](capacity=capacity)
    subscription = broadcast.subscribe()
    published = 25
    for item in range(published):
        broadcast.publish(item)

    assert subscription.pending == capacity
    with pytest.raises(Lagged) as info:
        subscription.receive_nowait()
    assert info.value.missed == published - capacity
    received = [subscription.receive_nowait() for _ in range(capacity)]
    assert received == list(range(published - capacity, published))
    with pytest.raises(trio.WouldBlock):
        subscription.receive_nowait()


async def test_an_idle_subscription_keeps_no_ring_and_a_few_items_keep_none_either():
    from collections import deque

    broadcast = Broadcast[int](capacity=64)
    subscription = broadcast.subscribe()
    assert subscription._buffer == ()
    for item in range(3):
        broadcast.publish(item)
    assert not isinstance(subscription._buffer, deque)
    assert [subscription.receive_nowait() for _ in range(3)] == [0, 1, 2]
    for item in range(20):  # more than a short list holds
        broadcast.publish(item)
    assert isinstance(subscription._buffer, deque)
    assert [subscription.receive_nowait() for _ in range(20)] == list(range(20))
