"""Failover with real processes: a worker is SIGKILLed, another takes its session over.

The emulator serves a loopback socket in this process; the workers are ``tests/persist/worker.py``
run as subprocesses, each printing one JSON line per step.  Those lines are the only progress
signals: nothing waits on time except the bounds (``trio.fail_after``) and the lease, whose
expiry is the point of the test.  Run with a :class:`~livehandle.FileStore` and with a
:class:`~livehandle.RedisStore` on a real ``redis-server`` (see conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio

from livehandle import (
    FileStore,
    Lease,
    LeaseLost,
    LiveConfig,
    RedisStore,
    SessionStore,
    open_live_session,
)
from livehandle.testing import (
    CallTools,
    LiveEmulator,
    Pause,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from tests.persist.fakes import FakeStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ROOT = Path(__file__).resolve().parents[2]
SESSION_ID = "call-42"
LEASE_TTL = 2.0
#: The whole test's bound, real time (it takes about 4 s: two interpreter starts, one lease).
BOUND = 20.0

SCENARIO = Scenario(
    rules=[
        Rule(
            When(text="weather"),
            [CallTools([ToolCallSpec("remember_city", {"city": "Paris"})]), Say("Noted: {result}")],
        ),
        # The reply worker A is killed in: it starts, then waits far longer than the test runs.
        Rule(When(text="hold on"), [Say("Let me check."), Pause(600), Say("Done.")]),
    ]
)


class Worker:
    """One worker subprocess: its JSON progress lines, read one at a time."""

    def __init__(self, name: str, process: trio.Process, stderr: Path) -> None:
        self.name = name
        self.process = process
        self._stderr = stderr
        self._buffer = b""

    def _why(self) -> str:
        return self._stderr.read_text(errors="replace")[-4000:]

    async def next(self) -> dict[str, Any]:
        """The next progress line (fails with the worker's stderr if it ended first)."""
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            chunk = await self.process.stdout.receive_some(65536)
            if not chunk:
                raise AssertionError(f"worker {self.name} ended early:\n{self._why()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    async def expect(self, step: str) -> dict[str, Any]:
        """The next progress line, which must be ``step``."""
        line = await self.next()
        assert line["step"] == step, f"worker {self.name}: expected {step!r}, got {line}"
        return line

    async def send(self, text: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(text.encode())


@asynccontextmanager
async def worker(name: str, tmp_path: Path, *args: str) -> AsyncIterator[Worker]:
    """Run ``python -m tests.persist.worker ARGS``; killed on exit if it still runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stderr_path = tmp_path / f"worker-{name}.stderr"
    with stderr_path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tests.persist.worker", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
            env=env,
        )
    try:
        yield Worker(name, process, stderr_path)
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    await stream.aclose()


@attrs.frozen
class StoreUnderTest:
    spec: str  # the worker's --store
    prefix: str  # the worker's --prefix
    open: Callable[[], SessionStore]  # the same store, in this process


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "file":
        directory = tmp_path / "store"
        directory.mkdir()
        return StoreUnderTest(f"file:{directory}", "", lambda: FileStore(directory))
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    return StoreUnderTest(f"redis:{url}", prefix, lambda: RedisStore(url, key_prefix=prefix))


async def test_a_killed_worker_s_session_goes_on_in_another_process(
    store: StoreUnderTest, tmp_path: Path
) -> None:
    common = [
        "--store",
        store.spec,
        "--prefix",
        store.prefix or "livehandle:",
        "--lease-ttl",
        str(LEASE_TTL),
    ]
    with trio.fail_after(BOUND):
        async with LiveEmulator(SCENARIO).running() as emu:
            common += ["--url", emu.url]
            async with worker("a", tmp_path, "a", *common) as a:
                await a.expect("opened")
                turns = [await a.expect("turn") for _ in range(3)]
                assert [t["model"] for t in turns[:2]] == ["You said: one", "You said: two"]
                assert "Noted" in turns[2]["model"] and "Paris" in turns[2]["model"]
                state_a = (await a.expect("state"))["state"]
                assert state_a == {"name": "Ada", "city": "Paris"}  # the tool set "city"
                saved = await a.expect("saved")
                assert saved["turn_count"] == 3 and saved["state"] == state_a
                assert [user for user, _ in saved["transcript"]] == [t["user"] for t in turns]
                checkpoint = emu.checkpoint(saved["handle"])
                assert checkpoint is not None  # the emulator issued it: after turn 3, no call
                assert checkpoint.turns == 3 and checkpoint.tool_calls == ()
                holding = await a.expect("holding")  # the model is replying to "hold on"
                assert holding["said"] == "Let me check."

                async with worker("b", tmp_path, "b", *common, "--wait", "15") as b:
                    owned = await b.expect("owned")  # A holds the lease and renews it
                    assert owned["session_id"] == SESSION_ID

                    a.process.send_signal(signal.SIGKILL)  # no final save, no release
                    assert await a.process.wait() == -signal.SIGKILL
                    await b.send("go\n")  # B now waits for A's lease to expire

                    opened = await b.expect("opened")
                    # A renewed every ttl/3 until killed: its lease outlived it by 2/3 ttl at
                    # least, and B got the session only once that had run out (no release).
                    assert LEASE_TTL / 2 < opened["waited"] < LEASE_TTL + 5
                    assert await b.expect("restored") == {
                        "step": "restored",
                        "fresh": False,
                        "turn_count": 3,
                    }
                    restored = await b.expect("state")
                    assert restored["state"] == state_a
                    assert restored["transcript"] == saved["transcript"]
                    answer = await b.expect("turn")
                    assert answer["model"] == "You said: and now?"
                    closed = await b.expect("closed")
                    assert await b.process.wait() == 0

            # The emulator saw B present A's handle and continued A's conversation from it.
            resumed = emu.connections[-1]
            assert resumed.resumed_from == saved["handle"]
            assert [c.resumed_from for c in emu.connections[:-1]] == [None]  # A's one connection
            (conversation,) = emu.conversations
            history = conversation.history
            before = list(checkpoint.history)
            assert history[: len(before)] == before
            after = history[len(before) :]
            assert after == [("user", "and now?"), ("model", "You said: and now?")]
            assert not any("hold on" in text for _, text in history)  # lost with A, as it must

    # B's clean disconnect saved its snapshot under a newer fence and released the lease.
    assert closed["turn_count"] == 4 and closed["fence"] > saved["fence"]
    assert closed["transcript"] == [*saved["transcript"], ["and now?", "You said: and now?"]]
    assert closed["owner"] != saved["owner"]
    await check_fencing(store, saved, closed)


async def check_fencing(store: StoreUnderTest, a: dict[str, Any], b: dict[str, Any]) -> None:
    """A save with A's lease is refused now that B took over; B's snapshot stays."""
    opened = store.open()
    try:
        newest = await opened.load(SESSION_ID)
        assert newest is not None and newest.turn_count == 4
        stale = Lease(SESSION_ID, a["owner"], a["fence"], a["ttl"])
        older = attrs.evolve(newest, turn_count=3, transcript=newest.transcript[:3])
        with pytest.raises(LeaseLost, match=SESSION_ID):
            await opened.save(older, lease=stale)
        with pytest.raises(LeaseLost):
            await opened.delete(SESSION_ID, lease=stale)
        assert await opened.load(SESSION_ID) == newest
        lease = await opened.acquire(SESSION_ID, owner="the-test")  # B released it
        assert lease.fence == b["fence"] + 1
        await opened.release(lease)
    finally:
        await opened.aclose()


# -- the lease ttl keyword ---------------------------------------------------------------------


async def test_the_lease_ttl_reaches_the_store_and_is_checked() -> None:
    taken: list[float] = []

    class Recording(FakeStore):
        async def acquire(
            self, session_id: str, *, owner: str, ttl: float = 15.0, wait: float = 0.0
        ) -> Lease:
            taken.append(ttl)
            return await super().acquire(session_id, owner=owner, ttl=ttl, wait=wait)

    fake = Recording()
    config = LiveConfig(response_modality="TEXT", session_resumption=True)
    async with LiveEmulator().in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(
            config, endpoint=emu.url, transport=transport, store=fake, lease_ttl=3.5
        ):
            pass
        async with open_live_session(config, endpoint=emu.url, transport=transport, store=fake):
            pass
    assert taken == [3.5, 15.0]
    for bad, error in ((0, ValueError), (-1.0, ValueError), (float("inf"), ValueError)):
        with pytest.raises(error, match="lease_ttl"):
            async with open_live_session(config, endpoint="ws://x", store=fake, lease_ttl=bad):
                pass
    with pytest.raises(TypeError, match="lease_ttl"):
        async with open_live_session(config, endpoint="ws://x", store=fake, lease_ttl="2"):  # type: ignore[arg-type]
            pass
    assert len(taken) == 2  # bad arguments never reach the store
