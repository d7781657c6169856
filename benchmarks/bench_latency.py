"""Latency from a model audio chunk leaving the emulator to the application seeing it (p50/p99).

Run: ``python benchmarks/bench_latency.py`` (``--chunks``, ``--others``).

The emulator (wss://, its own process, pinned to CPU 1) runs in real time (one 40 ms chunk every
40 ms, so queueing does not dominate) with ``--stamp``: just before it encodes and writes each
chunk it puts ``time.monotonic_ns()`` in the chunk's first 8 bytes.  The client (its own process,
pinned to CPU 0) reads the clock again when the chunk reaches the application -- for the handle,
when a ``handle.stream()`` subscriber receives the ``LiveEvent.Audio`` -- and the difference is
the latency.  CLOCK_MONOTONIC is system-wide on Linux, so the two processes' clocks agree.  The
first 10 chunks of a turn are not counted (connection warm-up).  The handle gets ``--chunks``
chunks (default 500, 20 s); the other clients, for reference, ``--others`` (default 200).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    CHUNK_MS,
    CLIENTS,
    client_list,
    emit,
    latency_report,
    latency_summary,
    make_tls,
    pin,
    run_worker,
    server_process,
)

THIS = Path(__file__).resolve()
SKIP = 10  # chunks at the start of a turn that are not counted


def worker(kind: str, url: str, tls: str, chunks: int) -> dict[str, Any]:
    from _clients import connect, run_client

    pin("client")
    latencies: list[float] = []
    clock = time.monotonic_ns
    unpack = struct.Struct("<q").unpack_from

    def on_audio(pcm: bytes) -> None:
        latencies.append((clock() - unpack(pcm)[0]) / 1e6)  # ms

    async def main(read_line: Any) -> int:
        async with connect(kind, url, tls, "AUDIO") as client:
            return int(await client.turn("go", on_audio, expected=chunks))

    got = run_client(kind, main)
    return {"got": got, **latency_summary(latencies[SKIP:])}


def run(chunks: int = 500, others: int = 200, clients: tuple[str, ...] = CLIENTS) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        for kind in clients:
            count = chunks if kind == "handle" else others
            steps = json.dumps({"default": [{"audio_ms": (count + SKIP) * CHUNK_MS}]})
            server_args = ["--tls", tls, "--scenario", steps, "--realtime", "--stamp"]
            with server_process("emulator", *server_args) as url:
                timeout = 30 + (count + SKIP) * CHUNK_MS / 1000 * 1.5
                results[kind] = run_worker(THIS, [kind, url, tls, str(count + SKIP)], timeout)
    return {"clients": results}


def report(result: dict[str, Any]) -> str:
    title = (
        "Latency, ms: model audio chunk leaves the emulator -> the application has it "
        "(handle: LiveEvent.Audio at a stream() subscriber); real-time pace, 40 ms chunks, wss://"
    )
    return latency_report(title, result["clients"], "chunks")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, url, tls, chunks = sys.argv[2:6]
        emit(worker(kind, url, tls, int(chunks)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--others", type=int, default=200)
    parser.add_argument("--clients", type=client_list, default=",".join(CLIENTS))
    args = parser.parse_args()
    print(report(run(args.chunks, args.others, args.clients)))


if __name__ == "__main__":
    main()
