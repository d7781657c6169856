"""Client CPU per 1000 model audio chunks received, for every client, in one run.

Run: ``python benchmarks/bench_receive_cpu.py`` (``--reps``, ``--chunks``, ``--clients``,
``--scheme ws|wss|both``, ``--server``).

The emulator (wss://, or ws:// with ``--scheme ws``, its own process, pinned to CPU 1) answers the
typed turn ``stream`` with ``chunks`` chunks of 40 ms 24 kHz PCM16 (1920 bytes each) as fast as it
can (an ``Audio`` step, ``realtime=False``), then ``generationComplete`` and ``turnComplete``.  Each
client runs in its own process (pinned to CPU 0) and, per rep, sends that turn and consumes the
answer to its end the way an application would: ``LiveEvent.Audio`` from ``handle.stream()``,
``SessionEvent.AudioData`` from a subscription, ``json`` + ``base64`` by hand,
``session.receive()``.  Reps alternate between the clients after a warm-up rep each.  The cost is
the client process's ``time.process_time()`` over the turn, in ms per 1000 chunks (= microseconds
per chunk), median and best of the reps.  ``lost`` counts chunks that did not reach the application
(the handle's ``stream()`` skips when a subscriber falls more than ``event_capacity`` behind).

The ratio to the bare trio-websocket client (``x trio-ws (paired)``) is the median over reps of
the per-rep ratio: rep ``i`` of a client ran next to rep ``i`` of the baseline.  The target
(issue 15) is at most 1.0x for the handle (downstream CPU per model chunk).  google-genai speaks
``wss://`` only and is skipped on ``ws://``.
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

from _common import (
    ALL_CLIENTS,
    BASELINE,
    CHUNK_MS,
    applicable,
    client_list,
    cpu_report,
    fmt,
    interleaved,
    make_tls,
    paired_ratio,
    pin,
    server_process,
)

THIS = Path(__file__).resolve()
MAX_OVER_BASELINE = 1.0  # the handle's CPU per chunk / the bare trio-websocket client's
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
    clients: tuple[str, ...] = ALL_CLIENTS,
    server: str = "emulator",
    plain: bool = False,
) -> dict[str, Any]:
    order = clients
    skipped = {k: why for k in clients if (why := applicable(k, plain)) is not None}
    clients = tuple(k for k in clients if k not in skipped)
    plain_args = ["--plain"] if plain else []
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        if server == "emulator":
            server_args = ["emulator", "--tls", tls, "--scenario", scenario(chunks)]
            server_args += ["--chunk-ms", str(CHUNK_MS)]
        else:
            server_args = ["sink", "--tls", tls, "--chunks", str(chunks)]
        with server_process(*server_args, *plain_args) as url:
            raw = interleaved(
                THIS, {k: [k, url, tls, str(chunks)] for k in clients}, reps, WORKER_TIMEOUT
            )
    results: dict[str, Any] = {k: {"error": why} for k, why in skipped.items()}
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
    base = results.get(BASELINE, {}).get("ms_per_1000")
    for r in results.values():
        if base and "ms_per_1000" in r:
            r["ratio"] = paired_ratio(r["ms_per_1000"], base)
    results = {k: results[k] for k in order if k in results}
    scheme = "ws" if plain else "wss"
    return {"reps": reps, "chunks": chunks, "server": server, "scheme": scheme, "clients": results}


def run_both(**kwargs: Any) -> dict[str, Any]:
    """Plain ws:// and TLS in one run (``run_all``'s ``receive`` and ``burst`` steps)."""
    return {"ws": run(plain=True, **kwargs), "wss": run(plain=False, **kwargs)}


def report(result: dict[str, Any]) -> str:
    if "clients" not in result:  # run_both
        return "\n\n".join(report(result[scheme]) for scheme in ("ws", "wss") if scheme in result)
    title = (
        f"Receive: client CPU ms per 1000 model chunks (= us/chunk); {result['reps']} alternated "
        f"reps x {result['chunks']} chunks of 40 ms 24 kHz PCM16; {result.get('scheme', 'wss')}:// "
        f"from the "
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
    parser.add_argument("--clients", type=client_list, default=",".join(ALL_CLIENTS))
    parser.add_argument("--server", choices=("emulator", "sink"), default="emulator")
    parser.add_argument("--scheme", choices=("ws", "wss", "both"), default="wss")
    args = parser.parse_args()
    clients = args.clients
    for plain in {"ws": (True,), "wss": (False,), "both": (True, False)}[args.scheme]:
        result = run(args.reps, args.chunks, clients, args.server, plain)
        print(report(result), flush=True)


if __name__ == "__main__":
    main()
