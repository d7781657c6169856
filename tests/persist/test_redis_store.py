"""RedisStore against a real redis-server: every rule of the store contract, and its failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
import trio

from livehandle._errors import LeaseLost, PersistenceError, SessionOwned, SnapshotMismatch
from livehandle._persist.redis import DEFAULT_FENCE_TTL, RedisStore
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._persist.store import Lease, SessionStore
from tests.persist import redis_server as server_helpers
from tests.persist.contract import CHECKS, Check, Kit, snapshot
from tests.persist.redis_server import free_port, redis_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

CANARY = "canary-Pa55word-7d1f"


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisStore]:
    made = RedisStore(redis_url, key_prefix=redis_prefix, timeout=2.0)
    yield made
    await made.aclose()


@pytest.fixture
def raw(redis_url: str) -> Any:
    """A plain client, to look at keys and to make a lease expire at once."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


async def test_a_redis_store_is_a_session_store(store: RedisStore) -> None:
    assert isinstance(store, SessionStore)


async def test_save_then_load_round_trips_and_an_unknown_id_loads_none(store: RedisStore) -> None:
    lease = await store.acquire("call-42", owner="worker-a")
    assert await store.load("call-42") is None
    await store.save(snapshot(), lease=lease)
    assert await store.load("call-42") == snapshot()
    await store.save(snapshot(turn_count=2), lease=lease)
    assert (await store.load("call-42")) == snapshot(turn_count=2)
    assert await store.load("call-43") is None


async def test_keys_are_named_by_the_prefix(store: RedisStore, raw: Any, redis_prefix: str) -> None:
    lease = await store.acquire("call-42", owner="worker-a")
    await store.save(snapshot(), lease=lease)
    assert sorted(raw.keys(f"{redis_prefix}*")) == [
        f"{redis_prefix}fence:call-42",
        f"{redis_prefix}lease:call-42",
        f"{redis_prefix}snap:call-42",
    ]
    assert raw.get(f"{redis_prefix}lease:call-42") == f"{lease.fence}:worker-a"
    assert SessionSnapshot.from_json(raw.get(f"{redis_prefix}snap:call-42")) == snapshot()


async def test_one_owner_a_second_gets_session_owned_at_once(store: RedisStore) -> None:
    lease = await store.acquire("call-42", owner="worker-a", ttl=30)
    assert lease == Lease("call-42", "worker-a", lease.fence, 30.0)
    with trio.fail_after(1):
        for owner in ("worker-b", "worker-a"):  # the holder itself cannot take it twice either
            with pytest.raises(SessionOwned, match="owned by another live worker") as caught:
                await store.acquire("call-42", owner=owner)
            assert caught.value.session_id == "call-42"
    # Another session is free.
    assert (await store.acquire("call-43", owner="worker-b")).owner == "worker-b"


async def test_of_many_concurrent_acquires_exactly_one_wins(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisStore(redis_url, key_prefix=redis_prefix, max_threads=4)
    won: list[Lease] = []
    refused: list[str] = []

    async def contend(owner: str) -> None:
        try:
            won.append(await store.acquire("call-42", owner=owner))
        except SessionOwned:
            refused.append(owner)

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(contend, f"worker-{n}")
    await store.aclose()
    assert len(won) == 1
    assert len(refused) == 19


async def test_a_waiting_acquire_gets_the_lease_when_it_is_released(store: RedisStore) -> None:
    first = await store.acquire("call-42", owner="worker-a", ttl=30)
    got: list[Lease] = []
    refused = trio.Event()

    async def waiter() -> None:
        with pytest.raises(SessionOwned):
            await store.acquire("call-42", owner="worker-b")
        refused.set()
        got.append(await store.acquire("call-42", owner="worker-b", wait=10))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await refused.wait()
            await store.release(first)
    assert got[0].owner == "worker-b"
    assert got[0].fence > first.fence


async def test_expiry_frees_the_lease_for_a_waiting_acquire(store: RedisStore) -> None:
    first = await store.acquire("call-42", owner="worker-a", ttl=0.2)
    with trio.fail_after(5):
        start = trio.current_time()
        second = await store.acquire("call-42", owner="worker-b", wait=5)
        waited = trio.current_time() - start
    assert second.fence > first.fence
    assert 0.1 < waited < 2.0  # it waited for the expiry, and no longer than needed


async def test_a_wait_that_ends_first_is_session_owned(store: RedisStore) -> None:
    await store.acquire("call-42", owner="worker-a", ttl=30)
    with trio.fail_after(3):
        start = trio.current_time()
        with pytest.raises(SessionOwned, match=r"waited 0\.3 s"):
            await store.acquire("call-42", owner="worker-b", wait=0.3)
    assert trio.current_time() - start >= 0.3


async def test_fences_only_grow_even_after_release_and_expiry(store: RedisStore, raw: Any) -> None:
    fences = []
    for _ in range(3):
        lease = await store.acquire("call-42", owner="worker-a")
        fences.append(lease.fence)
        await store.release(lease)
    raw.delete(store.key("lease", "call-42"))  # a lease that expired
    fences.append((await store.acquire("call-42", owner="worker-b")).fence)
    assert fences == sorted(set(fences))
    ttl_ms = raw.pttl(store.key("fence", "call-42"))
    assert DEFAULT_FENCE_TTL * 1000 - 60_000 < ttl_ms <= DEFAULT_FENCE_TTL * 1000


async def test_renew_extends_the_lease_from_now(store: RedisStore, raw: Any) -> None:
    lease = await store.acquire("call-42", owner="worker-a", ttl=60)
    key = store.key("lease", "call-42")
    assert 59_000 < raw.pttl(key) <= 60_000
    raw.pexpire(key, 5_000)
    assert await store.renew(lease) == lease
    assert 59_000 < raw.pttl(key) <= 60_000


async def test_renew_and_writes_after_expiry_are_lease_lost(store: RedisStore, raw: Any) -> None:
    lease = await store.acquire("call-42", owner="worker-a", ttl=60)
    await store.save(snapshot(), lease=lease)
    raw.delete(store.key("lease", "call-42"))  # it expired (the worker was paused)
    with pytest.raises(LeaseLost, match="expired or was taken over") as caught:
        await store.renew(lease)
    assert caught.value.session_id == "call-42"
    with pytest.raises(LeaseLost, match="not saved"):
        await store.save(snapshot(turn_count=9), lease=lease)
    with pytest.raises(LeaseLost, match="not deleted"):
        await store.delete("call-42", lease=lease)
    assert await store.load("call-42") == snapshot()


async def test_a_real_expiry_loses_the_lease(store: RedisStore) -> None:
    lease = await store.acquire("call-42", owner="worker-a", ttl=0.2)
    with trio.fail_after(5):
        taker = await store.acquire("call-42", owner="worker-b", wait=5)
    with pytest.raises(LeaseLost):
        await store.renew(lease)
    assert await store.renew(taker) == taker


async def test_fencing_a_stale_lease_never_overwrites_the_new_owners_snapshot(
    store: RedisStore, raw: Any
) -> None:
    stale = await store.acquire("call-42", owner="worker-a", ttl=60)
    await store.save(snapshot(turn_count=1), lease=stale)
    raw.delete(store.key("lease", "call-42"))  # worker A is partitioned; its lease expires
    fresh = await store.acquire("call-42", owner="worker-b", ttl=60)
    await store.save(snapshot(turn_count=2), lease=fresh)
    with pytest.raises(LeaseLost):
        await store.save(snapshot(turn_count=3), lease=stale)
    # Even a lease forged with the new owner's name but the old fence is refused.
    with pytest.raises(LeaseLost):
        await store.save(
            snapshot(turn_count=4), lease=Lease("call-42", "worker-b", stale.fence, 60)
        )
    with pytest.raises(LeaseLost):
        await store.delete("call-42", lease=stale)
    await store.release(stale)  # nothing happens: it is not the holder
    assert await store.load("call-42") == snapshot(turn_count=2)
    assert await store.renew(fresh) == fresh


async def test_every_save_sets_the_snapshot_ttl(
    redis_url: str, redis_prefix: str, raw: Any
) -> None:
    store = RedisStore(redis_url, key_prefix=redis_prefix, snapshot_ttl=100)
    lease = await store.acquire("call-42", owner="worker-a")
    await store.save(snapshot(), lease=lease)
    key = store.key("snap", "call-42")
    assert 99_000 < raw.pttl(key) <= 100_000
    raw.pexpire(key, 5_000)
    await store.save(snapshot(turn_count=2), lease=lease)
    assert 99_000 < raw.pttl(key) <= 100_000
    await store.aclose()


async def test_the_default_snapshot_ttl_is_two_hours(store: RedisStore, raw: Any) -> None:
    lease = await store.acquire("call-42", owner="worker-a")
    await store.save(snapshot(), lease=lease)
    assert 7_190_000 < raw.pttl(store.key("snap", "call-42")) <= 7_200_000


async def test_delete_forgets_the_snapshot(store: RedisStore) -> None:
    lease = await store.acquire("call-42", owner="worker-a")
    await store.save(snapshot(), lease=lease)
    await store.delete("call-42", lease=lease)
    assert await store.load("call-42") is None
    await store.delete("call-42", lease=lease)  # nothing left: still fine


async def test_a_stored_text_that_is_no_snapshot_is_a_mismatch(store: RedisStore, raw: Any) -> None:
    raw.set(store.key("snap", "call-42"), '{"schema_version": 99}')
    with pytest.raises(SnapshotMismatch, match=r"schema version 99.*'call-42'") as caught:
        await store.load("call-42")
    assert caught.value.session_id == "call-42"


async def test_aclose_is_idempotent_and_later_operations_fail(store: RedisStore) -> None:
    await store.aclose()
    await store.aclose()
    with pytest.raises(PersistenceError, match="the store is closed") as caught:
        await store.load("call-42")
    assert caught.value.session_id == "call-42"


async def test_bad_arguments_are_typed_errors(store: RedisStore, redis_url: str) -> None:
    lease = await store.acquire("call-42", owner="worker-a")
    with pytest.raises(ValueError, match="session id must not be empty"):
        await store.load("")
    with pytest.raises(TypeError, match="session id must be a string"):
        await store.load(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl must be above zero, got 0"):
        await store.acquire("call-1", owner="worker-a", ttl=0)
    with pytest.raises(ValueError, match="wait must be a finite"):
        await store.acquire("call-1", owner="worker-a", wait=-1)
    with pytest.raises(ValueError, match="lease owner must not be empty"):
        await store.acquire("call-1", owner="")
    with pytest.raises(
        ValueError, match="cannot save session 'other' with the lease of session 'call-42'"
    ):
        await store.save(snapshot("other"), lease=lease)
    with pytest.raises(TypeError, match="expected a Lease"):
        await store.renew("lease")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ttl must be a number of seconds, got str"):
        await store.acquire("call-1", owner="worker-a", ttl="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wait must be a number of seconds, got bool"):
        await store.acquire("call-1", owner="worker-a", wait=True)
    with pytest.raises(TypeError, match="expected a SessionSnapshot, got dict"):
        await store.save({}, lease=lease)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match="cannot delete session 'call-1' with the lease of session 'call-42'"
    ):
        await store.delete("call-1", lease=lease)
    with pytest.raises(TypeError, match="url must be a string, got bytes"):
        RedisStore(b"redis://x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key_prefix must be a string, got int"):
        RedisStore(redis_url, key_prefix=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_threads"):
        RedisStore(redis_url, max_threads=0)
    with pytest.raises(ValueError, match="timeout must be finite, got nan"):
        RedisStore(redis_url, timeout=float("nan"))
    with pytest.raises(ValueError, match=r"not a Redis URL: http://\*\*\*@x"):
        RedisStore(f"http://user:{CANARY}@x/0")
    with pytest.raises(ValueError, match="not a Redis URL"):  # not even a URL
        RedisStore("redis://[::1/0")
    with pytest.raises(ValueError, match="not a Redis URL") as caught:  # not even a URL's port
        RedisStore(f"redis://user:{CANARY}@x:port/0")
    assert CANARY not in str(caught.value)


async def test_a_closed_port_is_a_persistence_error_at_once() -> None:
    port = free_port()
    store = RedisStore(f"redis://:{CANARY}@127.0.0.1:{port}/0", timeout=1.0)
    with trio.fail_after(3):
        with pytest.raises(PersistenceError, match=r"redis acquire of session 'call-42'") as caught:
            await store.acquire("call-42", owner="worker-a")
    assert caught.value.session_id == "call-42"
    assert CANARY not in str(caught.value)
    assert f"redis://***@127.0.0.1:{port}/0" in str(caught.value)
    assert caught.value.__cause__ is None
    await store.aclose()


@pytest.fixture
def silent_port() -> Any:
    """A port that accepts connections (in the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


async def test_a_server_that_never_answers_times_out_as_a_persistence_error(
    silent_port: int,
) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.3)
    with trio.fail_after(3):
        start = trio.current_time()
        with pytest.raises(PersistenceError, match="Timeout"):
            await store.load("call-42")
    assert trio.current_time() - start >= 0.25
    await store.aclose()


async def test_a_cancelled_operation_waits_for_its_thread_never_abandoning_it(
    silent_port: int,
) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.4)
    with trio.fail_after(3):
        start = trio.current_time()
        with trio.move_on_after(0.05) as scope:
            await store.acquire("call-42", owner="worker-a")
    # The cancel took effect only once the call had ended (its socket timeout).
    assert scope.cancelled_caught
    assert trio.current_time() - start >= 0.35
    await store.aclose()


async def test_an_acquire_cancelled_while_it_ran_gives_the_lease_back(
    store: RedisStore, raw: Any
) -> None:
    scope = trio.CancelScope()
    real = store._acquire

    def cancelled_meanwhile(keys: list[str], args: list[str]) -> Any:
        result = real(keys, args)
        trio.from_thread.run_sync(scope.cancel)
        return result

    store._acquire = cancelled_meanwhile
    with scope:
        await store.acquire("call-42", owner="worker-a")
    assert scope.cancelled_caught
    assert raw.get(store.key("fence", "call-42")) == "1"  # it was taken...
    assert raw.get(store.key("lease", "call-42")) is None  # ...and given back
    store._acquire = real
    assert (await store.acquire("call-42", owner="worker-b")).fence == 2


async def test_a_stopped_server_is_a_persistence_error(
    redis_binary: str, redis_prefix: str
) -> None:
    with redis_server() as port:
        store = RedisStore(f"redis://127.0.0.1:{port}/0", key_prefix=redis_prefix, timeout=1.0)
        lease = await store.acquire("call-42", owner="worker-a")
        await store.save(snapshot(), lease=lease)
    with trio.fail_after(3):
        with pytest.raises(PersistenceError, match="redis save of session 'call-42' failed"):
            await store.save(snapshot(), lease=lease)
        with pytest.raises(PersistenceError, match="redis load"):
            await store.load("call-42")
    await store.aclose()


async def test_the_password_is_used_and_never_shown(redis_binary: str, redis_prefix: str) -> None:
    with redis_server(password=CANARY) as port:
        url = f"redis://:{CANARY}@127.0.0.1:{port}/0"
        good = RedisStore(url, key_prefix=redis_prefix)
        assert CANARY not in repr(good)
        assert (
            repr(good)
            == f"RedisStore('redis://***@127.0.0.1:{port}/0', key_prefix={redis_prefix!r})"
        )
        lease = await good.acquire("call-42", owner="worker-a")
        await good.save(snapshot(), lease=lease)
        assert await good.load("call-42") == snapshot()
        await good.aclose()
        wrong = f"{CANARY}-wrong"
        for bad_url in (
            f"redis://:{wrong}@127.0.0.1:{port}/0",
            f"redis://127.0.0.1:{port}/0?password={wrong}",
            f"redis://127.0.0.1:{port}/0",
        ):
            bad = RedisStore(bad_url)
            assert CANARY not in repr(bad)
            with pytest.raises(PersistenceError) as caught:
                await bad.load("call-42")
            assert CANARY not in str(caught.value)
            assert CANARY not in repr(caught.value.args)
            await bad.aclose()


async def test_a_client_error_quoting_the_password_is_scrubbed(monkeypatch: Any) -> None:
    store = RedisStore(f"redis://user:{CANARY}@127.0.0.1:1/0?token=tok-{CANARY}&db=0")

    def leaky(*args: object) -> None:
        raise redis.exceptions.ConnectionError(f"auth {CANARY} and tok-{CANARY} refused")

    monkeypatch.setattr(store._client, "get", leaky)
    with pytest.raises(PersistenceError, match=r"auth \*\*\* and \*\*\* refused") as caught:
        await store.load("call-42")
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(store)
    await store.aclose()


def test_without_the_redis_package_the_error_says_what_to_install(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install livehandle\[redis\]"):
        RedisStore()


def test_importing_livehandle_does_not_import_redis() -> None:
    code = (
        "import sys, livehandle, livehandle._persist.redis\n"
        "assert 'redis' not in sys.modules, 'redis was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_missing_redis_server_skips_locally_and_fails_in_ci(monkeypatch: Any) -> None:
    monkeypatch.setattr(server_helpers.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        server_helpers.find_redis_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the Redis tests must run in CI"):
        server_helpers.find_redis_server()


def test_redis_is_an_optional_extra_and_the_core_dependencies_stay_four() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert [dep.split(">")[0] for dep in project["dependencies"]] == [
        "trio",
        "trio-websocket",
        "attrs",
        "cattrs",
    ]
    extras = project["optional-dependencies"]
    assert extras["redis"] == ["redis>=8.2"]
    assert "redis>=8.2" in extras["test"]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
async def test_the_store_contract(check: Check, redis_url: str, redis_prefix: str) -> None:
    # The same contract every store keeps (tests/persist/contract.py), on a real redis-server.
    store = RedisStore(redis_url, key_prefix=redis_prefix, snapshot_ttl=1.0)
    try:
        with trio.fail_after(30):
            await check(Kit(store, trio.sleep, ttl=0.2, snapshot_ttl=1.0, prefix=redis_prefix))
    finally:
        await store.aclose()
