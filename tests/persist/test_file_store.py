"""FileStore: the store contract on the wall clock, files on disk, and two real processes."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from livehandle._errors import LeaseLost, PersistenceError, SessionOwned
from livehandle._persist import file as file_module
from livehandle._persist.file import FileStore, file_name
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._persist.store import Lease, SessionStore
from tests.persist.contract import CHECKS, Check, Kit, make_snapshot

ROOT = Path(__file__).resolve().parents[2]
#: A short lease ttl on the wall clock: long enough for a slow machine's file operation.
TTL = 0.2


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
async def test_the_store_contract(check: Check, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store", snapshot_ttl=1.0)
    with trio.fail_after(30):
        await check(Kit(store, trio.sleep, ttl=TTL, snapshot_ttl=1.0))
    await store.aclose()


def test_a_file_store_is_a_session_store(tmp_path: Path) -> None:
    assert isinstance(FileStore(tmp_path), SessionStore)


async def test_one_json_file_per_session_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    lease = await store.acquire("call-42", owner="a")
    snapshot = make_snapshot("call-42")
    await store.save(snapshot, lease=lease)
    directory = tmp_path / "store"
    assert sorted(path.name for path in directory.iterdir()) == [
        "call-42.json",
        "call-42.lease",
        "call-42.lock",
    ]
    assert (directory / "call-42.json").read_text("utf-8") == snapshot.to_json()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert repr(store) == f"FileStore({str(directory)!r}, closed=False)"


STRANGE_IDS = [
    "a/b",
    "a%2Fb",
    "../../escaped",
    "..",
    ".",
    "/absolute",
    "back\\slash",
    "nul\x00byte",
    "☎ appel n°7",
    "x" * 1000,
    "x" * 999 + "y",
]


async def test_any_string_id_is_one_file_inside_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = FileStore(directory)
    for turn, session_id in enumerate(STRANGE_IDS, start=1):
        lease = await store.acquire(session_id, owner="a")
        await store.save(make_snapshot(session_id, turn=turn), lease=lease)
    for turn, session_id in enumerate(STRANGE_IDS, start=1):
        loaded = await store.load(session_id)
        assert loaded is not None and (loaded.session_id, loaded.turn_count) == (session_id, turn)
    _check_inside(tmp_path, directory)


def _check_inside(parent: Path, directory: Path) -> None:
    assert [path.name for path in parent.iterdir()] == [directory.name]  # nothing climbed out
    names = [path.name for path in directory.iterdir()]
    assert len(names) == 3 * len(STRANGE_IDS)  # no two ids share a file
    assert all(
        (directory / name).is_file() and len(name.encode()) <= 255 and "/" not in name
        for name in names
    )


def test_file_names_are_distinct_and_never_paths() -> None:
    ids = [*STRANGE_IDS, "lone \udc80 surrogate", "A", "a"]
    names = [file_name(session_id) for session_id in ids]
    assert len(set(names)) == len(ids)
    assert file_name("call-42") == "call-42"
    assert file_name("a/b") == "a%2Fb" and file_name("a%2Fb") == "a%252Fb"
    directory = Path("/srv/sessions")
    for name in names:
        assert os.sep not in name
        assert (directory / f"{name}.json").resolve().parent == directory
    with pytest.raises(ValueError, match="must not be empty"):
        file_name("")


async def test_a_write_failing_midway_leaves_the_old_snapshot_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "store"
    store = FileStore(directory)
    lease = await store.acquire("call-42", owner="a")
    first = make_snapshot("call-42", turn=1)
    await store.save(first, lease=lease)
    written: list[int] = []

    def half_then_full_disk(fd: int, data: bytes) -> None:
        written.append(os.write(fd, data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(file_module, "_write_all", half_then_full_disk)
    with pytest.raises(PersistenceError) as caught:
        await store.save(make_snapshot("call-42", turn=7), lease=lease)
    assert written and written[0] > 0  # half a snapshot did reach the disk
    assert str(caught.value) == (
        f"the file store could not save session 'call-42': {os.strerror(errno.ENOSPC)}"
    )
    assert caught.value.session_id == "call-42"
    assert str(directory) not in str(caught.value)
    assert await store.load("call-42") == first
    assert sorted(path.name for path in directory.iterdir()) == [
        "call-42.json",
        "call-42.lease",
        "call-42.lock",
    ]  # the temporary file is gone


async def test_an_os_failure_is_a_persistence_error_naming_session_and_operation(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = FileStore(blocker / "store")
    with pytest.raises(PersistenceError, match="could not load session 'call-42'") as caught:
        await store.load("call-42")
    assert caught.value.session_id == "call-42"
    with pytest.raises(PersistenceError, match="could not acquire session 'call-42'"):
        await store.acquire("call-42", owner="a")


async def test_a_lock_held_too_long_is_a_persistence_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    await store.acquire("call-42", owner="a")  # creates the lock file
    monkeypatch.setattr(file_module, "_LOCK_WAIT", 0.1)
    fd = os.open(tmp_path / "call-42.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a paused process would hold it
        with trio.fail_after(10), pytest.raises(PersistenceError) as caught:
            await store.acquire("call-42", owner="b")
    finally:
        os.close(fd)
    assert str(caught.value) == (
        "the file store could not acquire session 'call-42': its file lock stayed held for 0.1 s"
    )
    with pytest.raises(SessionOwned):  # with the lock free again, the lease rules answer
        await store.acquire("call-42", owner="b")


async def test_a_damaged_lease_file_is_never_taken_for_a_fresh_one(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    lease = await store.acquire("call-42", owner="a", ttl=TTL)
    (tmp_path / "call-42.lease").write_text('{"fence": "one"}')
    for call in (
        store.acquire("call-42", owner="b"),
        store.renew(lease),
        store.save(make_snapshot("call-42"), lease=lease),
    ):
        with pytest.raises(PersistenceError, match="lease file of session 'call-42' is damaged"):
            await call


async def test_a_damaged_snapshot_file_is_a_snapshot_mismatch(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    (tmp_path / "call-42.json").write_text("{half a snap")
    with pytest.raises(PersistenceError, match="not a session snapshot"):
        await store.load("call-42")


async def test_an_expired_snapshot_file_is_removed_when_found(tmp_path: Path) -> None:
    store = FileStore(tmp_path, snapshot_ttl=60)
    lease = await store.acquire("call-42", owner="a")
    await store.save(make_snapshot("call-42"), lease=lease)
    path = tmp_path / "call-42.json"
    saved = path.stat().st_mtime
    os.utime(path, (saved - 61, saved - 61))  # as if saved 61 s ago
    assert await store.load("call-42") is None
    assert not path.exists()


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    lease = await store.acquire("s", owner="a")
    await store.aclose()
    for call in (store.load("s"), store.save(make_snapshot("s"), lease=lease), store.renew(lease)):
        with pytest.raises(PersistenceError, match=r"cannot .* session 's': the store is closed"):
            await call


@pytest.mark.parametrize(
    ("kwargs", "error", "reason"),
    [
        ({"max_threads": 0}, ValueError, "max_threads must be at least 1"),
        ({"max_threads": 2.5}, TypeError, "max_threads must be an int"),
        ({"snapshot_ttl": 0}, ValueError, "a snapshot ttl must be above zero"),
    ],
)
def test_bad_settings_are_typed_errors(
    tmp_path: Path, kwargs: dict[str, object], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        FileStore(tmp_path, **kwargs)  # type: ignore[arg-type]


async def test_file_work_never_runs_more_threads_than_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path, max_threads=2)
    running = 0
    most = 0
    original = trio.to_thread.run_sync

    async def counting(work: object, *, limiter: trio.CapacityLimiter) -> object:
        nonlocal running, most
        async with limiter:
            running += 1
            most = max(most, running)
            try:
                return await original(work, limiter=trio.CapacityLimiter(1))  # type: ignore[arg-type]
            finally:
                running -= 1

    monkeypatch.setattr(trio.to_thread, "run_sync", counting)
    async with trio.open_nursery() as nursery:
        for index in range(8):
            nursery.start_soon(store.load, f"s{index}")
    assert most == 2


HOLDER = """
import sys
import trio
from livehandle._persist.file import FileStore
from tests.persist.contract import make_snapshot

async def main() -> None:
    store = FileStore(sys.argv[1])
    lease = await store.acquire("call-42", owner="worker-a", ttl=float(sys.argv[2]))
    await store.save(make_snapshot("call-42", turn=3), lease=lease)
    print(lease.fence, flush=True)
    while True:  # a live worker renews its lease
        await trio.sleep(lease.ttl / 4)
        await store.renew(lease)

trio.run(main)
"""


async def _read_line(stream: trio.abc.ReceiveStream) -> str:
    received = b""
    while not received.endswith(b"\n"):
        chunk = await stream.receive_some()
        assert chunk, f"the holder ended before it held the lease: {received!r}"
        received += chunk
    return received.decode()


async def test_a_lease_held_in_another_process_until_it_is_killed(tmp_path: Path) -> None:
    ttl = 0.5
    store = FileStore(tmp_path)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    with trio.fail_after(30):
        holder = await trio.lowlevel.open_process(
            [sys.executable, "-c", HOLDER, str(tmp_path), str(ttl)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=environment,
        )
        try:
            assert holder.stdout is not None
            their_fence = int(await _read_line(holder.stdout))
            for _ in range(3):  # it renews: still held after more than its ttl
                with pytest.raises(SessionOwned):
                    await store.acquire("call-42", owner="worker-b", ttl=ttl)
                await trio.sleep(ttl / 2)
            holder.send_signal(signal.SIGKILL)  # no release: the lease must expire
            assert await holder.wait() == -signal.SIGKILL
        finally:
            if holder.returncode is None:
                holder.kill()
                await holder.wait()
        lease = await store.acquire("call-42", owner="worker-b", ttl=ttl, wait=ttl * 10)
        assert lease.fence > their_fence
        loaded = await store.load("call-42")
        assert isinstance(loaded, SessionSnapshot) and loaded.turn_count == 3
        theirs = Lease("call-42", "worker-a", their_fence, ttl)  # had it come back to life
        with pytest.raises(LeaseLost):
            await store.save(make_snapshot("call-42", turn=1), lease=theirs)
        assert await store.load("call-42") == loaded
