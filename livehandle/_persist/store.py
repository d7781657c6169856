"""The contract every session store keeps: snapshots by session id, and a fenced lease.

A store keeps the newest :class:`~livehandle.SessionSnapshot` of each session and the lease that
says which live worker owns the session.  Every store (memory, file, Redis) keeps the same rules:

* **One owner.**  :meth:`SessionStore.acquire` gives a :class:`Lease` to one owner at a time; a
  second owner gets :class:`~livehandle.SessionOwned` at once, or after waiting up to ``wait``
  seconds for the lease to be released or to expire.  A lease expires ``ttl`` seconds after it
  was taken or last renewed, so a worker that dies frees its sessions.
* **Fencing.**  Every acquire of a session id gets a fencing version larger than any given
  before for that id (it never goes back, even after an expiry).  :meth:`SessionStore.save` and
  :meth:`SessionStore.delete` check it atomically with the write: a lease older than the newest
  one is refused with :class:`~livehandle.LeaseLost`, so a worker that was paused or
  partitioned can never overwrite what the new owner saved.
* **Failures are typed.**  A store that cannot reach its backend raises
  :class:`~livehandle.PersistenceError` (or a subclass); never a backend's own exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from livehandle._persist.snapshot import SessionSnapshot

__all__ = ["DEFAULT_LEASE_TTL", "DEFAULT_SNAPSHOT_TTL", "Lease", "SessionStore"]

#: Seconds a lease lasts without renewal (a dead worker's sessions are free after this).
DEFAULT_LEASE_TTL = 15.0
#: Seconds a snapshot is kept after its last save: a resumption handle's validity (2 h).
DEFAULT_SNAPSHOT_TTL = 7200.0


@attrs.frozen
class Lease:
    """The right to own one session, held by one worker until it is released or expires.

    Attributes:
        session_id: the session it is for.
        owner: who holds it (a worker's unique token, e.g. host, process and a random part).
        fence: the fencing version: larger than that of every earlier lease of ``session_id``.
        ttl: seconds it lasts from its last acquire or renewal.
    """

    session_id: str
    owner: str
    fence: int
    ttl: float


@runtime_checkable
class SessionStore(Protocol):
    """Where snapshots live, and who owns each session (see the module docstring for the rules)."""

    async def load(self, session_id: str) -> SessionSnapshot | None:
        """The newest snapshot of ``session_id``, or None when there is none (or it expired)."""
        ...

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        """Keep ``snapshot`` as the newest of its session.

        Raises:
            LeaseLost: ``lease`` is not the newest lease of the session (fencing).
            PersistenceError: the backend failed.
        """
        ...

    async def delete(self, session_id: str, *, lease: Lease) -> None:
        """Forget ``session_id``'s snapshot (fenced like :meth:`save`)."""
        ...

    async def acquire(
        self, session_id: str, *, owner: str, ttl: float = DEFAULT_LEASE_TTL, wait: float = 0.0
    ) -> Lease:
        """Take the lease of ``session_id`` for ``owner``.

        Raises:
            SessionOwned: another owner holds it (at once, or after ``wait`` seconds).
        """
        ...

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now.

        Raises:
            LeaseLost: it expired or another owner took the session meanwhile.
        """
        ...

    async def release(self, lease: Lease) -> None:
        """Give the lease up (nothing happens if it is no longer held by its owner)."""
        ...

    async def aclose(self) -> None:
        """Release the store's own resources (connections, threads); idempotent."""
        ...
