"""A small in-memory SessionStore for the runtime's tests, with switches to make it misbehave.

It keeps the store contract (one owner, fencing checked on every write, typed errors) on the
trio clock, so lease expiry follows the MockClock.  Switches: ``fail_saves`` (the next N saves
raise PersistenceError), ``save_gate`` (each save waits for the event: it hangs, or is held in
flight, until the event is set or the save is cancelled), and
:meth:`take_over` (another owner takes the lease, as after an expiry).
"""

from __future__ import annotations

import trio

from livehandle import Lease, LeaseLost, PersistenceError, SessionOwned, SessionSnapshot


class FakeStore:
    """In-memory SessionStore; every saved snapshot is kept in ``saves`` as JSON text."""

    def __init__(self) -> None:
        self.snapshots: dict[str, str] = {}
        self.saves: list[tuple[str, int]] = []  # (snapshot JSON, fence) of every save done
        self.attempts = 0
        self.fail_saves = 0
        self.save_gate: trio.Event | None = None
        self.released: list[Lease] = []
        self.renewals = 0
        self._leases: dict[str, tuple[str, int, float]] = {}  # id -> (owner, fence, expires)
        self._fences: dict[str, int] = {}
        self.closed = False

    def _holder(self, session_id: str) -> tuple[str, int, float] | None:
        held = self._leases.get(session_id)
        if held is None or held[2] <= trio.current_time():
            return None
        return held

    def _check(self, lease: Lease) -> None:
        held = self._holder(lease.session_id)
        if held is None or held[0] != lease.owner or held[1] != lease.fence:
            raise LeaseLost("the lease is not held any more", session_id=lease.session_id)

    async def load(self, session_id: str) -> SessionSnapshot | None:
        await trio.lowlevel.checkpoint()
        text = self.snapshots.get(session_id)
        return None if text is None else SessionSnapshot.from_json(text)

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        self.attempts += 1
        await trio.lowlevel.checkpoint()
        if self.save_gate is not None:
            await self.save_gate.wait()
        if self.fail_saves:
            self.fail_saves -= 1
            raise PersistenceError("the fake store is down", session_id=snapshot.session_id)
        self._check(lease)
        text = snapshot.to_json()
        self.snapshots[snapshot.session_id] = text
        self.saves.append((text, lease.fence))

    async def delete(self, session_id: str, *, lease: Lease) -> None:
        await trio.lowlevel.checkpoint()
        self._check(lease)
        self.snapshots.pop(session_id, None)

    async def acquire(
        self, session_id: str, *, owner: str, ttl: float = 15.0, wait: float = 0.0
    ) -> Lease:
        deadline = trio.current_time() + wait
        while True:
            held = self._holder(session_id)
            if held is None or held[0] == owner:
                break
            if trio.current_time() >= deadline:
                raise SessionOwned(f"session {session_id!r} is held", session_id=session_id)
            await trio.sleep(min(0.1, deadline - trio.current_time()))
        fence = self._fences.get(session_id, 0) + 1
        self._fences[session_id] = fence
        self._leases[session_id] = (owner, fence, trio.current_time() + ttl)
        await trio.lowlevel.checkpoint()
        return Lease(session_id, owner, fence, ttl)

    async def renew(self, lease: Lease) -> Lease:
        await trio.lowlevel.checkpoint()
        self._check(lease)
        self.renewals += 1
        self._leases[lease.session_id] = (
            lease.owner,
            lease.fence,
            trio.current_time() + lease.ttl,
        )
        return lease

    async def release(self, lease: Lease) -> None:
        await trio.lowlevel.checkpoint()
        held = self._holder(lease.session_id)
        if held is not None and held[0] == lease.owner and held[1] == lease.fence:
            del self._leases[lease.session_id]
        self.released.append(lease)

    async def aclose(self) -> None:
        self.closed = True

    # -- switches -----------------------------------------------------------------------------

    def take_over(self, session_id: str, owner: str = "another-worker") -> None:
        """Another worker takes the session (as if the lease expired): the fence moves on."""
        fence = self._fences.get(session_id, 0) + 1
        self._fences[session_id] = fence
        self._leases[session_id] = (owner, fence, trio.current_time() + 3600)

    def held_by(self, session_id: str) -> str | None:
        held = self._holder(session_id)
        return None if held is None else held[0]

    def saved(self, session_id: str) -> SessionSnapshot | None:
        text = self.snapshots.get(session_id)
        return None if text is None else SessionSnapshot.from_json(text)
