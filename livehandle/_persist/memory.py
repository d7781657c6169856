"""MemoryStore: snapshots and leases in this process, for tests and single-worker services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle._errors import PersistenceError, SessionOwned
from livehandle._persist import leasing
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._persist.store import DEFAULT_LEASE_TTL, DEFAULT_SNAPSHOT_TTL

if TYPE_CHECKING:
    from livehandle._persist.leasing import LeaseRecord
    from livehandle._persist.store import Lease

__all__ = ["MemoryStore"]


class MemoryStore:
    """A :class:`~livehandle.SessionStore` that keeps everything in this process.

    It keeps the rules every store keeps (one owner, fencing, snapshot expiry), measured on the
    Trio clock (``trio.current_time()``), so a test on a ``MockClock`` can let leases and
    snapshots expire without waiting.  Snapshots are kept as their JSON text: what
    :meth:`load` returns is a new object each time, never the one that was saved, as with a
    store outside the process.  It holds one text and one lease record per session id it
    has seen; a lease record (a few numbers) stays after its snapshot is deleted, so that
    fencing versions never go back.

    Args:
        snapshot_ttl: seconds a snapshot is kept after its last save; an older one loads as
            None.  Defaults to the validity of a resumption handle (2 h).
    """

    def __init__(self, *, snapshot_ttl: float = DEFAULT_SNAPSHOT_TTL) -> None:
        self._snapshot_ttl = leasing.checked_ttl(snapshot_ttl, "a snapshot ttl")
        self._texts: dict[str, tuple[str, float]] = {}
        self._leases: dict[str, LeaseRecord] = {}
        self._released = trio.Event()
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryStore(sessions={len(self._texts)}, closed={self._closed})"

    async def _enter(self, session_id: str, what: str) -> None:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise PersistenceError(
                f"cannot {what} session {session_id!r}: the store is closed",
                session_id=session_id,
            )

    async def load(self, session_id: str) -> SessionSnapshot | None:
        """The newest snapshot of ``session_id``, or None (none saved, deleted, or expired)."""
        leasing.check_session_id(session_id)
        await self._enter(session_id, "load")
        kept = self._texts.get(session_id)
        if kept is None:
            return None
        text, saved_at = kept
        if trio.current_time() - saved_at >= self._snapshot_ttl:
            del self._texts[session_id]
            return None
        return SessionSnapshot.from_json(text)

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        """Keep ``snapshot`` as its session's newest (LeaseLost if ``lease`` is stale)."""
        if not isinstance(snapshot, SessionSnapshot):
            raise TypeError(f"expected a SessionSnapshot, got {type(snapshot).__name__}")
        session_id = snapshot.session_id
        await self._enter(session_id, "save")
        leasing.check_fence(
            self._leases.get(session_id), lease, session_id, "save", trio.current_time()
        )
        self._texts[session_id] = (snapshot.to_json(), trio.current_time())

    async def delete(self, session_id: str, *, lease: Lease) -> None:
        """Forget ``session_id``'s snapshot (LeaseLost if ``lease`` is stale)."""
        leasing.check_session_id(session_id)
        await self._enter(session_id, "delete")
        leasing.check_fence(
            self._leases.get(session_id), lease, session_id, "delete", trio.current_time()
        )
        self._texts.pop(session_id, None)

    async def acquire(
        self, session_id: str, *, owner: str, ttl: float = DEFAULT_LEASE_TTL, wait: float = 0.0
    ) -> Lease:
        """Take ``session_id``'s lease, waiting up to ``wait`` seconds for it to be free.

        A waiter wakes when the lease is released or when it expires, whichever is first.

        Raises:
            SessionOwned: the lease is still held when ``wait`` runs out.
        """
        leasing.check_session_id(session_id)
        owner = leasing.checked_owner(owner)
        seconds = leasing.checked_ttl(ttl)
        deadline = trio.current_time() + leasing.checked_wait(wait)
        await self._enter(session_id, "acquire")
        while True:
            now = trio.current_time()
            record = self._leases.get(session_id)
            try:
                record, lease = leasing.granted(record, session_id, owner, seconds, now)
            except SessionOwned:
                if now >= deadline or record is None:
                    raise
                released = self._released
                with trio.move_on_at(min(deadline, record.expires_at)):
                    await released.wait()
                await self._enter(session_id, "acquire")
                continue
            self._leases[session_id] = record
            return lease

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now (LeaseLost if it is no longer held)."""
        await self._enter(lease.session_id, "renew")
        now = trio.current_time()
        self._leases[lease.session_id] = leasing.renewed(
            self._leases.get(lease.session_id), lease, now
        )
        return lease

    async def release(self, lease: Lease) -> None:
        """Give ``lease`` up; nothing happens if it is no longer the session's lease."""
        await self._enter(lease.session_id, "release")
        record = leasing.released(self._leases.get(lease.session_id), lease)
        if record is not None:
            self._leases[lease.session_id] = record
            # Wake every waiter (they check again), then let the next ones wait anew.
            self._released.set()
            self._released = trio.Event()

    async def aclose(self) -> None:
        """Close the store: later calls raise PersistenceError.  Idempotent."""
        await trio.lowlevel.checkpoint()
        self._closed = True
        self._released.set()  # a waiting acquire finds the store closed at once
