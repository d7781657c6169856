"""Barge-in latency: the emulator sends ``interrupted`` -> a subscriber has the ``Interrupted``.

Run: ``python benchmarks/bench_bargein.py`` (``--count``).

The emulator (wss://, its own process, pinned to CPU 1) streams a long real-time audio reply;
with ``--stamp-file`` it appends ``time.monotonic_ns()`` to that file just before it encodes and
writes each ``interrupted`` message.  The client (its own process, pinned to CPU 0) asks for a
reply; then, each round, it waits for a few audio chunks of the reply and types a new turn: the
emulator interrupts the reply (``interrupted``) and starts the next one.  The client reads the
clock when its subscriber receives the interruption -- for the handle, ``LiveEvent.Interrupted``
from ``handle.events()``, which the control lane publishes after the router has cancelled the
barge-in scope; for the L0 session, ``SessionEvent.Interrupted`` -- and the difference from the
stamp is the latency.
CLOCK_MONOTONIC is system-wide on Linux, so the two processes' clocks agree.  The first
``SKIP`` interruptions of each client process are not counted (warm-up).

The target (issue 15) is the handle's p99 at most ``MAX_OVER_SESSION_MS`` (0.2 ms) over the L0
session's.  A p99 needs many samples, and the tail of one run mostly measures how the VM
scheduled the emulator during that run (it moves by milliseconds from run to run for either
client), so each client's ``--count`` barge-ins (300) are taken in ``--blocks`` runs (6), the
two clients alternating block by block (the order flipping each block), each block a fresh
emulator and client process; the p99s compared are those of all blocks pooled, and each block's
difference is shown as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    client_list,
    emit,
    latency_report,
    latency_summary,
    make_tls,
    percentile,
    pin,
    run_worker,
    server_process,
)

THIS = Path(__file__).resolve()
SKIP = 5
KINDS = ("handle", "session")
MAX_OVER_SESSION_MS = 0.2  # issue 15: the handle's p99 within 0.2 ms of the L0 session's
CHUNKS_BEFORE_BARGE_IN = 3  # audio chunks of each reply the client waits for
COUNT = 300  # barge-ins counted per client (the p99 of 100 is about their maximum)
BLOCKS = 6  # runs per client, alternated with the other client's


def worker(kind: str, url: str, tls: str, count: int) -> dict[str, Any]:
    import trio
    from _common import endpoint, live_config

    pin("client")
    received: list[int] = []
    clock = time.monotonic_ns

    async def with_handle() -> None:
        from livehandle import LiveEvent, open_live_session

        where = endpoint(url, tls)
        async with open_live_session(live_config("AUDIO"), endpoint=where) as handle:
            events = handle.events()
            await handle.send_text("story")
            for _ in range(count):
                chunks = 0
                while chunks < CHUNKS_BEFORE_BARGE_IN:
                    event = await events.receive()
                    if isinstance(event, LiveEvent.Audio):
                        chunks += 1
                await handle.send_text("story")  # interrupts the reply, starts the next
                while not isinstance(await events.receive(), LiveEvent.Interrupted):
                    pass
                received.append(clock())

    async def with_session() -> None:
        from livehandle import SessionEvent
        from livehandle._session import open_session
        from livehandle._wire import messages as m

        where = endpoint(url, tls)
        setup = live_config("AUDIO").to_setup(where)
        turn = m.ClientContent(
            turns=(m.Content(parts=(m.Part(text="story"),), role="user"),), turn_complete=True
        )
        async with open_session(setup, endpoint=where) as session:
            events = session.subscribe()
            await session.send(turn)
            for _ in range(count):
                chunks = 0
                while chunks < CHUNKS_BEFORE_BARGE_IN:
                    if isinstance(await events.receive(), SessionEvent.AudioData):
                        chunks += 1
                await session.send(turn)
                while not isinstance(await events.receive(), SessionEvent.Interrupted):
                    pass
                received.append(clock())

    trio.run(with_handle if kind == "handle" else with_session)
    return {"received": received}


def run(count: int = COUNT, kinds: tuple[str, ...] = KINDS, blocks: int = BLOCKS) -> dict[str, Any]:
    """``count`` counted barge-ins per client, in ``blocks`` blocks alternated between clients."""
    pooled: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors: dict[str, dict[str, Any]] = {}
    block_p99: dict[str, list[float]] = {kind: [] for kind in kinds}
    story = json.dumps({"rules": [{"when": {"text": "story"}, "reply": [{"audio_ms": 60_000}]}]})
    per_block = max(1, -(-count // blocks))
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        for block in range(blocks):
            order = kinds if block % 2 == 0 else kinds[::-1]
            for kind in order:
                if kind in errors:
                    continue
                found = _block(
                    kind, tls, Path(tmp) / f"stamps-{kind}-{block}.txt", per_block, story
                )
                if "error" in found:
                    errors[kind] = found
                    continue
                pooled[kind].extend(found["latencies"])
                block_p99[kind].append(percentile(found["latencies"], 99))
    results: dict[str, Any] = {
        kind: errors.get(kind) or latency_summary(pooled[kind]) for kind in kinds
    }
    handle, session = results.get("handle", {}), results.get("session", {})
    over = handle["p99"] - session["p99"] if "p99" in handle and "p99" in session else None
    handles, sessions = block_p99.get("handle", []), block_p99.get("session", [])
    pairs = [h - s for h, s in zip(handles, sessions, strict=False)]  # a failed client: fewer
    return {
        "clients": results,
        "handle_over_session_p99_ms": over,
        "block_p99_over_ms": pairs,
    }


def _block(kind: str, tls: str, stamps_file: Path, count: int, story: str) -> dict[str, Any]:
    """One client process against a fresh emulator: ``count`` counted barge-ins' latencies."""
    args = ["--tls", tls, "--scenario", story, "--realtime", "--stamp-file", str(stamps_file)]
    with server_process("emulator", *args) as url:
        found = run_worker(THIS, [kind, url, tls, str(count + SKIP)], 30 + count * 0.5)
    if "error" in found:
        return dict(found)
    stamps = [int(line) for line in stamps_file.read_text().split()]
    if len(stamps) != len(found["received"]):
        return {"error": f"{len(stamps)} interruptions sent, {len(found['received'])} seen"}
    latencies = [(r - s) / 1e6 for s, r in zip(stamps, found["received"], strict=True)]
    return {"latencies": latencies[SKIP:]}


def report(result: dict[str, Any]) -> str:
    title = (
        "Barge-in latency, ms: the emulator sends `interrupted` -> the subscriber has it "
        "(handle: LiveEvent.Interrupted from events(); L0: SessionEvent.Interrupted); wss://"
    )
    lines = [latency_report(title, result["clients"], "barge-ins")]
    over = result.get("handle_over_session_p99_ms")
    if over is not None:
        lines.append(
            f"  handle p99 - L0 session p99 (all blocks pooled): {over:+.3f} ms "
            f"(target <= {MAX_OVER_SESSION_MS} ms)"
        )
    pairs = result.get("block_p99_over_ms") or []
    if pairs:
        each = " ".join(f"{p:+.2f}" for p in pairs)
        lines.append(f"  per block, handle p99 - L0 p99, ms: {each}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, url, tls, count = sys.argv[2:6]
        emit(worker(kind, url, tls, int(count)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--blocks", type=int, default=BLOCKS)
    parser.add_argument("--clients", type=client_list, default=",".join(KINDS))
    args = parser.parse_args()
    print(report(run(args.count, args.clients, args.blocks)))


if __name__ == "__main__":
    main()
