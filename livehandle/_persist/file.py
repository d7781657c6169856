"""FileStore: one JSON file per session in a directory, shared by the processes of one machine.

Layout, for a session id encoded as ``<name>`` (percent-encoded, so any string is one safe file
name: ``/`` becomes ``%2F``, no name can climb out of the directory; a very long id is shortened
with a digest of it):

* ``<name>.json``: the newest snapshot, exactly its JSON text.  Written atomically: a temporary
  file in the same directory is written, flushed and fsynced, renamed over the old one, and the
  directory is fsynced, so a reader sees the old snapshot or the new one, never part of one,
  also after a crash.  Its modification time is when it was saved (for the snapshot ttl).
* ``<name>.lease``: the lease record (fencing version, owner, expiry on the wall clock, which
  every process reads alike), replaced atomically like a snapshot.
* ``<name>.lock``: an empty file whose exclusive ``flock`` every change of the lease or the
  snapshot holds, so a read-modify-write (acquire, renew, release, a fenced save or delete) is
  atomic across threads and processes.  The kernel drops the lock of a killed process.

The lease and lock files stay after a session's snapshot is deleted (fencing versions never go
back); they are a few dozen bytes each.  Files are created readable by their owner only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import trio

from livehandle._errors import PersistenceError, SessionOwned
from livehandle._persist import leasing
from livehandle._persist.leasing import LeaseRecord
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._persist.store import DEFAULT_LEASE_TTL, DEFAULT_SNAPSHOT_TTL, Lease

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["FileStore", "file_name"]

_T = TypeVar("_T")

#: Encoded ids longer than this are shortened (file names are limited to 255 bytes).
_MAX_NAME = 160
#: Seconds between two tries of a waiting acquire (another process's release is not signalled).
_POLL = 0.05
#: Seconds a file operation waits for a session's lock (it is held only for one read-modify-write;
#: a holder paused mid-way, e.g. by SIGSTOP, must not hang every other worker's thread forever).
_LOCK_WAIT = 10.0


def file_name(session_id: str) -> str:
    """The file name stem of ``session_id``: one per id, never a path, at most 240 bytes.

    The id is percent-encoded with nothing left unescaped but letters, digits and ``_.-~``; an
    encoding longer than 160 characters keeps its first 80 and adds ``+`` and the SHA-256 of the
    id (``+`` is always escaped by the encoding, so the two forms never meet).
    """
    encoded = quote(leasing.check_session_id(session_id), safe="", errors="surrogatepass")
    if len(encoded) > _MAX_NAME:
        digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
        encoded = f"{encoded[:80]}+{digest}"
    return encoded


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (a short write is continued)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_atomically(path: Path, data: bytes) -> None:
    """Make ``path`` hold ``data``: all of it or, on any failure, what it held before."""
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _record_to_bytes(record: LeaseRecord) -> bytes:
    fields = {"fence": record.fence, "owner": record.owner, "expires_at": record.expires_at}
    return json.dumps(fields, separators=(",", ":")).encode()


def _record_from_bytes(data: bytes, session_id: str) -> LeaseRecord:
    try:
        fields: Any = json.loads(data)
        fence, owner, expires_at = fields["fence"], fields["owner"], fields["expires_at"]
        if not (
            type(fence) is int
            and fence >= 0
            and (owner is None or isinstance(owner, str))
            and type(expires_at) in (int, float)
        ):
            raise TypeError("a field has the wrong type")
    except (ValueError, TypeError, KeyError) as exc:
        # Never start the fence again from zero: a stale worker could then write.
        raise PersistenceError(
            f"the lease file of session {session_id!r} is damaged ({exc}); "
            "remove it only when no worker holds the session",
            session_id=session_id,
        ) from None
    return LeaseRecord(fence, owner, float(expires_at))


class FileStore:
    """A :class:`~livehandle.SessionStore` in a directory, for workers on one machine.

    Every process that opens a store on the same directory shares its snapshots and leases:
    leases expire on the wall clock, and every change of a session holds that session's file
    lock, so one owner and fencing hold across processes (see the module docstring for the
    layout).  The blocking file work runs in worker threads, at most ``max_threads`` at once, so
    it never blocks the event loop.  An operating-system failure raises
    :class:`~livehandle.PersistenceError` naming the session and the operation.

    It needs a local POSIX file system (``flock``); not a network file system.

    Args:
        directory: where the files live; created (owner-only) when missing.
        snapshot_ttl: seconds a snapshot is kept after its last save; an older one loads as
            None (and its file is removed).  Defaults to a resumption handle's validity (2 h).
        max_threads: how many file operations of this store run at once; more wait their turn.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        snapshot_ttl: float = DEFAULT_SNAPSHOT_TTL,
        max_threads: int = 4,
    ) -> None:
        if isinstance(max_threads, bool) or not isinstance(max_threads, int):
            raise TypeError(f"max_threads must be an int, got {type(max_threads).__name__}")
        if max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, got {max_threads}")
        if not os.fspath(directory):
            raise ValueError("directory: empty; give the directory to keep snapshots in")
        self._directory = Path(os.fspath(directory))
        self._snapshot_ttl = leasing.checked_ttl(snapshot_ttl, "a snapshot ttl")
        self._limiter = trio.CapacityLimiter(max_threads)
        self._made = False
        self._closed = False

    def __repr__(self) -> str:
        return f"FileStore({str(self._directory)!r}, closed={self._closed})"

    @property
    def directory(self) -> Path:
        """The directory the store keeps its files in."""
        return self._directory

    def _path(self, session_id: str, suffix: str) -> Path:
        return self._directory / f"{file_name(session_id)}{suffix}"

    async def _run(self, session_id: str, what: str, work: Callable[[], _T]) -> _T:
        """Run ``work`` in a worker thread; an OSError becomes a PersistenceError."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise PersistenceError(
                f"cannot {what} session {session_id!r}: the store is closed",
                session_id=session_id,
            )

        def guarded() -> _T:
            try:
                if not self._made:
                    self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                    self._made = True
                return work()
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise PersistenceError(
                    f"the file store could not {what} session {session_id!r}: {reason}",
                    session_id=session_id,
                ) from None

        return await trio.to_thread.run_sync(guarded, limiter=self._limiter)

    @contextlib.contextmanager
    def _locked(self, session_id: str) -> Iterator[None]:
        """Hold ``session_id``'s exclusive file lock (between threads and processes alike)."""
        fd = os.open(self._path(session_id, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + _LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(
                            errno.ETIMEDOUT, f"its file lock stayed held for {_LOCK_WAIT:g} s"
                        ) from None
                    time.sleep(0.002)
            yield
        finally:
            os.close(fd)  # drops the lock

    def _read_record(self, session_id: str) -> LeaseRecord | None:
        try:
            data = self._path(session_id, ".lease").read_bytes()
        except FileNotFoundError:
            return None
        return _record_from_bytes(data, session_id)

    def _write_record(self, session_id: str, record: LeaseRecord) -> None:
        _replace_atomically(self._path(session_id, ".lease"), _record_to_bytes(record))

    async def load(self, session_id: str) -> SessionSnapshot | None:
        """The newest snapshot of ``session_id``, or None (none saved, deleted, or expired)."""
        leasing.check_session_id(session_id)
        path = self._path(session_id, ".json")

        def read() -> bytes | None:
            try:
                with path.open("rb") as file:
                    saved_at = os.fstat(file.fileno()).st_mtime
                    if time.time() - saved_at < self._snapshot_ttl:
                        return file.read()
            except FileNotFoundError:
                return None
            # Expired: remove it, unless it was saved again meanwhile.
            with self._locked(session_id), contextlib.suppress(FileNotFoundError):
                if time.time() - path.stat().st_mtime >= self._snapshot_ttl:
                    path.unlink()
                    _fsync_directory(self._directory)
            return None

        data = await self._run(session_id, "load", read)
        return None if data is None else SessionSnapshot.from_json(data)

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        """Keep ``snapshot`` as its session's newest (LeaseLost if ``lease`` is stale)."""
        if not isinstance(snapshot, SessionSnapshot):
            raise TypeError(f"expected a SessionSnapshot, got {type(snapshot).__name__}")
        session_id = snapshot.session_id
        data = snapshot.to_json().encode("utf-8")

        def write() -> None:
            with self._locked(session_id):
                leasing.check_fence(
                    self._read_record(session_id), lease, session_id, "save", time.time()
                )
                _replace_atomically(self._path(session_id, ".json"), data)

        await self._run(session_id, "save", write)

    async def delete(self, session_id: str, *, lease: Lease) -> None:
        """Forget ``session_id``'s snapshot (LeaseLost if ``lease`` is stale)."""
        leasing.check_session_id(session_id)

        def remove() -> None:
            with self._locked(session_id):
                leasing.check_fence(
                    self._read_record(session_id), lease, session_id, "delete", time.time()
                )
                with contextlib.suppress(FileNotFoundError):
                    self._path(session_id, ".json").unlink()
                    _fsync_directory(self._directory)

        await self._run(session_id, "delete", remove)

    async def acquire(
        self, session_id: str, *, owner: str, ttl: float = DEFAULT_LEASE_TTL, wait: float = 0.0
    ) -> Lease:
        """Take ``session_id``'s lease, waiting up to ``wait`` seconds for it to be free.

        A waiter tries again every 50 ms (a release in another process is not signalled).

        Raises:
            SessionOwned: the lease is still held when ``wait`` runs out.
        """
        leasing.check_session_id(session_id)
        owner = leasing.checked_owner(owner)
        seconds = leasing.checked_ttl(ttl)
        deadline = trio.current_time() + leasing.checked_wait(wait)

        def take() -> Lease:
            with self._locked(session_id):
                record, lease = leasing.granted(
                    self._read_record(session_id), session_id, owner, seconds, time.time()
                )
                self._write_record(session_id, record)
                return lease

        while True:
            try:
                return await self._run(session_id, "acquire", take)
            except SessionOwned:
                left = deadline - trio.current_time()
                if left <= 0:
                    raise
                await trio.sleep(min(_POLL, left))

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now (LeaseLost if it is no longer held)."""
        session_id = lease.session_id

        def extend() -> None:
            with self._locked(session_id):
                record = leasing.renewed(self._read_record(session_id), lease, time.time())
                self._write_record(session_id, record)

        await self._run(session_id, "renew", extend)
        return lease

    async def release(self, lease: Lease) -> None:
        """Give ``lease`` up; nothing happens if it is no longer the session's lease."""
        session_id = lease.session_id

        def give_up() -> None:
            with self._locked(session_id):
                record = leasing.released(self._read_record(session_id), lease)
                if record is not None:
                    self._write_record(session_id, record)

        await self._run(session_id, "release", give_up)

    async def aclose(self) -> None:
        """Close the store: later calls raise PersistenceError.  Idempotent."""
        await trio.lowlevel.checkpoint()
        self._closed = True
