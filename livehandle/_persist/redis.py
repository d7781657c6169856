"""RedisStore: snapshots and fenced leases in Redis 7, for many workers on many machines.

Trio has no Redis client, so the store runs the synchronous client of the ``redis`` package
(``pip install livehandle[redis]``) in worker threads.  Every operation that reads and writes
is one Lua script, run atomically by the server, so that the rules of the store contract (one
owner, fencing) hold however many workers share the server.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import urllib.parse
from typing import TYPE_CHECKING, Any

import trio

from livehandle._errors import LeaseLost, PersistenceError, SessionOwned, SnapshotMismatch
from livehandle._persist.leasing import check_session_id, checked_owner, checked_ttl
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._persist.store import DEFAULT_LEASE_TTL, DEFAULT_SNAPSHOT_TTL, Lease
from livehandle._transport.endpoints import is_secret_name, redact_query

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_FENCE_TTL", "RedisStore"]

#: Seconds a session id's fencing counter is kept after its last acquire or write (7 days).
DEFAULT_FENCE_TTL = 7 * 24 * 3600.0

_MISSING_CLIENT = (
    "RedisStore needs the redis client package, which is not installed: "
    "pip install livehandle[redis]"
)

# KEYS: lease, fence.  ARGV: owner, lease ttl (ms), fence ttl (ms).
# Free: the next fence, and the lease "<fence>:<owner>" expiring after ttl.  Held: the holder's
# remaining milliseconds (so that a waiting acquire sleeps no longer than needed).
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], fence .. ':' .. ARGV[1], 'PX', ARGV[2])
return {1, fence}
"""

# The lease is held by this owner under this fence, and the fence is the newest one.
_HELD = """
local function held()
  return redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2]
end
"""

# KEYS: lease, fence.  ARGV: lease value, fence, ttl (ms).
_RENEW = (
    _HELD
    + """
if not held() then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# KEYS: lease.  ARGV: lease value.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS: lease, fence, snapshot.  ARGV: lease value, fence, fence ttl (ms), snapshot text,
# snapshot ttl (ms).
_SAVE = (
    _HELD
    + """
if not held() then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
return 1
"""
)

# KEYS: lease, fence, snapshot.  ARGV: lease value, fence.
_DELETE = (
    _HELD
    + """
if not held() then return 0 end
redis.call('DEL', KEYS[3])
return 1
"""
)

#: First and longest pause between two tries of a waiting acquire (seconds).
_FIRST_BACKOFF = 0.02
_MAX_BACKOFF = 1.0


def _milliseconds(seconds: object, what: str) -> int:
    """``seconds`` as whole milliseconds for Redis (at least 1); ValueError unless positive."""
    return max(1, math.ceil(checked_ttl(seconds, what) * 1000))


def _check_threads(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"max_threads must be a whole number, 1 or more, got {count!r}")


def _secrets_of(url: str) -> tuple[str, ...]:
    """Every credential written in ``url`` (the password, secret query values), raw and decoded."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return ()
    found: set[str] = set()
    if password:
        found.update({password, urllib.parse.unquote(password)})
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if value and is_secret_name(name):
            found.update({value, urllib.parse.quote(value, safe="")})
    # The longest first, so that no shorter secret leaves a piece of a longer one behind.
    return tuple(sorted(found, key=len, reverse=True))


class RedisStore:
    """A :class:`~livehandle.SessionStore` in Redis 7, shared by many worker processes.

    Keys (``prefix`` is ``key_prefix``, ``id`` the session id):

    * ``<prefix>snap:<id>``: the newest snapshot, as its JSON text; it expires
      ``snapshot_ttl`` seconds after its last save (a resumption handle's validity, 2 h).
    * ``<prefix>lease:<id>``: ``"<fence>:<owner>"`` while a worker owns the session; it expires
      ``ttl`` seconds after the acquire or the last renewal, so a dead worker frees it.
    * ``<prefix>fence:<id>``: the fencing counter, incremented by every acquire.  It is kept
      ``fence_ttl`` seconds (7 days) after the last acquire or save of the session, far longer
      than any lease lives, so that an old worker's lease can never match a newer one; a session
      id left unused for longer than that starts again from fence 1.

    Acquire (free? then INCR the fence and SET the lease with PX), renew (still held under
    the newest fence? then PEXPIRE), release (still held? then DEL), save and delete (held
    under the newest fence? then SET the snapshot with PX, or DEL it) are each one Lua script,
    registered once and run by its SHA, so no other worker can act between the check and the
    write.  A save or delete under a lease that expired or was taken over is refused with
    :class:`~livehandle.LeaseLost`; the newer owner's snapshot stays.

    Threads: each operation is one blocking call of the ``redis`` client in
    ``trio.to_thread.run_sync``, at most ``max_threads`` at a time (a ``CapacityLimiter`` owned
    by the store; more wait their turn in Trio, FIFO), over a connection pool of the same size,
    so no call ever waits inside a thread for a connection.  Sockets time out after
    ``timeout`` seconds (connect, read, write) and the client does not retry on its own, so
    every operation ends within about ``timeout`` seconds: a failure is a
    :class:`~livehandle.PersistenceError` naming the operation and session id, and the caller
    decides whether to retry.  A thread is never abandoned on cancellation: a cancelled
    operation waits (at most ``timeout``) for its script's outcome, so a cancelled save or
    release never goes on unobserved behind a later acquire of the same session, and the
    lease is never left half-known.  Then the cancellation goes on: a save that was written
    stays written (it was fenced), and an acquire that took the lease gives it back
    (shielded, within ``timeout``) before raising ``Cancelled``.

    Cost, measured with ``benchmarks/bench_redis_store.py`` against a local ``redis-server``
    7.0 over loopback (a 7.8 KB snapshot of 20 turns, one task, Python 3.11, a shared 2-CPU
    virtual machine): a save takes 0.55-0.7 ms at p50 and about 5 ms at p99, a load the same.
    Of a save's p50, 0.2 ms is ``to_json`` (on the Trio thread), 0.2 ms the script's round trip,
    and 0.06 ms the hop into a thread and back (its p99 is 0.1-3 ms, as the machine's other load
    allows); a load's ``from_json`` takes 0.25 ms.  Eight tasks saving at once reach 1,000-2,000
    saves a second.  Redis keeps about 8.3 KB per session (the three keys).  Nothing here runs
    on the audio path: the session saves in the background.

    The URL's credentials (``redis://:password@host``, a ``password=`` query) are never shown:
    :func:`repr`, and every error, show the URL with them replaced by ``***``.

    Args:
        url: the server, as the ``redis`` package reads it (``redis://``, ``rediss://`` or
            ``unix://``; the database is the path, ``/0`` by default).
        snapshot_ttl: seconds a snapshot is kept after its last save.
        key_prefix: put before every key, so that several applications share a database.
        max_threads: the most operations running at once (threads and connections).
        timeout: seconds a connect, a read or a write on the socket may take.
        fence_ttl: seconds a fencing counter is kept after its session's last acquire or save.

    Raises:
        ImportError: the ``redis`` package is not installed (``pip install livehandle[redis]``).
        ValueError: a bad URL, or a ttl, timeout or thread count that is not positive.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        snapshot_ttl: float = DEFAULT_SNAPSHOT_TTL,
        key_prefix: str = "livehandle:",
        max_threads: int = 8,
        timeout: float = 5.0,
        fence_ttl: float = DEFAULT_FENCE_TTL,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a string, got {type(url).__name__}")
        if not isinstance(key_prefix, str):
            raise TypeError(f"key_prefix must be a string, got {type(key_prefix).__name__}")
        _check_threads(max_threads)
        self._snapshot_ms = _milliseconds(snapshot_ttl, "snapshot_ttl")
        self._fence_ms = _milliseconds(fence_ttl, "fence_ttl")
        _milliseconds(timeout, "timeout")
        self._shown_url = redact_query(url)
        self._secrets = _secrets_of(url)
        self._prefix = key_prefix
        self._timeout = float(timeout)
        try:
            redis: Any = importlib.import_module("redis")
            backoff: Any = importlib.import_module("redis.backoff")
            retry: Any = importlib.import_module("redis.retry")
        except ImportError:
            raise ImportError(_MISSING_CLIENT) from None
        try:
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_threads,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=retry.Retry(backoff.NoBackoff(), 0),
                decode_responses=True,
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a Redis URL: {self._shown_url} ({self._scrub(exc)})") from None
        self._redis_error: type[Exception] = redis.exceptions.RedisError
        self._client: Any = redis.Redis(connection_pool=pool)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)
        self._save = self._client.register_script(_SAVE)
        self._delete = self._client.register_script(_DELETE)
        self._limiter = trio.CapacityLimiter(max_threads)
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisStore({self._shown_url!r}, key_prefix={self._prefix!r})"

    def key(self, kind: str, session_id: str) -> str:
        """The Redis key of ``session_id``'s ``kind`` (``"snap"``, ``"lease"`` or ``"fence"``)."""
        return f"{self._prefix}{kind}:{session_id}"

    def _scrub(self, error: BaseException) -> str:
        text = f"{type(error).__name__}: {error}"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _run(self, operation: str, session_id: str, call: Callable[[], Any]) -> Any:
        """Run ``call`` in a worker thread; a client failure becomes a PersistenceError."""
        if self._closed:
            raise PersistenceError(
                f"redis {operation} of session {session_id!r}: the store is closed",
                session_id=session_id,
            )
        try:
            return await trio.to_thread.run_sync(call, limiter=self._limiter)
        except self._redis_error as exc:
            # Cancelled meanwhile: the outcome no longer matters to the caller.
            await trio.lowlevel.checkpoint_if_cancelled()
            raise PersistenceError(
                f"redis {operation} of session {session_id!r} failed at {self._shown_url}: "
                f"{self._scrub(exc)}",
                session_id=session_id,
            ) from None

    def _lease_args(self, lease: Lease) -> tuple[list[str], list[str]]:
        if not isinstance(lease, Lease):
            raise TypeError(f"expected a Lease, got {type(lease).__name__}")
        keys = [self.key("lease", lease.session_id), self.key("fence", lease.session_id)]
        return keys, [f"{lease.fence}:{lease.owner}", str(lease.fence)]

    async def load(self, session_id: str) -> SessionSnapshot | None:
        """The newest snapshot of ``session_id``, or None when there is none (or it expired).

        Raises:
            SnapshotMismatch: the stored text is not a snapshot this release reads.
            PersistenceError: Redis failed or could not be reached.
        """
        session_id = check_session_id(session_id)
        key = self.key("snap", session_id)
        text = await self._run("load", session_id, lambda: self._client.get(key))
        if text is None:
            return None
        try:
            return SessionSnapshot.from_json(text)
        except SnapshotMismatch as exc:
            raise SnapshotMismatch(
                f"{exc} (session {session_id!r})", session_id=session_id
            ) from None

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        """Keep ``snapshot`` for ``snapshot_ttl`` seconds, if ``lease`` is the session's newest.

        Raises:
            LeaseLost: ``lease`` expired or was taken over (nothing was written).
            PersistenceError: Redis failed or could not be reached.
        """
        if not isinstance(snapshot, SessionSnapshot):
            raise TypeError(f"expected a SessionSnapshot, got {type(snapshot).__name__}")
        keys, args = self._lease_args(lease)
        if snapshot.session_id != lease.session_id:
            raise ValueError(
                f"cannot save session {snapshot.session_id!r} "
                f"with the lease of session {lease.session_id!r}"
            )
        keys.append(self.key("snap", lease.session_id))
        args += [str(self._fence_ms), snapshot.to_json(), str(self._snapshot_ms)]
        done = await self._run("save", lease.session_id, lambda: self._save(keys, args))
        if not done:
            raise LeaseLost(
                f"session {lease.session_id!r}: lease {lease.fence} of {lease.owner!r} is no "
                "longer held; the snapshot was not saved",
                session_id=lease.session_id,
            )

    async def delete(self, session_id: str, *, lease: Lease) -> None:
        """Forget ``session_id``'s snapshot, if ``lease`` is the session's newest.

        Raises:
            LeaseLost: ``lease`` expired or was taken over (nothing was deleted).
            PersistenceError: Redis failed or could not be reached.
        """
        session_id = check_session_id(session_id)
        keys, args = self._lease_args(lease)
        if session_id != lease.session_id:
            raise ValueError(
                f"cannot delete session {session_id!r} with the lease of session "
                f"{lease.session_id!r}"
            )
        keys.append(self.key("snap", session_id))
        done = await self._run("delete", session_id, lambda: self._delete(keys, args))
        if not done:
            raise LeaseLost(
                f"session {session_id!r}: lease {lease.fence} of {lease.owner!r} is no longer "
                "held; the snapshot was not deleted",
                session_id=session_id,
            )

    async def acquire(
        self, session_id: str, *, owner: str, ttl: float = DEFAULT_LEASE_TTL, wait: float = 0.0
    ) -> Lease:
        """Take the lease of ``session_id`` for ``owner``, for ``ttl`` seconds.

        While another lease is held (by any owner, this one included), it tries again with a
        growing pause (20 ms doubling to 1 s, never past the holder's expiry nor the deadline)
        until ``wait`` seconds have passed.

        Raises:
            SessionOwned: the session is held, at once or still after ``wait`` seconds.
            PersistenceError: Redis failed or could not be reached.
        """
        session_id = check_session_id(session_id)
        checked_owner(owner)
        ttl_ms = _milliseconds(ttl, "ttl")
        if isinstance(wait, bool) or not isinstance(wait, int | float):
            raise TypeError(f"wait must be a number of seconds, got {type(wait).__name__}")
        if not (math.isfinite(wait) and wait >= 0):
            raise ValueError(f"wait must be a finite number of seconds, 0 or more, got {wait!r}")
        keys = [self.key("lease", session_id), self.key("fence", session_id)]
        args = [owner, str(ttl_ms), str(self._fence_ms)]
        deadline = trio.current_time() + wait
        pause = _FIRST_BACKOFF
        while True:
            taken, value = await self._run("acquire", session_id, lambda: self._acquire(keys, args))
            if taken:
                return await self._keep_unless_cancelled(
                    Lease(session_id=session_id, owner=owner, fence=int(value), ttl=float(ttl))
                )
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                raise SessionOwned(
                    f"session {session_id!r} is owned by another live worker"
                    + (f" (waited {wait:g} s)" if wait else ""),
                    session_id=session_id,
                )
            # The holder's lease ends in `value` ms (-1: no expiry, -2: gone meanwhile).
            until_expiry = value / 1000 if value >= 0 else pause
            await trio.sleep(max(0.001, min(pause, until_expiry, remaining)))
            pause = min(pause * 2, _MAX_BACKOFF)

    async def _keep_unless_cancelled(self, lease: Lease) -> Lease:
        """``lease``, or released again (shielded) when its acquire was cancelled meanwhile."""
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
        except trio.Cancelled:
            with trio.CancelScope(shield=True), contextlib.suppress(PersistenceError):
                await self.release(lease)
            raise
        return lease

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now; returns it.

        Raises:
            LeaseLost: it expired or another owner took the session meanwhile.
            PersistenceError: Redis failed or could not be reached.
        """
        keys, args = self._lease_args(lease)
        args.append(str(_milliseconds(lease.ttl, "the lease's ttl")))
        done = await self._run("renew", lease.session_id, lambda: self._renew(keys, args))
        if not done:
            raise LeaseLost(
                f"session {lease.session_id!r}: lease {lease.fence} of {lease.owner!r} expired "
                "or was taken over",
                session_id=lease.session_id,
            )
        return lease

    async def release(self, lease: Lease) -> None:
        """Give ``lease`` up (nothing happens when it is no longer held by its owner).

        Raises:
            PersistenceError: Redis failed or could not be reached.
        """
        keys, args = self._lease_args(lease)
        await self._run("release", lease.session_id, lambda: self._release(keys[:1], args[:1]))

    async def aclose(self) -> None:
        """Close the store's connections; idempotent.  Later operations raise PersistenceError."""
        if self._closed:
            return
        self._closed = True
        pool = self._client.connection_pool
        await trio.to_thread.run_sync(pool.disconnect, limiter=self._limiter)
