"""The lease rules every local store applies: who holds a session, and which fence is newest.

:class:`LeaseRecord` is what a store keeps per session id, and the functions here are the only
way a record changes.  They are pure: the caller passes the clock reading (the Trio clock in
memory, the wall clock in files) and keeps the record however it likes, under whatever lock makes
its read-modify-write atomic.  So the in-memory and the file store cannot disagree on a rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from livehandle._errors import LeaseLost, SessionOwned

if TYPE_CHECKING:
    from livehandle._persist.store import Lease

__all__ = [
    "LeaseRecord",
    "check_fence",
    "check_session_id",
    "checked_owner",
    "checked_ttl",
    "checked_wait",
    "granted",
    "released",
    "renewed",
]


@attrs.frozen
class LeaseRecord:
    """One session id's lease as a store keeps it.

    Attributes:
        fence: the newest fencing version given for the session (0: never acquired).  It never
            goes back, also not when the lease is released or expires.
        owner: who holds the lease, or None once it was released.
        expires_at: the clock reading at which the holder's lease ends.
    """

    fence: int = 0
    owner: str | None = None
    expires_at: float = 0.0

    def held(self, now: float) -> bool:
        """Whether some owner holds the lease at clock reading ``now``."""
        return self.owner is not None and now < self.expires_at

    def holds(self, lease: Lease, now: float) -> bool:
        """Whether ``lease`` is the lease held at ``now`` (owner and fence both match)."""
        return self.held(now) and self.owner == lease.owner and self.fence == lease.fence


def check_session_id(session_id: object) -> str:
    """``session_id`` if it is a non-empty string (TypeError/ValueError otherwise)."""
    if not isinstance(session_id, str):
        raise TypeError(f"a session id must be a string, got {type(session_id).__name__}")
    if not session_id:
        raise ValueError("a session id must not be empty")
    return session_id


def checked_owner(owner: object) -> str:
    """``owner`` if it is a non-empty string (TypeError/ValueError otherwise)."""
    if not isinstance(owner, str):
        raise TypeError(f"a lease owner must be a string, got {type(owner).__name__}")
    if not owner:
        raise ValueError("a lease owner must not be empty")
    return owner


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return float(value)


def checked_ttl(ttl: object, what: str = "a lease ttl") -> float:
    """``ttl`` as seconds if it is a finite number above zero (TypeError/ValueError otherwise)."""
    seconds = _seconds(ttl, what)
    if seconds <= 0:
        raise ValueError(f"{what} must be above zero, got {ttl!r}")
    return seconds


def checked_wait(wait: object) -> float:
    """``wait`` as seconds if it is finite and not negative (TypeError/ValueError otherwise)."""
    seconds = _seconds(wait, "an acquire wait")
    if seconds < 0:
        raise ValueError(f"an acquire wait must not be negative, got {wait!r}")
    return seconds


def granted(
    record: LeaseRecord | None, session_id: str, owner: str, ttl: float, now: float
) -> tuple[LeaseRecord, Lease]:
    """The record and lease after ``owner`` takes the lease of ``session_id`` at ``now``.

    The new lease's fence is one more than the newest before it.  A lease that is held (by any
    owner, this one too: one session is opened once) cannot be taken.

    Raises:
        SessionOwned: the lease is held until ``record.expires_at``.
    """
    from livehandle._persist.store import Lease

    record = record or LeaseRecord()
    if record.held(now):
        raise SessionOwned(
            f"session {session_id!r} is held by another worker "
            f"(its lease ends in {record.expires_at - now:.3g} s unless renewed)",
            session_id=session_id,
        )
    fence = record.fence + 1
    return LeaseRecord(fence, owner, now + ttl), Lease(session_id, owner, fence, ttl)


def renewed(record: LeaseRecord | None, lease: Lease, now: float) -> LeaseRecord:
    """The record after ``lease`` is extended by its ttl from ``now``.

    Raises:
        LeaseLost: ``lease`` is no longer held (it expired, was released, or was taken over).
    """
    if record is None or not record.holds(lease, now):
        raise LeaseLost(
            f"the lease of session {lease.session_id!r} (fence {lease.fence}) is no longer "
            "held: it expired, was released, or another worker took the session",
            session_id=lease.session_id,
        )
    return attrs.evolve(record, expires_at=now + lease.ttl)


def released(record: LeaseRecord | None, lease: Lease) -> LeaseRecord | None:
    """The record after ``lease`` is given up, or None when it is not the recorded lease.

    The fence stays: the next acquire still gets a larger one.
    """
    if record is None or record.owner != lease.owner or record.fence != lease.fence:
        return None
    return LeaseRecord(record.fence)


def check_fence(
    record: LeaseRecord | None, lease: Lease, session_id: str, what: str, now: float
) -> None:
    """Refuse to ``what`` (``"save"``, ``"delete"``) ``session_id`` unless ``lease`` is held.

    A lease may write while it is the one held at ``now``: the newest (fencing: once another
    worker acquired the session, the old lease can never overwrite what the new one wrote) and
    not expired (a worker paused past its ttl may already have been replaced by the time its
    write lands; every store refuses it the same way).

    Raises:
        ValueError: ``lease`` is the lease of another session.
        LeaseLost: ``lease`` is not the newest lease of ``session_id``, or it expired.
    """
    if lease.session_id != session_id:
        raise ValueError(
            f"cannot {what} session {session_id!r} with the lease of session {lease.session_id!r}"
        )
    newest = record.fence if record is not None else 0
    if lease.fence != newest:
        raise LeaseLost(
            f"cannot {what} session {session_id!r}: the lease with fence {lease.fence} is stale "
            f"(the newest is {newest}); another worker owns the session",
            session_id=session_id,
        )
    if record is None or not record.holds(lease, now):
        raise LeaseLost(
            f"cannot {what} session {session_id!r}: the lease with fence {lease.fence} expired "
            "or was released",
            session_id=session_id,
        )
