"""The background saver of one live session's snapshots, and the keeper of its lease.

Saving never blocks the session: the control lane (at a turn boundary) and the session's reader
(on a new resumable handle) only call :meth:`SnapshotSaver.offer`, which builds a snapshot and
puts it in a **slot of one**.  A newer snapshot replaces one still waiting there (counted as
``coalesced``), so at most one save is in flight and one waits: never a growing queue.

A save that fails or takes longer than ``save_timeout`` is retried with exponential backoff
(with the newest snapshot, if one came meanwhile), counted as ``save_failed`` in the telemetry's
``persistence`` counters and reported as ``LiveEvent.Error(PersistenceError(...))``; the session
goes on.  The lease is kept by a :class:`LeaseKeeper` (renewed every ``ttl / 3``, retried soon
after a failure); ``open_live_session`` starts it as soon as it took the lease, before the session
connects, and hands it in.  Once the store says the lease is lost
(:class:`~livehandle.LeaseLost`, on a renew or a save), nothing more is saved, not even the
final snapshot, and ``on_lease_lost`` ends the session with that error.

:meth:`SnapshotSaver.finish` runs in the handle's disconnect: it stops the background work,
waits for an in-flight save to stop, saves the final snapshot (shielded, bounded by
``final_timeout``) and releases the lease (bounded the same way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle._errors import LeaseLost, PersistenceError
from livehandle._events import LiveEvent
from livehandle._logs import library_logger
from livehandle._nursery import let_go
from livehandle._persist.keeper import LeaseKeeper

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle._persist.capture import SnapshotSource
    from livehandle._persist.snapshot import SessionSnapshot
    from livehandle._persist.store import Lease, SessionStore
    from livehandle._runtime.telemetry import SessionTelemetry

__all__ = ["FINAL_SAVE_TIMEOUT", "SnapshotSaver"]

log = library_logger("livehandle.persist")

#: Seconds the final save (and, separately, the lease release) may take on disconnect.
FINAL_SAVE_TIMEOUT = 2.0


class SnapshotSaver:
    """Saves one session's snapshots in the background and keeps its lease; see the module doc."""

    def __init__(
        self,
        store: SessionStore,
        lease: Lease,
        source: SnapshotSource,
        *,
        emit: Callable[[LiveEvent], object],
        telemetry: SessionTelemetry,
        on_lease_lost: Callable[[LeaseLost], Awaitable[None]],
        save_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        final_timeout: float = FINAL_SAVE_TIMEOUT,
        keeper: LeaseKeeper | None = None,
    ) -> None:
        self._store = store
        # The keeper renews the lease; one started before the session connected is handed in
        # (open_live_session's), else the saver runs its own.
        self._own_keeper = keeper is None
        self._keeper = keeper if keeper is not None else LeaseKeeper(store, lease)
        self._source = source
        self._emit = emit
        self._telemetry = telemetry
        self._on_lease_lost = on_lease_lost
        self._save_timeout = save_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._final_timeout = final_timeout
        self._slot: SessionSnapshot | None = None  # the one waiting snapshot (newest wins)
        self._wake = trio.Event()
        self._lost: LeaseLost | None = None
        self._lost_event = trio.Event()
        self._finished = False
        self._scope = trio.CancelScope()
        self._loop_scope = trio.CancelScope()
        self._loop_done = trio.Event()
        self._running = False

    @property
    def lease(self) -> Lease:
        """The lease as last acquired or renewed."""
        return self._keeper.lease

    @property
    def lost(self) -> LeaseLost | None:
        """The error that lost the lease, or None while it is held."""
        return self._lost

    def offer(self) -> None:
        """Take a snapshot now and hand it to the saver (never waits; see the module doc)."""
        if self._lost is not None or self._finished:
            return
        if self._slot is not None:
            self._telemetry.record_persistence("coalesced")
        self._slot = self._source.take()
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Save offered snapshots and renew the lease until :meth:`finish` (or a lost lease)."""
        task_status = let_go(task_status)  # idle, this task keeps no start-up nursery alive
        with self._scope:
            async with trio.open_nursery() as nursery:
                self._running = True
                self._keeper.attach(
                    record=self._telemetry.record_persistence,
                    failed=lambda message: self._failed(message, "renew_failed", count=False),
                    on_lost=self._lose,
                )
                nursery.start_soon(self._save_loop)
                if self._own_keeper:
                    nursery.start_soon(self._keeper.run)
                task_status.started()
                await self._lost_event.wait()
                assert self._lost is not None
                await self._on_lease_lost(self._lost)

    # -- saving -------------------------------------------------------------------------------

    async def _save_loop(self) -> None:
        try:
            with self._loop_scope:
                while True:
                    await self._wake.wait()
                    self._wake = trio.Event()
                    await self._save_pending()
                    if self._lost is not None:
                        return
        finally:
            self._loop_done.set()

    async def _save_pending(self) -> None:
        failures = 0
        while self._slot is not None and self._lost is None:
            snapshot, self._slot = self._slot, None
            try:
                with trio.fail_after(self._save_timeout):
                    await self._store.save(snapshot, lease=self._keeper.lease)
            except LeaseLost as exc:
                self._keeper.lose(exc)
                return
            except trio.TooSlowError:
                failures += 1
                self._failed(f"saving the snapshot took longer than {self._save_timeout} s")
            except Exception as exc:  # a store must raise PersistenceError; never break the session
                failures += 1
                self._failed(f"saving the snapshot failed: {exc}")
            else:
                failures = 0
                self._telemetry.record_persistence("saved")
                continue
            if self._slot is None:
                self._slot = snapshot  # retry it, unless a newer one came meanwhile
            await trio.sleep(min(self._backoff_max, self._backoff_initial * 2 ** (failures - 1)))

    def _failed(self, message: str, kind: str = "save_failed", *, count: bool = True) -> None:
        if count:
            self._telemetry.record_persistence(kind)
        log.warning("session %s: %s", self._source.session_id, message)
        self._emit(LiveEvent.Error(PersistenceError(message, session_id=self._source.session_id)))

    # -- the lease ----------------------------------------------------------------------------

    def _lose(self, error: LeaseLost) -> None:
        """Stop every save at once; the run task ends the session with ``error``."""
        if self._lost is not None:
            return
        if error.session_id is None:
            error.session_id = self._source.session_id
        self._lost = error
        self._slot = None
        self._telemetry.record_persistence("lease_lost")
        self._loop_scope.cancel()
        self._lost_event.set()

    # -- the end ------------------------------------------------------------------------------

    async def finish(self) -> None:
        """Stop, save the final snapshot and release the lease (shielded, each bounded)."""
        if self._finished:
            return
        self._finished = True
        self._slot = None
        with trio.CancelScope(shield=True):
            self._loop_scope.cancel()
            settled = True
            if self._running:
                # An in-flight save must not land after the final one: wait for it, bounded.  If
                # it does not end in time (a store that finishes a started write before it
                # honours a cancellation), the final save is skipped, never raced.
                settled = False
                with trio.move_on_after(self._final_timeout):
                    await self._loop_done.wait()
                    settled = True
            if self._lost is None and not settled:
                self._telemetry.record_persistence("final_save_failed")
                log.warning(
                    "session %s: a save was still in flight at disconnect; no final save",
                    self._source.session_id,
                )
            elif self._lost is None:
                await self._final_save()
            self._keeper.stop()  # no renew may race the release
            if self._lost is None:
                with trio.move_on_after(self._final_timeout):
                    try:
                        await self._store.release(self._keeper.lease)
                    except Exception as exc:  # it expires on its own after its ttl
                        self._telemetry.record_persistence("release_failed")
                        log.warning("session %s: release failed: %s", self._source.session_id, exc)
        self._scope.cancel()

    async def _final_save(self) -> None:
        snapshot = self._source.take()
        try:
            with trio.fail_after(self._final_timeout):
                await self._store.save(snapshot, lease=self._keeper.lease)
        except LeaseLost as exc:
            self._lost = exc
            self._telemetry.record_persistence("lease_lost")
        except trio.TooSlowError:
            self._telemetry.record_persistence("final_save_failed")
            log.warning("session %s: the final save timed out", self._source.session_id)
        except Exception as exc:
            self._telemetry.record_persistence("final_save_failed")
            log.warning("session %s: the final save failed: %s", self._source.session_id, exc)
        else:
            self._telemetry.record_persistence("saved")
