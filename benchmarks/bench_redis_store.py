"""RedisStore: what a save and a load cost, and how much of that is the hop into a thread.

Run: ``python benchmarks/bench_redis_store.py`` (``--url``, ``--count``, ``--turns``).

Without ``--url`` it starts its own ``redis-server`` on a free loopback port (nothing written to
disk) and stops it at the end.  One Trio task, one operation at a time, after a warm-up:

* ``store.save`` and ``store.load`` of one snapshot (``--turns`` transcript turns of typical
  length), p50 / p99 / max in ms;
* the same SET and GET with the synchronous ``redis`` client called directly (no thread, no
  script), and the save script called directly (no thread): the floor a thread-less client
  would pay;
* ``trio.to_thread.run_sync`` of a function that does nothing: the hop alone;
* ``to_json`` and ``from_json`` of the snapshot (on the Trio thread, not in the hop);
* throughput of ``--tasks`` tasks saving concurrently (the store's ``max_threads``);
* the snapshot's size, and what Redis keeps per session (``MEMORY USAGE`` of its three keys).

Loopback only, real time (a benchmark, not a test: nothing fails).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from livehandle._persist.redis import RedisStore
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._runtime.transcript import TranscriptTurn

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@contextmanager
def local_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install redis-server (or pass --url)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", directory]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        for line in process.stdout:  # until it says it is ready (it exits on failure)
            if b"Ready to accept connections" in line:
                break
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def typical_snapshot(session_id: str, turns: int) -> SessionSnapshot:
    said = "I'd like to move my appointment to Thursday afternoon if that is possible. " * 2
    answer = "Of course. Thursday at three or at four thirty are free; which suits you?" * 2
    return SessionSnapshot(
        session_id=session_id,
        state={"caller": "Ada Lovelace", "appointment": "2026-12-10T15:00", "cart": list(range(8))},
        transcript=tuple(TranscriptTurn(n, said, answer, typed=False) for n in range(turns)),
        turn_count=turns,
        phase="active",
        resume_handle="CiQ" + "x" * 120,
        handle_issued_at="2026-12-07T05:00:00Z",
        telemetry={"turns": turns, "interruptions": 2, "tool_calls": 3, "resumes": 0},
        config_fingerprint="sha256:" + "0" * 64,
        saved_at="2026-12-07T05:00:01Z",
    )


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:6.3f} ms   p99 {p99 * 1000:6.3f} ms   "
        f"max {ordered[-1] * 1000:6.3f} ms"
    )


async def timed(count: int, call: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()  # type: ignore[misc]
        samples.append(time.perf_counter() - start)
    return samples


async def main(args: argparse.Namespace, url: str) -> None:
    prefix = f"bench-{os.getpid()}:"
    store = RedisStore(url, key_prefix=prefix, max_threads=args.tasks)
    snap = typical_snapshot("call-0", args.turns)
    text = snap.to_json()
    lease = await store.acquire("call-0", owner="bench")
    for _ in range(200):  # warm-up: connections, script cache, thread cache
        await store.save(snap, lease=lease)
        await store.load("call-0")

    save = await timed(args.count, lambda: store.save(snap, lease=lease))
    load = await timed(args.count, lambda: store.load("call-0"))

    client = redis.Redis.from_url(url)
    raw_set, raw_get = [], []
    for _ in range(args.count):
        start = time.perf_counter()
        client.set(f"{prefix}raw", text, px=7_200_000)
        raw_set.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.get(f"{prefix}raw")
        raw_get.append(time.perf_counter() - start)

    keys = [store.key(kind, "call-0") for kind in ("lease", "fence", "snap")]
    script_args = [f"{lease.fence}:bench", str(lease.fence), "604800000", text, "7200000"]
    script, encode, decode = [], [], []
    for _ in range(args.count):
        start = time.perf_counter()
        store._save(keys, script_args)
        script.append(time.perf_counter() - start)
        start = time.perf_counter()
        snap.to_json()
        encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        SessionSnapshot.from_json(text)
        decode.append(time.perf_counter() - start)

    limiter = trio.CapacityLimiter(1)
    hop = await timed(args.count, lambda: trio.to_thread.run_sync(int, limiter=limiter))

    leases = [await store.acquire(f"call-{n}", owner="bench") for n in range(1, args.tasks + 1)]
    per_task = args.count // args.tasks
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for held in leases:
            shot = typical_snapshot(held.session_id, args.turns)

            async def saver(held: object = held, shot: SessionSnapshot = shot) -> None:
                for _ in range(per_task):
                    await store.save(shot, lease=held)  # type: ignore[arg-type]

            nursery.start_soon(saver)
    rate = per_task * args.tasks / (time.perf_counter() - start)

    memory = sum(
        client.memory_usage(store.key(kind, "call-0")) or 0 for kind in ("snap", "lease", "fence")
    )
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
    await store.aclose()

    print(
        f"redis-server {redis.Redis.from_url(url).info()['redis_version']}, redis-py "
        f"{redis.__version__}, Python {sys.version.split()[0]}, {args.count} operations each"
    )
    print(f"snapshot: {args.turns} turns, {len(text.encode())} bytes of JSON")
    print(f"RedisStore.save          {summary(save)}")
    print(f"RedisStore.load          {summary(load)}")
    print(f"sync client SET (no hop) {summary(raw_set)}")
    print(f"sync client GET (no hop) {summary(raw_get)}")
    print(f"save script (no hop)     {summary(script)}")
    print(f"to_thread.run_sync(noop) {summary(hop)}")
    print(f"snapshot.to_json()       {summary(encode)}")
    print(f"SessionSnapshot.from_json {summary(decode)}")
    print(f"{args.tasks} tasks saving at once: {rate:,.0f} saves/s")
    print(f"Redis memory per session (snapshot + lease + fence keys): {memory} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start a local redis-server)")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=8)
    options = parser.parse_args()
    if options.url:
        trio.run(main, options, options.url)
    else:
        with local_server() as url:
            trio.run(main, options, url)
