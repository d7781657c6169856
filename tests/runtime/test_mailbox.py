"""The control lane's mailbox: order, its bound, both ends' close, cancellation, one receiver."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from livehandle._runtime.mailbox import Mailbox


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Mailbox[int](0)


async def test_items_arrive_in_order_and_the_bound_refuses_without_dropping() -> None:
    box = Mailbox[int](3)
    for item in (1, 2, 3):
        box.send_nowait(item)
    with pytest.raises(trio.WouldBlock):
        box.send_nowait(4)  # refused: the sender keeps it, nothing queued is lost
    assert [await box.receive(), box.receive_nowait(), await box.receive()] == [1, 2, 3]
    box.send_nowait(4)  # room again
    assert box.receive_nowait() == 4
    with pytest.raises(trio.WouldBlock):
        box.receive_nowait()


async def test_a_waiting_receiver_is_woken_by_a_send() -> None:
    box = Mailbox[str](1)
    got: list[str] = []

    async def receiver() -> None:
        got.append(await box.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        box.send_nowait("hello")
    assert got == ["hello"]


async def test_close_delivers_what_is_queued_then_end_of_channel() -> None:
    box = Mailbox[int](4)
    box.send_nowait(1)
    box.close()
    with pytest.raises(trio.ClosedResourceError):
        box.send_nowait(2)
    assert await box.receive() == 1
    with pytest.raises(trio.EndOfChannel):
        await box.receive()


async def test_close_wakes_a_waiting_receiver_with_end_of_channel() -> None:
    box = Mailbox[int](1)
    ended: list[bool] = []

    async def receiver() -> None:
        try:
            await box.receive()
        except trio.EndOfChannel:
            ended.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await trio.testing.wait_all_tasks_blocked()
        box.close()
    assert ended == [True]


async def test_closing_the_receiver_discards_the_queue_and_breaks_senders() -> None:
    box = Mailbox[int](2)
    box.send_nowait(1)
    box.close_receiver()
    with pytest.raises(trio.BrokenResourceError):
        box.send_nowait(2)
    with pytest.raises(trio.ClosedResourceError):
        box.receive_nowait()
    with pytest.raises(trio.ClosedResourceError):
        await box.receive()


async def test_a_cancelled_receive_takes_nothing_and_a_later_receive_gets_the_item() -> None:
    box = Mailbox[int](1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await box.receive()  # cancelled at its checkpoint, before waiting
    assert scope.cancelled_caught
    with trio.move_on_after(0.01) as waited:
        await box.receive()  # cancelled while waiting
    assert waited.cancelled_caught
    box.send_nowait(7)
    assert await box.receive() == 7


async def test_receive_is_a_checkpoint_even_when_an_item_is_ready() -> None:
    box = Mailbox[int](1)
    box.send_nowait(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await box.receive()
    assert scope.cancelled_caught
    assert box.receive_nowait() == 1  # the cancelled receive took nothing


async def test_a_second_receiver_is_refused() -> None:
    box = Mailbox[int](1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(box.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match="one receiving task"):
            await box.receive()
        box.send_nowait(1)
