"""Client CPU per 1000 microphone frames sent, for the four clients (and the handle with
``auto_resume``), in one run.

Run: ``python benchmarks/bench_send_cpu.py`` (``--reps``, ``--frames``, ``--server``,
``--clients``); ``--replay-log`` compares the handle with and without its replay log only.

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

The replay log (``--replay-log``, client ``resume``, "LiveHandle + auto_resume"): the same
handle opened with ``LiveConfig(auto_resume=True)``, so that every frame also goes into the replay
log, alternated rep by rep with ``handle`` in the same run (``REPLAY_LOG_REPS`` reps by default).
The target is at most 1.05 (the log may add 5 %), judged on the median of the per-rep ratios
resume / handle: rep ``i`` of one client ran right after rep ``i`` of the other, so their ratio
cancels what the machine was doing meanwhile.  On a shared virtual machine each rep's CPU time
varies by up to 2x between neighbouring reps, which moves a ratio of medians or of bests by
several percent from run to run; the paired median moves by about one.  The report also gives
those two ratios, for reference.

Its setup asks for session resumption, so the sink answers every typed turn with a resumable
checkpoint (``sessionResumptionUpdate``, as the real service does at turn boundaries), which trims
the log.  A checkpoint keeps the audio written in the last ``ResumePolicy.settle`` (0.3 s) before it
arrived, and a rep writes its frames far faster than real time, so after each rep every client
waits ``SETTLE_WAIT`` (untimed) before the turn that is measured as ``sync turn``: its checkpoint
empties the log, and each rep starts from an empty log as it would after a turn in a real call.
Within a rep, the log fills up to its audio bound (``buffer_audio_ms``, 30 s = 1500 frames) and
then evicts the oldest frame for each new one, as it does in a call with no turn boundary for
over 30 s; ``--frames 1000`` measures the regime without eviction.  The table shows the audio the
log held at its peak and the messages it still held after the trimming checkpoint.
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
    BASELINE,
    CLIENTS,
    LABELS,
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
WORKER_TIMEOUT = 60.0  # seconds for a worker to connect, or to answer one rep
SEND_CLIENTS = CLIENTS
REPLAY_LOG_CLIENTS = ("handle", "resume")
REPLAY_LOG_REPS = 41
SETTLE_WAIT = 0.4  # seconds, > ResumePolicy.settle: the next checkpoint then covers the rep's audio
MS_PER_BYTE = 1 / 32  # 16 kHz PCM16 mono
MAX_REPLAY_LOG_COST = 1.05  # resume / handle


def replay_log(client: Any) -> Any:
    """The replay log of a ``resume`` client, or None (read-only, for the report)."""
    session = getattr(getattr(client, "handle", None), "_session", None)
    return getattr(session, "replay_log", None)


def worker(kind: str, url: str, tls: str, frames: int) -> None:
    from _clients import connect, run_client, sleep
    from _common import driven_loop

    pin("client")

    async def main(read_line: Any) -> None:
        async with connect(kind, url, tls, "TEXT") as client:
            send, turn = client.send_frame, client.turn
            log = replay_log(client)
            await turn("warm up")
            for _ in range(frames):
                await send()
            await turn("sync")
            await sleep(kind, SETTLE_WAIT)
            await turn("sync")

            async def once() -> dict[str, float]:
                gc.collect()
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(frames):
                    await send()
                peak = log.audio_bytes if log is not None else 0  # audio only grows until here
                await turn("sync")
                c1, w1 = time.process_time(), time.perf_counter()
                await sleep(kind, SETTLE_WAIT)  # untimed; then a checkpoint covers every frame
                c2 = time.process_time()
                await turn("sync")
                result = {"cpu": c1 - c0, "wall": w1 - w0, "sync": time.process_time() - c2}
                if log is not None:
                    result["log_peak_ms"] = peak * MS_PER_BYTE
                    result["log_after"] = len(log)  # messages held after that checkpoint
                return result

            await driven_loop(once, read_line)

    run_client(kind, main)


def run(
    reps: int = 7,
    frames: int = 2000,
    clients: tuple[str, ...] = SEND_CLIENTS,
    server: str = "sink",
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
        if "log_peak_ms" in found["reps"][0]:
            results[kind]["log_peak_ms"] = max(r["log_peak_ms"] for r in found["reps"])
            results[kind]["log_after"] = max(r["log_after"] for r in found["reps"])
    base = results.get(BASELINE, {}).get("ms_per_1000")
    for r in results.values():
        if base and "ms_per_1000" in r:
            r["ratio"] = paired_ratio(r["ms_per_1000"], base)
    return {
        "reps": reps,
        "frames": frames,
        "server": server,
        "clients": results,
        "replay_log": replay_log_cost(results),
    }


def run_replay_log(reps: int = REPLAY_LOG_REPS, frames: int = 2000) -> dict[str, Any]:
    """The handle with and without ``auto_resume``, alternated rep by rep (see the module doc)."""
    return run(reps, frames, REPLAY_LOG_CLIENTS)


def replay_log_cost(clients: dict[str, Any]) -> dict[str, float] | None:
    """resume / handle: ratio of the medians, of the bests, and the median of per-rep ratios.

    Reps alternate between the clients, so rep ``i`` of one ran next to rep ``i`` of the
    other: the per-rep ratio cancels most of what the machine was doing meanwhile.
    """
    handle, resume = clients.get("handle", {}), clients.get("resume", {})
    if "median" not in handle or "median" not in resume:
        return None
    paired = [
        r / h for r, h in zip(resume["ms_per_1000"], handle["ms_per_1000"], strict=False) if h
    ]
    return {
        "median": resume["median"] / handle["median"],
        "best": resume["min"] / handle["min"],
        "paired_median": statistics.median(paired) if paired else float("nan"),
    }


def replay_log_verdict(result: dict[str, Any]) -> str:
    """One line: the replay log's CPU cost, and whether it met the target."""
    cost = result.get("replay_log")
    name = f"replay log send CPU <= {MAX_REPLAY_LOG_COST:.2f} x without (auto_resume)"
    if not cost:
        return f"not measured  {name}"
    ok = cost["paired_median"] <= MAX_REPLAY_LOG_COST
    return (
        f"{'MET' if ok else 'MISSED':6}  {name}: {cost['paired_median']:.3f} x (median of "
        f"per-rep ratios; ratio of medians {cost['median']:.3f}, of bests {cost['best']:.3f})"
    )


def report(result: dict[str, Any]) -> str:
    title = (
        f"Send: client CPU ms per 1000 frames (= us/frame); {result['reps']} alternated reps x "
        f"{result['frames']} frames of 20 ms PCM16; wss:// to the {result['server']}"
    )
    lines = [
        cpu_report(
            title,
            result["clients"],
            ["frames/s", "sync turn ms", "log peak ms", "log after"],
            lambda r: [
                fmt(r["frames_per_s"], 0),
                fmt(r["sync_ms"], 2),
                fmt(r.get("log_peak_ms"), 0),
                str(r.get("log_after", "")),
            ],
        )
    ]
    resume = result["clients"].get("resume")
    if result.get("replay_log") or resume:
        lines.append(f"{LABELS['resume']} / {LABELS['handle']}: {replay_log_verdict(result)}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, url, tls, frames = sys.argv[2:6]
        worker(kind, url, tls, int(frames))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, help=f"default 7; {REPLAY_LOG_REPS} with --replay-log")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--clients", type=client_list, default=",".join(SEND_CLIENTS))
    parser.add_argument("--server", choices=("sink", "emulator"), default="sink")
    parser.add_argument(
        "--replay-log", action="store_true", help="compare the handle with and without auto_resume"
    )
    args = parser.parse_args()
    if args.replay_log:
        print(report(run_replay_log(args.reps or REPLAY_LOG_REPS, args.frames)))
        return
    clients = args.clients
    print(report(run(args.reps or 7, args.frames, clients, args.server)))


if __name__ == "__main__":
    main()
