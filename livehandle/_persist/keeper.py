"""LeaseKeeper: renews one session's lease from the moment it is taken until it is given up.

It starts right after the lease is acquired, before the Gemini session connects, so a slow
connect or setup cannot outlast the lease.  It renews every ``ttl / 3``.  A renew that fails or
hangs is retried soon (every ``retry``), each try bounded by what is left of the lease, so one
slow answer from the store does not cost a healthy session its lease.  The store saying
:class:`~livehandle.LeaseLost`, or no successful renew for a whole ttl (a worker cut off from its
store must assume another one took over), ends it: then :attr:`LeaseKeeper.lost` is set and the
``on_lost`` callback (the saver's, once attached) is called once.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import trio

from livehandle._errors import LeaseLost

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle._persist.store import Lease, SessionStore

__all__ = ["LeaseKeeper"]

#: The shortest time one renew may take before it counts as failed (seconds).
MIN_TRY = 0.05


class LeaseKeeper:
    """Keeps one lease renewed (see the module docstring).

    Args:
        store: the store that issued ``lease``.
        lease: the lease, as just acquired.
        retry: seconds between tries after a failed renew (at most ``ttl / 3``).
    """

    def __init__(self, store: SessionStore, lease: Lease, *, retry: float = 0.5) -> None:
        self._store = store
        self.lease = lease
        self._interval = lease.ttl / 3
        self._retry = min(retry, self._interval)
        self.lost: LeaseLost | None = None
        self._counts: Counter[str] = Counter()  # until a saver attaches its telemetry
        self._record: Callable[[str], None] = self._count
        self._failed: Callable[[str], None] = lambda message: None
        self._on_lost: Callable[[LeaseLost], None] = lambda error: None
        self._scope = trio.CancelScope()

    def _count(self, kind: str) -> None:
        self._counts[kind] += 1

    def attach(
        self,
        *,
        record: Callable[[str], None],
        failed: Callable[[str], None],
        on_lost: Callable[[LeaseLost], None],
    ) -> None:
        """Report to the saver from now on (counts made before are handed over first)."""
        for kind, count in self._counts.items():
            for _ in range(count):
                record(kind)
        self._counts.clear()
        self._record, self._failed, self._on_lost = record, failed, on_lost
        if self.lost is not None:
            on_lost(self.lost)

    def lose(self, error: LeaseLost) -> None:
        """The store said the lease is lost (on a renew, or on a save): stop, tell once."""
        if self.lost is not None:
            return
        self.lost = error
        self._on_lost(error)

    def stop(self) -> None:
        """Renew no more (the lease is being released); idempotent."""
        self._scope.cancel()

    async def run(self) -> None:
        """Renew until :meth:`stop`, cancellation, or the lease is lost."""
        with self._scope:
            await self._renew()

    async def _renew(self) -> None:
        renewed_at = trio.current_time()
        delay = self._interval
        while self.lost is None:
            await trio.sleep(delay)
            started = trio.current_time()
            left = self.lease.ttl - (started - renewed_at)
            try:
                with trio.fail_after(max(MIN_TRY, min(self._interval, left))):
                    self.lease = await self._store.renew(self.lease)
            except LeaseLost as exc:
                self.lose(exc)
                return
            except (trio.TooSlowError, Exception) as exc:  # retried soon, while it lasts
                self._record("renew_failed")
                if trio.current_time() - renewed_at >= self.lease.ttl:
                    # Cut off from the store past the lease's ttl (by this worker's clock):
                    # another worker may own the session now, so this one must stop.
                    self.lose(
                        LeaseLost(
                            f"the lease of session {self.lease.session_id!r} ran out: the store "
                            f"could not be reached for {self.lease.ttl:g} s",
                            session_id=self.lease.session_id,
                        )
                    )
                    return
                reason = "took too long" if isinstance(exc, trio.TooSlowError) else f"failed: {exc}"
                self._failed(f"renewing the lease {reason}; trying again")
                delay = self._retry
            else:
                self._record("renewed")
                renewed_at, delay = started, self._interval
