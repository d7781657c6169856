"""MemoryStore: the store contract on a mock clock, and what is particular to memory."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from livehandle._errors import PersistenceError, SessionOwned
from livehandle._persist.memory import MemoryStore
from livehandle._persist.store import DEFAULT_SNAPSHOT_TTL, SessionStore
from tests.persist.contract import CHECKS, Check, Kit, make_snapshot


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
async def test_the_store_contract(check: Check, autojump_clock: trio.testing.MockClock) -> None:
    store = MemoryStore()
    await check(Kit(store, trio.sleep, ttl=15.0, snapshot_ttl=DEFAULT_SNAPSHOT_TTL))
    await store.aclose()


def test_a_memory_store_is_a_session_store() -> None:
    assert isinstance(MemoryStore(), SessionStore)


async def test_a_snapshot_ttl_can_be_set(autojump_clock: trio.testing.MockClock) -> None:
    store = MemoryStore(snapshot_ttl=60)
    lease = await store.acquire("s", owner="a")
    await store.save(make_snapshot("s"), lease=lease)
    await trio.sleep(59.9)
    assert await store.load("s") is not None
    await trio.sleep(0.1)
    assert await store.load("s") is None
    assert "sessions=0" in repr(store)  # an expired snapshot is dropped when found


async def test_a_waiter_wakes_at_the_moment_the_lease_expires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    await store.acquire("s", owner="a", ttl=10)
    started = trio.current_time()
    await store.acquire("s", owner="b", ttl=10, wait=100)
    assert trio.current_time() - started == pytest.approx(10)


async def test_a_waiter_wakes_at_the_moment_of_release(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    held = await store.acquire("s", owner="a", ttl=100)
    got = []

    async def wait_for_it() -> None:
        got.append(await store.acquire("s", owner="b", wait=50))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_it)
        await trio.sleep(7)
        assert not got
        released_at = trio.current_time()
        await store.release(held)
    assert got[0].owner == "b" and trio.current_time() == released_at


async def test_the_same_owner_cannot_hold_a_session_twice(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    await store.acquire("s", owner="a")
    with pytest.raises(SessionOwned, match="'s' is held by another worker"):
        await store.acquire("s", owner="a")


async def test_a_closed_store_refuses_work_and_wakes_its_waiters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    held = await store.acquire("s", owner="a", ttl=100)
    failures: list[PersistenceError] = []

    async def wait_for_it() -> None:
        with pytest.raises(PersistenceError, match="the store is closed") as caught:
            await store.acquire("s", owner="b", wait=50)
        failures.append(caught.value)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_it)
        await trio.testing.wait_all_tasks_blocked()
        await store.aclose()
    assert len(failures) == 1 and trio.current_time() == started
    for call in (store.load("s"), store.release(held), store.renew(held)):
        with pytest.raises(PersistenceError, match="the store is closed"):
            await call


@pytest.mark.parametrize(
    ("kwargs", "error", "reason"),
    [
        ({"session_id": 5}, TypeError, "a session id must be a string"),
        ({"session_id": ""}, ValueError, "a session id must not be empty"),
        ({"owner": None}, TypeError, "a lease owner must be a string"),
        ({"owner": ""}, ValueError, "a lease owner must not be empty"),
        ({"ttl": 0}, ValueError, "a lease ttl must be above zero"),
        ({"ttl": float("inf")}, ValueError, "a lease ttl must be finite"),
        ({"ttl": True}, TypeError, "a lease ttl must be a number"),
        ({"wait": -1}, ValueError, "an acquire wait must not be negative"),
        ({"wait": "1"}, TypeError, "an acquire wait must be a number"),
    ],
)
async def test_bad_acquire_arguments_are_typed_errors(
    kwargs: dict[str, object], error: type[Exception], reason: str
) -> None:
    arguments: dict[str, object] = {"session_id": "s", "owner": "a", "ttl": 1.0, "wait": 0.0}
    arguments.update(kwargs)
    with pytest.raises(error, match=reason):
        await MemoryStore().acquire(**arguments)  # type: ignore[arg-type]


def test_a_bad_snapshot_ttl_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="a snapshot ttl must be above zero"):
        MemoryStore(snapshot_ttl=-1)


async def test_only_a_snapshot_can_be_saved() -> None:
    store = MemoryStore()
    lease = await store.acquire("s", owner="a")
    with pytest.raises(TypeError, match="expected a SessionSnapshot, got dict"):
        await store.save({"session_id": "s"}, lease=lease)  # type: ignore[arg-type]
