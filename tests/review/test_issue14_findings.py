"""Findings of the fresh-eyes review of issue 14 (snapshots, stores, leases, restore).

Each xfail test asserts what the issue or the docs promise and fails on today's code; it is
marked ``xfail(strict=True)`` until the lead fixes it, so a fix shows up as an XPASS to unmark.
The tests without a mark pin down behaviour the review checked and found right.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    Lease,
    LeaseLost,
    LiveConfig,
    LiveEvent,
    LiveHandle,
    MemoryStore,
    SessionSnapshot,
    open_live_session,
)
from livehandle._persist.saver import SnapshotSaver
from livehandle._persist.store import DEFAULT_LEASE_TTL
from livehandle._runtime.telemetry import SessionTelemetry
from livehandle.testing import LiveEmulator, Scenario
from tests.testing.helpers import until

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

TEXT = LiveConfig(response_modality="TEXT", session_resumption=True, instruction="Be brief.")


def open_on(
    emu: LiveEmulator, store: MemoryStore, config: LiveConfig = TEXT
) -> AbstractAsyncContextManager[LiveHandle]:
    return open_live_session(
        config,
        endpoint=emu.url,
        transport=emu.memory_transport(),
        session_id="call-42",
        store=store,
    )


def snapshot_of(session_id: str, turn_count: int) -> SessionSnapshot:
    return SessionSnapshot(
        session_id=session_id,
        state={},
        transcript=(),
        turn_count=turn_count,
        phase="active",
        resume_handle=None,
        handle_issued_at=None,
        telemetry={},
        config_fingerprint="model=a;tools=b;instruction=c",
        saved_at="2026-12-07T00:00:00+00:00",
    )


class FixedSource:
    """A SnapshotSource stand-in: every take() is the next turn."""

    session_id = "call-42"

    def __init__(self) -> None:
        self.turns = 0

    def take(self) -> SessionSnapshot:
        self.turns += 1
        return snapshot_of(self.session_id, self.turns)


# -- 1 (high): the lease can expire before its first renewal ----------------------------------


async def test_a_slow_setup_does_not_cost_the_session_its_lease(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    config = attrs.evolve(TEXT, setup_timeout=20.0)  # a setup of 11 s is allowed
    emulator = LiveEmulator(Scenario(setup_delay=11.0))
    async with emulator.in_memory() as emu, open_on(emu, store, config) as handle:
        await trio.sleep(2 * DEFAULT_LEASE_TTL)  # a call of 30 s, nothing else going on
        persistence = handle.telemetry.persistence
        assert "lease_lost" not in persistence, persistence


# -- 2 (medium): one slow renew loses the lease, though the store came back --------------------


class SlowFirstRenew(MemoryStore):
    """A MemoryStore whose first renew hangs (a Redis socket timeout), then recovers."""

    def __init__(self) -> None:
        super().__init__()
        self.renews = 0

    async def renew(self, lease: Lease) -> Lease:
        self.renews += 1
        if self.renews == 1:
            await trio.sleep(60)  # cancelled by the saver's own timeout (ttl / 3)
        return await super().renew(lease)


async def test_one_slow_renew_is_retried_before_the_lease_expires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = SlowFirstRenew()
    async with LiveEmulator().in_memory() as emu, open_on(emu, store) as handle:
        await trio.sleep(2 * DEFAULT_LEASE_TTL)
        persistence = handle.telemetry.persistence
    assert store.renews >= 2
    assert persistence.get("renew_failed") == 1
    assert "lease_lost" not in persistence, persistence


# -- 3 (medium): disconnect waits for an in-flight save without a bound ------------------------


class FinishingSaves(MemoryStore):
    """A store that finishes a started write before it honours a cancellation.

    So do FileStore and RedisStore: their threads are never abandoned (RedisStore documents
    that a cancelled save waits for its script's outcome, up to ``timeout``, 5 s by default;
    FileStore's thread may wait 10 s for a session's file lock).
    """

    def __init__(self, write_time: float) -> None:
        super().__init__()
        self.write_time = write_time  # the first save's; later ones are instant
        self.saves = 0

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        self.saves += 1
        if self.saves == 1:
            with trio.CancelScope(shield=True):
                await trio.sleep(self.write_time)
        await super().save(snapshot, lease=lease)


async def ignore(error: LeaseLost) -> None:
    await trio.lowlevel.checkpoint()


async def test_disconnect_is_bounded_while_a_save_is_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FinishingSaves(write_time=30.0)
    lease = await store.acquire("call-42", owner="a", ttl=120.0)
    telemetry = SessionTelemetry()
    saver = SnapshotSaver(
        store,
        lease,
        FixedSource(),  # type: ignore[arg-type]
        emit=lambda event: None,
        telemetry=telemetry,
        on_lease_lost=ignore,
        save_timeout=60.0,
        final_timeout=1.0,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(saver.run)
        saver.offer()
        await trio.sleep(1.0)  # the save is in flight
        started = trio.current_time()
        await saver.finish()
        took = trio.current_time() - started
    # The final save and the release are bounded by final_timeout each.
    assert took <= 2 * 1.0 + 0.5, f"finish() took {took:.1f} s"


# -- 4 (low): MemoryStore and FileStore let an expired lease write; RedisStore does not ---------


async def test_an_expired_lease_cannot_save_in_any_store(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    lease = await store.acquire("call-42", owner="a", ttl=1.0)
    await trio.sleep(5.0)  # expired, and nobody took the session meanwhile
    with pytest.raises(LeaseLost):
        await store.save(snapshot_of("call-42", 1), lease=lease)


# -- checked and found right -------------------------------------------------------------------

CANARY = "CANARY-r14-secret"


async def test_a_snapshot_carries_no_key_given_to_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(
            TEXT,
            api_key=f"AIzaSy{CANARY}",
            endpoint=emu.url,
            transport=emu.memory_transport(),
            session_id="call-42",
            store=store,
        ) as handle,
    ):
        events = handle.events()
        await handle.send_text("hi")
        await until(events, LiveEvent.TurnComplete)
        taken = handle.snapshot().to_json()
    saved = await store.load("call-42")
    assert saved is not None
    assert CANARY not in taken
    assert CANARY not in saved.to_json()
