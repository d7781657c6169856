"""Client CPU per 1000 microphone frames sent, for the four clients, in one run.

Run: ``python benchmarks/bench_send_cpu.py`` (``--reps``, ``--frames``, ``--server``).

Each client runs in its own process (pinned to CPU 0; the server is pinned to CPU 1) and, per
rep, sends ``frames`` frames of 20 ms 16 kHz PCM16 (640 bytes, encoded on every call) as fast as
it can, then a typed turn whose ``turnComplete`` proves the server has read every frame, so frames
a client queued but had not written yet are counted too.  That turn's own cost is measured
separately (``sync turn``, about 1 % of a rep; not subtracted).  Reps alternate between the
clients, after a warm-up rep each.  The cost is the client process's ``time.process_time()``,
in ms per 1000 frames (= microseconds per frame), median and best of the reps.

The default server is the sink of ``bench_server.py`` (wss://, answers setup and typed turns,
discards frames), so that the client, not the server, sets the pace, as with the real service;
``--server emulator`` uses the LiveEmulator instead (it decodes the frames and runs its server
VAD on them; it is slower than the clients, which then wait on a full socket).  Every client
sends the same setup, with server VAD on; the handle also runs its client-side input VAD on every
frame, as its default configuration does.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    CLIENTS,
    cpu_report,
    fmt,
    interleaved,
    make_tls,
    pin,
    server_process,
)

THIS = Path(__file__).resolve()
WORKER_TIMEOUT = 60.0  # seconds for a worker to connect, or to answer one rep


def worker(kind: str, url: str, tls: str, frames: int) -> None:
    from _clients import connect, run_client
    from _common import driven_loop

    pin("client")

    async def main(read_line: Any) -> None:
        async with connect(kind, url, tls, "TEXT") as client:
            send, turn = client.send_frame, client.turn
            await turn("warm up")
            for _ in range(frames):
                await send()
            await turn("sync")

            async def once() -> dict[str, float]:
                gc.collect()
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(frames):
                    await send()
                await turn("sync")
                c1, w1 = time.process_time(), time.perf_counter()
                await turn("sync")
                return {"cpu": c1 - c0, "wall": w1 - w0, "sync": time.process_time() - c1}

            await driven_loop(once, read_line)

    run_client(kind, main)


def run(
    reps: int = 7, frames: int = 2000, clients: tuple[str, ...] = CLIENTS, server: str = "sink"
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        with server_process(server, "--tls", tls) as url:
            raw = interleaved(
                THIS, {k: [k, url, tls, str(frames)] for k in clients}, reps, WORKER_TIMEOUT
            )
    results: dict[str, Any] = {}
    for kind, found in raw.items():
        if "error" in found:
            results[kind] = found
            continue
        per_k = [r["cpu"] / frames * 1e6 for r in found["reps"]]  # ms per 1000 frames
        results[kind] = {
            "ms_per_1000": per_k,
            "median": statistics.median(per_k),
            "min": min(per_k),
            "frames_per_s": frames / statistics.median(r["wall"] for r in found["reps"]),
            "sync_ms": statistics.median(r["sync"] for r in found["reps"]) * 1e3,
        }
    return {"reps": reps, "frames": frames, "server": server, "clients": results}


def report(result: dict[str, Any]) -> str:
    title = (
        f"Send: client CPU ms per 1000 frames (= us/frame); {result['reps']} alternated reps x "
        f"{result['frames']} frames of 20 ms PCM16; wss:// to the {result['server']}"
    )
    return cpu_report(
        title,
        result["clients"],
        ["frames/s", "sync turn ms"],
        lambda r: [fmt(r["frames_per_s"], 0), fmt(r["sync_ms"], 2)],
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, url, tls, frames = sys.argv[2:6]
        worker(kind, url, tls, int(frames))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--server", choices=("sink", "emulator"), default="sink")
    args = parser.parse_args()
    print(report(run(args.reps, args.frames, tuple(args.clients.split(",")), args.server)))


if __name__ == "__main__":
    main()
