"""open_live_session(): the nursery-scoped entry point of livehandle.

::

    async with open_live_session(LiveConfig(instruction="Be brief."), api_key=key) as handle:
        await handle.send_text("Hello!")
        async for event in handle.stream():
            ...

On entry it connects, sends the setup, waits for ``setupComplete`` and starts the lanes; on exit
it disconnects (if the body did not) and every task of the session has finished.  An exception
from the body comes out unchanged, after the disconnect.  Connect and setup failures come out as
the matching :class:`~livehandle.SessionError` subclass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import trio

from livehandle._assemble import assemble_live_handle
from livehandle._config.live import LiveConfig
from livehandle._continuity import ResumingSession
from livehandle._events import LiveEvent
from livehandle._logs import LogScope, library_logger, scoped
from livehandle._nursery import open_owned_nursery
from livehandle._persist.capture import config_fingerprint, new_session_id
from livehandle._persist.keeper import LeaseKeeper
from livehandle._persist.leasing import checked_ttl
from livehandle._persist.restore import (
    apply_snapshot,
    check_fingerprint,
    check_session_id,
    fresh_config,
    refused_resume,
    resumed_config,
    worker_token,
)
from livehandle._persist.saver import FINAL_SAVE_TIMEOUT, SnapshotSaver
from livehandle._persist.store import DEFAULT_LEASE_TTL, SessionStore
from livehandle._session import Session, SessionOptions
from livehandle._transport.endpoints import Endpoint

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

    from livehandle._assemble import LiveRunner
    from livehandle._errors import LeaseLost
    from livehandle._handle import LiveHandle
    from livehandle._persist.snapshot import SessionSnapshot
    from livehandle._runtime.lanes import Hooks
    from livehandle._session.port import SessionPort
    from livehandle._transport.base import Transport

__all__ = ["open_live_session", "open_persistent", "resolve_endpoint"]

log = library_logger("livehandle.persist")

#: What the persistent path runs in a handle's nursery before the body starts.
Ready = Callable[["LiveHandle", trio.Nursery], Awaitable[None]]
# what _open is given, kept until it is entered: config, endpoint, transport, hooks, session id,
# fingerprint, snapshot, resumed, ready
_OpenArgs = tuple[
    LiveConfig,
    Endpoint,
    "Transport | None",
    "Hooks | None",
    "str | None",
    "str | None",
    "SessionSnapshot | None",
    bool,
    "Ready | None",
]


def resolve_endpoint(endpoint: Endpoint | str | None, api_key: str | None) -> Endpoint:
    """Pick the endpoint: an explicit one (or URL), else Google AI with ``api_key`` or the env.

    Raises:
        ValueError: nothing to connect to (no endpoint, no key, no ``GEMINI_API_KEY``).
    """
    if isinstance(endpoint, Endpoint):
        return endpoint
    if isinstance(endpoint, str):
        if api_key is not None:  # the same code path as Google AI, pointed at another host
            return Endpoint.google_ai(api_key, base_url=endpoint)
        return Endpoint.from_url(endpoint)
    if api_key is not None:
        return Endpoint.google_ai(api_key)
    found = Endpoint.from_env()
    if found is None:
        raise ValueError(
            "no endpoint to connect to: pass api_key=..., endpoint=... (e.g. the emulator's URL), "
            "or set GEMINI_API_KEY"
        )
    return found


@asynccontextmanager
async def open_live_session(
    config: LiveConfig | None = None,
    *,
    api_key: str | None = None,
    endpoint: Endpoint | str | None = None,
    transport: Transport | None = None,
    hooks: Hooks | None = None,
    session_id: str | None = None,
    store: SessionStore | None = None,
    wait: float = 0.0,
    lease_ttl: float = DEFAULT_LEASE_TTL,
) -> AsyncIterator[LiveHandle]:
    """Open a live session for the duration of an ``async with`` block.

    With a ``store``, the session is persistent: its lease is taken first (another live owner
    raises :class:`~livehandle.SessionOwned` at once, or after ``wait`` seconds), then its
    snapshot is loaded.  Without one, the session starts fresh and is saved under
    ``session_id``; with one, its State and transcript are restored and the Gemini session is
    resumed from the saved handle, or, when that handle is expired or refused, a fresh one is
    opened with the transcript as context.  Either way ``LiveEvent.Restored`` says which.
    Snapshots are then saved in the background at every turn boundary and new resumable
    handle, and once more on disconnect, which also releases the lease.

    Args:
        config: what the session is (model, voice, instruction, limits); defaults to
            ``LiveConfig()``.
        api_key: a Gemini API key (Google AI); default: ``GEMINI_API_KEY``.
        endpoint: an :class:`~livehandle.Endpoint`, or a ``ws://``/``wss://`` URL such
            as the emulator's (with ``api_key``, the Google AI path on that host).
        transport: how bytes move (default: trio-websocket).
        hooks: application callbacks run by the lanes.
        session_id: the application's id for the session (default: a generated one).
        store: a :class:`~livehandle.SessionStore` to save snapshots in and restore from.
        wait: with a ``store``, seconds to wait for another owner's lease to end.
        lease_ttl: with a ``store``, seconds the lease lasts unless renewed (it is renewed
            every third of that): how long a dead worker's session stays unavailable.

    Yields:
        the :class:`~livehandle.LiveHandle`, once ``setupComplete`` arrived and the lanes run.
        A subscription (``events()``, ``stream()``, ``subscribe()``) made before the body's
        first checkpoint sees every event from the session's start, ``Connected`` included;
        one made later sees what follows it.

    Raises:
        ValueError: invalid configuration, or no endpoint and no key.
        SessionError: the subclass for a failed connect, a timeout, or a rejected setup.
        SessionOwned: another worker holds ``session_id``'s lease.
        SnapshotMismatch: the saved snapshot was taken with another model, tools or
            instruction.
    """
    config = config or LiveConfig()
    if session_id is not None:
        check_session_id(session_id)
    if isinstance(wait, bool) or not isinstance(wait, int | float):
        raise TypeError(f"wait must be a number of seconds, got {type(wait).__name__}")
    if not wait >= 0:
        raise ValueError(f"wait must be >= 0 seconds, got {wait}")
    lease_ttl = checked_ttl(lease_ttl, "lease_ttl")
    if store is not None and not isinstance(store, SessionStore):
        raise TypeError(
            "store: expected a SessionStore (e.g. livehandle.RedisStore(url)), "
            f"got {type(store).__name__}"
        )
    resolved = resolve_endpoint(endpoint, api_key)
    sid = session_id if session_id is not None else new_session_id()
    # Every record logged for this session (by its tasks, and by the body's calls into the
    # handle) carries its id; its connections number themselves in the same scope.
    with scoped(LogScope(sid)):
        if store is None:
            async with _open(config, resolved, transport, hooks, session_id=sid) as handle:
                yield handle
            return
        async with open_persistent(
            config,
            resolved,
            transport,
            hooks,
            store=store,
            session_id=sid,
            wait=wait,
            lease_ttl=lease_ttl,
        ) as handle:
            yield handle


@asynccontextmanager
async def open_persistent(
    config: LiveConfig,
    endpoint: Endpoint,
    transport: Transport | None,
    hooks: Hooks | None,
    *,
    store: SessionStore,
    session_id: str | None,
    wait: float,
    lease_ttl: float = DEFAULT_LEASE_TTL,
) -> AsyncIterator[LiveHandle]:
    """The persistent path of :func:`open_live_session`: lease, load, restore, save."""
    sid = session_id if session_id is not None else new_session_id()
    fingerprint = config_fingerprint(config)
    lease = await store.acquire(sid, owner=worker_token(), ttl=lease_ttl, wait=wait)
    # Renewed from now on, before the session connects: a slow connect or setup (which may
    # take longer than the lease lasts) never costs a healthy session its lease.
    keeper = LeaseKeeper(store, lease)

    async def stop_keeping() -> None:
        keeper.stop()

    async with open_owned_nursery(stop_keeping, "lease keeper") as keeping:
        keeping.start_soon(keeper.run)
        async with _persistent_body(
            config, endpoint, transport, hooks, store, sid, fingerprint, keeper
        ) as handle:
            yield handle


@asynccontextmanager
async def _persistent_body(
    config: LiveConfig,
    endpoint: Endpoint,
    transport: Transport | None,
    hooks: Hooks | None,
    store: SessionStore,
    sid: str,
    fingerprint: str,
    keeper: LeaseKeeper,
) -> AsyncIterator[LiveHandle]:
    """Load, restore and open the session while ``keeper`` holds its lease."""
    try:
        snapshot = await store.load(sid)
        if snapshot is not None:
            check_fingerprint(snapshot, fingerprint)
    except BaseException:
        await _release_quietly(store, keeper)
        raise

    def ready_with(restored: LiveEvent | None) -> Ready:
        async def ready(handle: LiveHandle, nursery: trio.Nursery) -> None:
            # Before the body's first checkpoint (events are still retained): every early
            # subscriber sees Restored.
            async def lease_lost(error: LeaseLost) -> None:
                handle._end_with(error)
                handle._events.publish(LiveEvent.Error(error))
                await handle.disconnect()

            if keeper.lost is not None:  # lost while connecting: the session must not start
                raise keeper.lost
            saver = SnapshotSaver(
                store,
                keeper.lease,
                handle._source,
                emit=handle._events.publish,
                telemetry=handle.telemetry,
                on_lease_lost=lease_lost,
                keeper=keeper,
            )
            handle._attach_saver(saver)
            await nursery.start(saver.run)  # in the handle's nursery, like every task
            if restored is not None:
                handle._events.publish(restored)
            saver.offer()  # saved under its id at once (a fresh session, or the restored one)

        return ready

    async with AsyncExitStack() as stack:
        try:
            handle: LiveHandle | None = None
            reason = ""
            if snapshot is not None and snapshot.resume_handle is not None:
                try:
                    handle = await stack.enter_async_context(
                        _open(
                            resumed_config(config, snapshot),
                            endpoint,
                            transport,
                            hooks,
                            session_id=sid,
                            fingerprint=fingerprint,
                            snapshot=snapshot,
                            resumed=True,
                            ready=ready_with(LiveEvent.Restored(sid, False, snapshot.turn_count)),
                        )
                    )
                except Exception as exc:
                    if not refused_resume(exc):
                        raise
                    reason = f"the saved handle was refused ({type(exc).__name__})"
            elif snapshot is not None:
                reason = "the snapshot has no resumable handle"
            if handle is None:
                handle = await stack.enter_async_context(
                    _open(
                        config if snapshot is None else fresh_config(config, snapshot),
                        endpoint,
                        transport,
                        hooks,
                        session_id=sid,
                        fingerprint=fingerprint,
                        snapshot=snapshot,
                        resumed=False,
                        ready=ready_with(
                            None
                            if snapshot is None
                            else LiveEvent.Restored(sid, True, snapshot.turn_count, reason)
                        ),
                    )
                )
        except BaseException:
            await _release_quietly(store, keeper)
            raise
        yield handle


async def _release_quietly(store: SessionStore, keeper: LeaseKeeper) -> None:
    """Give the lease up after a failed open (shielded, bounded).

    A failure to is only logged: the error that ended the open is the one the caller must see,
    and the lease expires on its own anyway.
    """
    keeper.stop()
    with trio.CancelScope(shield=True), trio.move_on_after(FINAL_SAVE_TIMEOUT):
        try:
            await store.release(keeper.lease)
        except Exception as exc:
            log.warning(
                "could not release the lease of session %r: %s", keeper.lease.session_id, exc
            )


class _open:  # named like the generator function it replaced
    """Connect one Gemini session and run its handle for the ``async with`` block.

    ``ready`` runs once the session and its runner started, before the retention of early
    events ends (so what it publishes is seen by every subscription the body makes first).  A
    slotted object rather than a generator-based context manager: a session holds one for as
    long as it runs, and after the opening it keeps only its nursery.
    """

    __slots__ = ("_args", "_owned")

    def __init__(
        self,
        config: LiveConfig,
        resolved: Endpoint,
        transport: Transport | None,
        hooks: Hooks | None,
        *,
        session_id: str | None,
        fingerprint: str | None = None,
        snapshot: SessionSnapshot | None = None,
        resumed: bool = False,
        ready: Ready | None = None,
    ) -> None:
        self._args: _OpenArgs | None = (
            config,
            resolved,
            transport,
            hooks,
            session_id,
            fingerprint,
            snapshot,
            resumed,
            ready,
        )
        self._owned: open_owned_nursery | None = None

    async def __aenter__(self) -> LiveHandle:
        assert self._args is not None, "a session opening is entered once"
        args, self._args = self._args, None
        config, resolved, transport, hooks, session_id, fingerprint, snapshot, resumed, ready = args
        del args
        options = SessionOptions(
            connect_timeout=config.connect_timeout,
            setup_timeout=config.setup_timeout,
            outbound_capacity=config.outbound_capacity,
            event_capacity=config.event_capacity,
        )
        setup = config.to_setup(resolved)
        session: SessionPort
        if config.auto_resume:
            session = ResumingSession(
                setup,
                endpoint=resolved,
                transport=transport,
                options=options,
                policy=config.resume_policy,
                transparent=config.transparent_resumption,
            )
        else:
            session = Session(setup, endpoint=resolved, transport=transport, options=options)
        session.retain_events()  # and the handle's LiveEvents, retained by assemble_live_handle
        handle, runner = assemble_live_handle(
            session, config, resolved, hooks=hooks, session_id=session_id, fingerprint=fingerprint
        )
        if snapshot is not None:
            apply_snapshot(
                snapshot,
                state=handle.state,
                transcript=handle._lanes.transcript,
                source=handle._source,
                resumed=resumed,
            )
            if handle._extraction is not None:
                handle._extraction.restore(handle.state)  # extracted() answers from the snapshot
            if handle._governor is not None:
                handle._governor.restore(handle.state)  # the flow goes on where it was
        owned = self._owned = open_owned_nursery(handle.disconnect, "live session")
        nursery = await owned.__aenter__()
        try:
            await nursery.start(session.run)
            await nursery.start(runner.run, nursery)  # the control lane; effects and tools
            if ready is not None:
                await ready(handle, nursery)
            # Trio runs a new task only once the running one reaches a checkpoint: this one
            # ends the retention once the body has reached its first, so subscriptions made
            # before it see every event from the start.
            nursery.start_soon(_release, session, runner)
        except BaseException as exc:
            # As when the body raises: the handle disconnects and every task ends first.
            await owned.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return handle

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        owned, self._owned = self._owned, None
        assert owned is not None
        await owned.__aexit__(etype, error, traceback)


async def _release(session: SessionPort, runner: LiveRunner) -> None:
    """End the retention of the session's events and the handle's LiveEvents."""
    session.release_events()
    runner.release_events()
