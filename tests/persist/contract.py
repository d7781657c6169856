"""The rules every session store keeps, as checks any store's tests can run.

Each check is a plain async function taking a :class:`Kit`: a store opened for that check alone,
a ``sleep`` that lets time pass as the store measures it (``trio.sleep`` on a ``MockClock`` for
an in-memory store; real ``trio.sleep`` for stores on the wall clock), a short lease ttl and the
snapshot ttl the store was built with.  A store's test module runs every check of
:data:`CHECKS`::

    @pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
    async def test_contract(check: Check) -> None:
        async with make_kit() as kit:
            await check(kit)

The checks sleep only to let a lease or a snapshot expire (a wall-clock store cannot be told the
time), never to order tasks.  Session ids come from :meth:`Kit.sid`, so a store shared between
checks (one Redis server) can give each check its own ids through ``Kit.prefix``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import pytest
import trio

from livehandle._errors import LeaseLost, SessionOwned
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._persist.store import Lease, SessionStore
from livehandle._runtime.transcript import TranscriptTurn

__all__ = ["CHECKS", "Check", "Kit", "make_snapshot", "snapshot"]


@attrs.frozen
class Kit:
    """What a check needs: a fresh store and a way to let its time pass.

    Attributes:
        store: the store under test, used by this check alone (or with ids of its own).
        sleep: lets ``seconds`` pass as the store measures time.
        ttl: a short lease ttl; ``sleep(ttl * 1.5)`` lets such a lease expire.
        snapshot_ttl: the snapshot ttl ``store`` was built with.
        prefix: put before every session id this check uses.
    """

    store: SessionStore
    sleep: Callable[[float], Awaitable[object]]
    ttl: float
    snapshot_ttl: float
    prefix: str = ""

    def sid(self, name: str = "call-42") -> str:
        """The session id ``name`` of this check."""
        return f"{self.prefix}{name}"

    def elapsed(self, since: float) -> float:
        """Seconds since the Trio clock read ``since``."""
        return trio.current_time() - since


#: One check of the contract.
Check = Callable[[Kit], Awaitable[None]]


def snapshot(session_id: str = "call-42", **changes: object) -> SessionSnapshot:
    """A small snapshot of one typed turn; ``changes`` replace any of its fields."""
    fields: dict[str, object] = {
        "session_id": session_id,
        "state": {"cart": [1, 2], "name": "Ada"},
        "transcript": (TranscriptTurn(0, "hi", "hello", typed=True),),
        "turn_count": 1,
        "phase": "active",
        "resume_handle": "h1",
        "handle_issued_at": "2026-12-07T05:00:00Z",
        "telemetry": {"turns": 1},
        "config_fingerprint": "abc",
        "saved_at": "2026-12-07T05:00:01Z",
    }
    fields.update(changes)
    return SessionSnapshot(**fields)  # type: ignore[arg-type]


def make_snapshot(session_id: str, *, turn: int = 1, state: object = None) -> SessionSnapshot:
    """A snapshot of ``session_id`` after ``turn`` turns, told apart by its turn count."""
    return SessionSnapshot(
        session_id=session_id,
        state={"turn": turn, "cart": ["tea"], "note": state},
        transcript=tuple(
            TranscriptTurn(index, f"user {index}", f"model {index}", typed=False)
            for index in range(turn)
        ),
        turn_count=turn,
        phase="active",
        resume_handle=f"handle-{turn}",
        handle_issued_at="2026-12-07T05:00:00Z",
        telemetry={"turns": turn},
        config_fingerprint="fingerprint",
        saved_at="2026-12-07T05:00:01Z",
    )


async def check_unknown_id_loads_as_none(kit: Kit) -> None:
    assert await kit.store.load(kit.sid("never-saved")) is None


async def check_save_and_load_round_trip(kit: Kit) -> None:
    sid = kit.sid()
    lease = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 20)
    first = make_snapshot(sid, turn=1, state="é ☎ \U0001f600")
    await kit.store.save(first, lease=lease)
    loaded = await kit.store.load(sid)
    assert loaded == first
    again = await kit.store.load(sid)
    assert again == first and again is not loaded  # every load is a fresh object
    second = make_snapshot(sid, turn=2)
    await kit.store.save(second, lease=lease)
    assert await kit.store.load(sid) == second
    assert await kit.store.load(kit.sid("other")) is None  # ids do not leak into each other


async def check_acquire_release_and_acquire_again(kit: Kit) -> None:
    sid = kit.sid()
    first = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 20)
    assert (first.session_id, first.owner, first.ttl) == (sid, "a", kit.ttl * 20)
    await kit.store.release(first)
    second = await kit.store.acquire(sid, owner="b", ttl=kit.ttl * 20)
    assert second.owner == "b" and second.fence > first.fence
    await kit.store.release(second)
    await kit.store.release(second)  # releasing twice is harmless


async def check_a_second_owner_is_refused_at_once(kit: Kit) -> None:
    sid = kit.sid()
    held = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 20)
    started = trio.current_time()
    with pytest.raises(SessionOwned) as caught:
        await kit.store.acquire(sid, owner="b", ttl=kit.ttl * 20)
    assert kit.elapsed(started) < kit.ttl * 10  # at once: not waiting for the lease to end
    assert caught.value.session_id == sid
    assert await kit.store.renew(held) == held  # the holder still holds it
    other = await kit.store.acquire(kit.sid("other"), owner="b", ttl=kit.ttl)
    assert other.session_id == kit.sid("other")  # another session is free


async def check_concurrent_acquires_have_one_winner(kit: Kit) -> None:
    sid = kit.sid()
    won: list[Lease] = []
    refused: list[SessionOwned] = []

    async def take(owner: str) -> None:
        try:
            won.append(await kit.store.acquire(sid, owner=owner, ttl=kit.ttl * 20))
        except SessionOwned as exc:
            refused.append(exc)

    async with trio.open_nursery() as nursery:
        for index in range(8):
            nursery.start_soon(take, f"worker-{index}")
    assert len(won) == 1 and len(refused) == 7


async def check_wait_succeeds_when_the_holder_releases(kit: Kit) -> None:
    sid = kit.sid()
    held = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 100)
    waiting = trio.Event()
    got: list[Lease] = []

    async def wait_for_it() -> None:
        waiting.set()
        got.append(await kit.store.acquire(sid, owner="b", ttl=kit.ttl * 20, wait=kit.ttl * 50))

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_it)
        await waiting.wait()
        await kit.sleep(kit.ttl)  # the holder keeps it a while: the other one must wait
        assert not got
        await kit.store.release(held)
    assert got[0].owner == "b" and got[0].fence > held.fence
    assert kit.ttl <= kit.elapsed(started) < kit.ttl * 50


async def check_wait_succeeds_when_the_lease_expires(kit: Kit) -> None:
    sid = kit.sid()
    held = await kit.store.acquire(sid, owner="a", ttl=kit.ttl)  # never renewed: it expires
    started = trio.current_time()
    taken = await kit.store.acquire(sid, owner="b", ttl=kit.ttl * 20, wait=kit.ttl * 50)
    assert taken.owner == "b" and taken.fence > held.fence
    assert kit.elapsed(started) < kit.ttl * 50
    with pytest.raises(LeaseLost):
        await kit.store.renew(held)


async def check_wait_runs_out_with_session_owned(kit: Kit) -> None:
    sid = kit.sid()
    held = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 100)
    started = trio.current_time()
    with pytest.raises(SessionOwned):
        await kit.store.acquire(sid, owner="b", ttl=kit.ttl, wait=kit.ttl)
    assert kit.elapsed(started) >= kit.ttl * 0.99
    assert await kit.store.renew(held) == held


async def check_renew_extends_the_lease(kit: Kit) -> None:
    sid = kit.sid()
    held = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 3)
    for _ in range(4):  # 4.8 ttl in all: more than the lease lasts without renewal
        await kit.sleep(kit.ttl * 1.2)
        renewed = await kit.store.renew(held)
        assert (renewed.owner, renewed.fence) == (held.owner, held.fence)
    with pytest.raises(SessionOwned):
        await kit.store.acquire(sid, owner="b", ttl=kit.ttl)


async def check_renew_after_expiry_or_takeover_is_lease_lost(kit: Kit) -> None:
    sid = kit.sid()
    lapsed = await kit.store.acquire(sid, owner="a", ttl=kit.ttl)
    await kit.sleep(kit.ttl * 1.5)
    with pytest.raises(LeaseLost) as caught:
        await kit.store.renew(lapsed)  # expired, though nobody took it
    assert caught.value.session_id == sid
    old = await kit.store.acquire(sid, owner="a", ttl=kit.ttl)
    await kit.sleep(kit.ttl * 1.5)
    new = await kit.store.acquire(sid, owner="b", ttl=kit.ttl * 20)
    with pytest.raises(LeaseLost):
        await kit.store.renew(old)
    assert await kit.store.renew(new) == new
    await kit.store.release(old)  # a lost lease's release leaves the new owner alone
    with pytest.raises(SessionOwned):
        await kit.store.acquire(sid, owner="c", ttl=kit.ttl)


async def check_a_stale_lease_cannot_overwrite_or_delete(kit: Kit) -> None:
    sid = kit.sid()
    old = await kit.store.acquire(sid, owner="a", ttl=kit.ttl)
    await kit.store.save(make_snapshot(sid, turn=1), lease=old)
    await kit.sleep(kit.ttl * 1.5)  # the old worker is paused past its lease
    new = await kit.store.acquire(sid, owner="b", ttl=kit.ttl * 20)
    newer = make_snapshot(sid, turn=2)
    await kit.store.save(newer, lease=new)
    with pytest.raises(LeaseLost) as caught:
        await kit.store.save(make_snapshot(sid, turn=3), lease=old)
    assert caught.value.session_id == sid
    with pytest.raises(LeaseLost):
        await kit.store.delete(sid, lease=old)
    assert await kit.store.load(sid) == newer  # the new owner's snapshot stays
    forged = Lease(sid, "b", new.fence + 1, kit.ttl)  # a fence never given is stale too
    with pytest.raises(LeaseLost):
        await kit.store.save(make_snapshot(sid, turn=4), lease=forged)
    assert await kit.store.load(sid) == newer


async def check_a_lease_of_another_session_is_refused(kit: Kit) -> None:
    mine = await kit.store.acquire(kit.sid("mine"), owner="a", ttl=kit.ttl * 20)
    theirs = kit.sid("theirs")
    await kit.store.acquire(theirs, owner="b", ttl=kit.ttl * 20)  # same fence as mine
    with pytest.raises(ValueError, match="with the lease of session"):
        await kit.store.save(make_snapshot(theirs), lease=mine)
    with pytest.raises(ValueError, match="with the lease of session"):
        await kit.store.delete(theirs, lease=mine)
    assert await kit.store.load(theirs) is None


async def check_fences_strictly_increase(kit: Kit) -> None:
    sid = kit.sid()
    fences = []
    for owner in ("a", "b", "a"):
        lease = await kit.store.acquire(sid, owner=owner, ttl=kit.ttl * 20)
        fences.append(lease.fence)
        await kit.store.release(lease)
    lease = await kit.store.acquire(sid, owner="c", ttl=kit.ttl)
    fences.append(lease.fence)
    await kit.sleep(kit.ttl * 1.5)  # expired, not released
    lease = await kit.store.acquire(sid, owner="c", ttl=kit.ttl)
    fences.append(lease.fence)
    await kit.store.delete(sid, lease=lease)  # deleting the snapshot keeps the fence
    await kit.store.release(lease)
    fences.append((await kit.store.acquire(sid, owner="d", ttl=kit.ttl)).fence)
    assert fences == sorted(set(fences)), fences


async def check_delete_forgets_the_snapshot(kit: Kit) -> None:
    sid = kit.sid()
    lease = await kit.store.acquire(sid, owner="a", ttl=kit.ttl * 20)
    await kit.store.delete(sid, lease=lease)  # nothing saved yet: harmless
    await kit.store.save(make_snapshot(sid), lease=lease)
    await kit.store.delete(sid, lease=lease)
    assert await kit.store.load(sid) is None
    await kit.store.save(make_snapshot(sid, turn=5), lease=lease)  # it can be saved again
    loaded = await kit.store.load(sid)
    assert loaded is not None and loaded.turn_count == 5


async def check_a_snapshot_expires_its_ttl_after_its_last_save(kit: Kit) -> None:
    sid = kit.sid()
    lease = await kit.store.acquire(sid, owner="a", ttl=kit.snapshot_ttl * 20)
    await kit.store.save(make_snapshot(sid, turn=1), lease=lease)
    await kit.sleep(kit.snapshot_ttl * 0.6)
    assert await kit.store.load(sid) is not None
    await kit.store.save(make_snapshot(sid, turn=2), lease=lease)  # the clock starts again
    await kit.sleep(kit.snapshot_ttl * 0.6)
    loaded = await kit.store.load(sid)
    assert loaded is not None and loaded.turn_count == 2
    await kit.sleep(kit.snapshot_ttl * 0.6)
    assert await kit.store.load(sid) is None


async def check_aclose_is_idempotent(kit: Kit) -> None:
    await kit.store.load(kit.sid())
    await kit.store.aclose()
    await kit.store.aclose()


#: Every check, in the order they are listed above.
CHECKS: tuple[Check, ...] = (
    check_unknown_id_loads_as_none,
    check_save_and_load_round_trip,
    check_acquire_release_and_acquire_again,
    check_a_second_owner_is_refused_at_once,
    check_concurrent_acquires_have_one_winner,
    check_wait_succeeds_when_the_holder_releases,
    check_wait_succeeds_when_the_lease_expires,
    check_wait_runs_out_with_session_owned,
    check_renew_extends_the_lease,
    check_renew_after_expiry_or_takeover_is_lease_lost,
    check_a_stale_lease_cannot_overwrite_or_delete,
    check_a_lease_of_another_session_is_refused,
    check_fences_strictly_increase,
    check_delete_forgets_the_snapshot,
    check_a_snapshot_expires_its_ttl_after_its_last_save,
    check_aclose_is_idempotent,
)
