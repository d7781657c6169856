"""Findings of the second hostile review of issue 14 (persistence, stores, leases, restore).

Each test asserts what the issue or the docs promise and fails on today's code; it is marked
``xfail(strict=True)`` until the lead fixes it, so a fix shows up as an XPASS to unmark.
"""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    FileStore,
    Lease,
    LeaseLost,
    LiveConfig,
    LiveEvent,
    MemoryStore,
    PersistenceError,
    SessionSnapshot,
    SnapshotMismatch,
    TranscriptTurn,
    open_live_session,
)
from livehandle._persist.restore import CONTEXT_CHARS, context_summary
from livehandle.testing import LiveEmulator
from tests.persist.fakes import FakeStore
from tests.persist.test_runtime_restore import answer_of, ask, first_worker, open_on
from tests.testing.helpers import until

TEXT = LiveConfig(response_modality="TEXT", session_resumption=True, instruction="Be brief.")


def snapshot_of(turns: tuple[TranscriptTurn, ...], fingerprint: str = "f") -> SessionSnapshot:
    return SessionSnapshot(
        session_id="call-42",
        state={},
        transcript=turns,
        turn_count=len(turns),
        phase="active",
        resume_handle=None,
        handle_issued_at=None,
        telemetry={},
        config_fingerprint=fingerprint,
        saved_at="2026-12-07T00:00:00+00:00",
    )


# -- 1 (high): with auto_resume, a refused saved handle fails the open instead of starting fresh


async def test_with_auto_resume_a_refused_handle_still_starts_fresh_with_the_context(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    config = attrs.evolve(TEXT, auto_resume=True)
    async with LiveEmulator().in_memory() as emu:
        await first_worker(emu, store, config)
        saved = store.saved("call-42")
        assert saved is not None
        store.snapshots["call-42"] = attrs.evolve(saved, resume_handle="emu-unknown").to_json()
        async with open_on(emu, config, session_id="call-42", store=store) as handle:
            events = handle.events()
            restored = (await until(events, LiveEvent.Restored))[-1]
            assert restored.fresh is True and restored.turn_count == 2
            assert handle.state.get("name") == "Ada"
            assert answer_of(await ask(handle, events, "three")) == "You said: three"


# -- 2 (high): a partitioned worker never ends its session once its lease has run out -----------


class Partitioned(MemoryStore):
    """A MemoryStore that worker A cannot reach (renew and save fail) once ``cut`` is set."""

    cut = False

    async def renew(self, lease: Lease) -> Lease:
        if self.cut:
            await trio.lowlevel.checkpoint()
            raise PersistenceError("renew: connection timed out", session_id=lease.session_id)
        return await super().renew(lease)

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        if self.cut:
            await trio.lowlevel.checkpoint()
            raise PersistenceError("save: connection timed out", session_id=lease.session_id)
        await super().save(snapshot, lease=lease)


async def test_a_partitioned_worker_ends_its_session_when_its_lease_runs_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = Partitioned()
    async with (
        LiveEmulator().in_memory() as emu,
        open_on(emu, TEXT, session_id="call-42", store=store, lease_ttl=15.0) as a,
    ):
        store.cut = True
        await trio.sleep(20.0)  # A's lease ran out (it could not renew)
        taken = await store.acquire("call-42", owner="worker-b", ttl=15.0)
        assert taken.fence == 2  # worker B owns the call now
        with trio.move_on_after(30.0) as waited, pytest.raises(LeaseLost):
            await a.done()
        assert not waited.cancelled_caught, "worker A is still live 50 s after its lease"


# -- 3 (medium): a restored live session says it is disconnected ------------------------------


async def test_a_restored_live_session_is_not_marked_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu:
        await first_worker(emu, store)
        saved = store.saved("call-42")
        assert saved is not None and saved.state.get("session:disconnected") is True
        async with open_on(emu, TEXT, session_id="call-42", store=store) as handle:
            events = handle.events()
            restored = (await until(events, LiveEvent.Restored))[-1]
            assert restored.fresh is False
            assert handle.state.get("name") == "Ada"  # the application's State came back
            assert answer_of(await ask(handle, events, "three")) == "You said: three"
            assert handle.state.get("session:disconnected") is not True


# -- 4 (medium): a wrong `store=` is not refused with a clear typed error -----------------------


async def test_a_store_that_is_not_a_session_store_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="store"):
        async with open_live_session(TEXT, endpoint="ws://x", store="redis://h:6379/0"):  # type: ignore[arg-type]
            pass


# -- 5 (medium): a failing release hides the SnapshotMismatch the caller must see -------------


class ReleaseFails(MemoryStore):
    """A MemoryStore whose backend is down for releases only."""

    async def release(self, lease: Lease) -> None:
        await trio.lowlevel.checkpoint()
        raise PersistenceError("release: connection refused", session_id=lease.session_id)


async def test_a_failed_release_does_not_hide_the_snapshot_mismatch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = ReleaseFails()
    lease = await store.acquire("call-42", owner="old-worker", ttl=1.0)
    await store.save(snapshot_of((), fingerprint="model=a;tools=b;instruction=c"), lease=lease)
    await trio.sleep(2.0)  # the old worker's lease expired (its release failed too)
    async with LiveEmulator().in_memory() as emu:
        with pytest.raises(SnapshotMismatch):
            async with open_live_session(
                TEXT,
                endpoint=emu.url,
                transport=emu.memory_transport(),
                session_id="call-42",
                store=store,
            ):
                pass


# -- 6 (low): the context summary is longer than its documented bound ---------------------------


def test_the_context_summary_never_exceeds_its_character_bound() -> None:
    # 20 turns of exactly 200 characters each ("User: " + 194): 4000 characters of text.
    turns = tuple(TranscriptTurn(i, "u" * 194, "") for i in range(20))
    summary = context_summary(snapshot_of(turns))
    assert summary is not None
    heading, _, body = summary.partition("\n")
    assert heading.startswith("This conversation continues")
    assert len(body) <= CONTEXT_CHARS


# -- 7 (low): FileStore("") silently stores in the working directory ---------------------------


def test_an_empty_file_store_directory_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="director"):
        FileStore("")
