"""Client CPU per 1000 model audio chunks received, for the four clients, in one run.

Run: ``python benchmarks/bench_receive_cpu.py`` (``--reps``, ``--chunks``).

The emulator (wss://, its own process, pinned to CPU 1) answers the typed turn ``stream`` with
``chunks`` chunks of 40 ms 24 kHz PCM16 (1920 bytes each) as fast as it can (an ``Audio`` step,
``realtime=False``), then ``generationComplete`` and ``turnComplete``.  Each client runs in its own
process (pinned to CPU 0) and, per rep, sends that turn and consumes the answer to its end the way
an application would: ``LiveEvent.Audio`` from ``handle.stream()``, ``SessionEvent.AudioData``
from a subscription, ``json`` + ``base64`` by hand, ``session.receive()``.  Reps alternate
between the clients after a warm-up rep each.  The cost is the client process's
``time.process_time()`` over the turn, in ms per 1000 chunks (= microseconds per chunk), median
and best of the reps.  ``lost`` counts chunks that did not reach the application (the handle's
``stream()`` skips when a subscriber falls more than ``event_capacity`` behind).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import CHUNK_MS, CLIENTS, cpu_report, fmt, interleaved, make_tls, pin, server_process

THIS = Path(__file__).resolve()
WORKER_TIMEOUT = 90.0  # seconds for a worker to connect, or to answer one rep


def scenario(chunks: int) -> str:
    stream = {"when": {"text": "stream"}, "reply": [{"audio_ms": chunks * CHUNK_MS}]}
    return json.dumps({"rules": [stream]})


def worker(kind: str, url: str, tls: str, chunks: int) -> None:
    from _clients import connect, run_client
    from _common import driven_loop

    pin("client")

    async def main(read_line: Any) -> None:
        async with connect(kind, url, tls, "AUDIO") as client:
            turn = client.turn
            await turn("stream", expected=chunks)  # warm-up rep

            async def once() -> dict[str, float]:
                gc.collect()
                c0, w0 = time.process_time(), time.perf_counter()
                got = await turn("stream", expected=chunks)
                return {
                    "cpu": time.process_time() - c0,
                    "wall": time.perf_counter() - w0,
                    "got": got,
                }

            await driven_loop(once, read_line)

    run_client(kind, main)


def run(
    reps: int = 7,
    chunks: int = 2000,
    clients: tuple[str, ...] = CLIENTS,
    server: str = "emulator",
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        if server == "emulator":
            server_args = ["emulator", "--tls", tls, "--scenario", scenario(chunks)]
            server_args += ["--chunk-ms", str(CHUNK_MS)]
        else:
            server_args = ["sink", "--tls", tls, "--chunks", str(chunks)]
        with server_process(*server_args) as url:
            raw = interleaved(
                THIS, {k: [k, url, tls, str(chunks)] for k in clients}, reps, WORKER_TIMEOUT
            )
    results: dict[str, Any] = {}
    for kind, found in raw.items():
        if "error" in found:
            results[kind] = found
            continue
        per_k = [r["cpu"] / chunks * 1e6 for r in found["reps"]]  # ms per 1000 chunks
        results[kind] = {
            "ms_per_1000": per_k,
            "median": statistics.median(per_k),
            "min": min(per_k),
            "chunks_per_s": chunks / statistics.median(r["wall"] for r in found["reps"]),
            "lost": sum(chunks - r["got"] for r in found["reps"]),
        }
    return {"reps": reps, "chunks": chunks, "server": server, "clients": results}


def report(result: dict[str, Any]) -> str:
    title = (
        f"Receive: client CPU ms per 1000 model chunks (= us/chunk); {result['reps']} alternated "
        f"reps x {result['chunks']} chunks of 40 ms 24 kHz PCM16; wss:// from the "
        f"{result['server']}"
    )
    return cpu_report(
        title,
        result["clients"],
        ["chunks/s", "lost"],
        lambda r: [fmt(r["chunks_per_s"], 0), str(r["lost"])],
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, url, tls, chunks = sys.argv[2:6]
        worker(kind, url, tls, int(chunks))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--server", choices=("emulator", "sink"), default="emulator")
    args = parser.parse_args()
    print(report(run(args.reps, args.chunks, tuple(args.clients.split(",")), args.server)))


if __name__ == "__main__":
    main()
