"""Run every client benchmark and print one summary table, with the targets met or missed.

Run: ``nox -s bench`` or ``python benchmarks/run_all.py`` (``--only send,replay_log,receive,
burst,latency,memory,capacity,vad,bargein,resume``, ``--json results.json``).  Takes about seven
minutes on a 2-core machine.

``vad`` is the input VAD's cost per 30 ms frame (``bench_vad.py``); ``bargein`` the time from the
emulator sending ``interrupted`` to the ``Interrupted`` event at a subscriber
(``bench_bargein.py``).  ``resume`` is the resume gap with ``auto_resume``: from ``goAway`` sent to
the first frame on the new connection, and from a dropped connection to ``Resumed`` at the client
(``bench_resume.py``).  ``replay_log`` measures the send CPU of the handle with ``auto_resume`` on
(every frame also goes into the replay log), alternated with the handle without it
(``bench_send_cpu.py --replay-log``).

``receive`` streams model audio from the emulator; ``burst`` receives the same chunks from the sink
of ``bench_server.py``, which writes them all at once, so the client sets the pace (and a client
that cannot keep up with a burst shows it in ``lost``).

Benchmarks, not tests: nothing here fails; a missed target is printed as MISSED.  Each benchmark
runs its server in one process and every client in another (see ``_common``); the details of
each are in its own module's docstring, and each can be run on its own.

Targets (from the benchmark issue):

* the handle adds at most 15 % CPU per frame sent over the bare trio-websocket client;
* the handle uses at most two thirds of google-genai's CPU per frame sent;
* one process keeps at least 200 handle sessions at real-time pace (p99 send lag < 20 ms);
* the replay log of ``auto_resume`` adds at most 5 % to the handle's CPU per frame sent
  (issue 12).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from typing import Any

import bench_bargein
import bench_capacity
import bench_latency
import bench_memory
import bench_receive_cpu
import bench_resume
import bench_send_cpu
import bench_vad
from _common import CLIENTS, LABELS, fmt, table

STEPS = (
    "send",
    "replay_log",
    "receive",
    "burst",
    "latency",
    "memory",
    "capacity",
    "vad",
    "bargein",
    "resume",
)
MAX_OVER_TRIO_WS = 1.15
MAX_OF_GENAI = 2 / 3
MIN_SESSIONS = 200


def _cpu_cell(result: dict[str, Any] | None, kind: str) -> str:
    r = (result or {}).get("clients", {}).get(kind)
    if not r or "error" in r:
        return "n/a"
    lost = f" (lost {r['lost']})" if r.get("lost") else ""
    return f"{fmt(r['median'])} / {fmt(r['min'])}{lost}"


def _capacity_cell(result: dict[str, Any] | None, kind: str) -> str:
    runs = (result or {}).get("clients", {}).get(kind)
    if not runs:
        return "not run"
    if all("error" in r for r in runs):
        return "error"
    best = bench_capacity.kept(runs)
    passed = {r["sessions"] for r in runs if "error" not in r and r["p99"] < 20}
    failed = [r["sessions"] for r in runs if r["sessions"] not in passed]
    return f"{best}" + (f" (fails at {min(failed)})" if failed else "")


def _cpu_at(result: dict[str, Any] | None, kind: str, sessions: int) -> str:
    for r in (result or {}).get("clients", {}).get(kind, []):
        if r.get("sessions") == sessions and "cpu" in r:
            return fmt(r["cpu"], 2)
    return "n/a"


def summary(results: dict[str, Any]) -> str:
    send, receive = results.get("send"), results.get("receive")
    latency, memory, capacity = (
        results.get("latency"),
        results.get("memory"),
        results.get("capacity"),
    )
    rows: list[list[str]] = []

    def row(name: str, cell: Any) -> None:
        rows.append([name, *(cell(kind) for kind in CLIENTS)])

    row("send: CPU ms / 1000 frames (median / best)", lambda k: _cpu_cell(send, k))
    row("receive: CPU ms / 1000 chunks (median / best)", lambda k: _cpu_cell(receive, k))
    burst = results.get("burst")
    row("receive burst (sink): CPU ms / 1000 chunks", lambda k: _cpu_cell(burst, k))

    def latency_cell(kind: str) -> str:
        r = (latency or {}).get("clients", {}).get(kind)
        if not r or "error" in r:
            return "n/a"
        return f"{fmt(r['p50'], 2)} / {fmt(r['p99'], 2)}"

    row("latency: chunk out -> app, ms (p50 / p99)", latency_cell)

    def memory_cell(key: str) -> Any:
        def cell(kind: str) -> str:
            r = (memory or {}).get("clients", {}).get(kind)
            return "n/a" if not r or "error" in r else fmt(r[key])

        return cell

    sessions = (memory or {}).get("sessions", 100)
    row(f"memory: KiB / idle session, tracemalloc ({sessions})", memory_cell("python_kib"))
    row(f"memory: KiB / idle session, RSS ({sessions})", memory_cell("rss_kib"))

    def idle_cell(kind: str) -> str:
        r = (memory or {}).get("clients", {}).get(kind)
        return "n/a" if not r or "error" in r else fmt(r["idle_cpu"] * 100, 1)

    row(f"idle CPU, % of a core for {sessions} idle sessions", idle_cell)
    row("capacity: sessions at 50 frames/s, p99 < 20 ms", lambda k: _capacity_cell(capacity, k))
    row("capacity: client CPU at 50 sessions (1 = a core)", lambda k: _cpu_at(capacity, k, 50))
    return table(["", *(LABELS[k] for k in CLIENTS)], rows)


def voice_summary(results: dict[str, Any]) -> str:
    """The voice runtime's own numbers: input VAD cost and barge-in latency."""
    lines = []
    vad = results.get("vad")
    if vad:
        per = vad["input_vad_20ms_chunks_us_per_frame"]
        lines.append(
            f"input VAD: {fmt(per['median'], 1)} us per 30 ms frame (median; best "
            f"{fmt(per['best'], 1)}), fed 20 ms chunks"
        )
    bargein = (results.get("bargein") or {}).get("clients", {})
    for kind, r in bargein.items():
        if "error" not in r:
            lines.append(
                f"barge-in: interrupted sent -> {LABELS[kind]} subscriber has it, ms: "
                f"p50 {fmt(r['p50'], 2)} / p99 {fmt(r['p99'], 2)} ({r['counted']} barge-ins)"
            )
    return "\n".join(lines)


def resume_summary(results: dict[str, Any]) -> str:
    """auto_resume's numbers: the send CPU with the replay log, and the resume gaps."""
    lines = []
    send = (results.get("replay_log") or {}).get("clients", {})
    handle, resume = send.get("handle", {}), send.get("resume", {})
    if "median" in handle and "median" in resume:
        lines.append(
            f"send with auto_resume (replay log): {fmt(resume['median'])} / {fmt(resume['min'])} "
            f"CPU ms per 1000 frames (median / best), without: {fmt(handle['median'])} / "
            f"{fmt(handle['min'])}"
        )
    for mode, r in ((results.get("resume") or {}).get("modes") or {}).items():
        if "error" in r:
            lines.append(f"resume gap ({mode}): {r['error']}")
            continue
        for name, stats in r["rows"].items():
            if "Resumed.gap_ms" in name or "last frame" in name:
                continue
            lines.append(
                f"resume gap: {name}, ms: p50 {fmt(stats['p50'], 1)} / p99 "
                f"{fmt(stats['p99'], 1)} ({stats['counted']} switches)"
            )
    return "\n".join(lines)


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("MET" if ok else "MISSED")


def targets(results: dict[str, Any]) -> list[str]:
    lines = []
    send = (results.get("send") or {}).get("clients", {})
    handle, bare, genai = send.get("handle", {}), send.get("trio-ws", {}), send.get("genai", {})
    for other, limit, name in (
        (bare, MAX_OVER_TRIO_WS, "handle send CPU <= 1.15 x bare trio-websocket"),
        (genai, MAX_OF_GENAI, "handle send CPU <= 2/3 x google-genai"),
    ):
        if "median" in handle and "median" in other:
            median = handle["median"] / other["median"]
            best = handle["min"] / other["min"]
            ok = median <= limit and best <= limit
            lines.append(
                f"  {_verdict(ok):6}  {name}: {median:.2f} x (median), {best:.2f} x (best)"
            )
        else:
            lines.append(f"  {_verdict(None):6}  {name}")
    runs = (results.get("capacity") or {}).get("clients", {}).get("handle")
    if runs:
        kept = bench_capacity.kept(runs)
        ok = kept >= MIN_SESSIONS
        lines.append(
            f"  {_verdict(ok):6}  handle keeps >= {MIN_SESSIONS} real-time sessions: kept {kept}"
        )
        genai_runs = (results.get("capacity") or {}).get("clients", {}).get("genai")
        if genai_runs:
            lines.append(
                f"          (google-genai kept {bench_capacity.kept(genai_runs)}; "
                f"bare trio-websocket kept "
                f"{bench_capacity.kept((results['capacity']['clients']).get('trio-ws', []))})"
            )
    else:
        lines.append(f"  {_verdict(None):6}  handle keeps >= {MIN_SESSIONS} real-time sessions")
    lines.append("  " + bench_send_cpu.replay_log_verdict(results.get("replay_log") or {}))
    for step in ("receive", "burst"):
        found = (results.get(step) or {}).get("clients", {})
        for kind, r in found.items():
            if r.get("lost"):
                total = results[step]["chunks"] * results[step]["reps"]
                lines.append(
                    f"  NOTE    {step}: {LABELS[kind]} delivered {total - r['lost']} of {total} "
                    "audio chunks to the application"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated subset of steps")
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args()
    steps = [s for s in args.only.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
    print(f"python {platform.python_version()}, {platform.platform()}", flush=True)
    runners = {
        "send": (bench_send_cpu.run, bench_send_cpu.report),
        "replay_log": (bench_send_cpu.run_replay_log, bench_send_cpu.report),
        "receive": (bench_receive_cpu.run, bench_receive_cpu.report),
        "burst": (
            functools.partial(bench_receive_cpu.run, server="sink"),
            bench_receive_cpu.report,
        ),
        "latency": (bench_latency.run, bench_latency.report),
        "memory": (bench_memory.run, bench_memory.report),
        "capacity": (bench_capacity.run, bench_capacity.report),
        "vad": (bench_vad.run, bench_vad.report),
        "bargein": (bench_bargein.run, bench_bargein.report),
        "resume": (bench_resume.run, bench_resume.report),
    }
    results: dict[str, Any] = {}
    began = time.perf_counter()
    for step in STEPS:
        if step not in steps:
            continue
        run, report = runners[step]
        started = time.perf_counter()
        print(f"\n== {step} ...", flush=True)
        try:
            results[step] = run()
        except Exception as exc:  # one broken benchmark must not hide the others
            print(f"   {step} failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        print(report(results[step]), flush=True)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n== summary ({time.perf_counter() - began:.0f} s in all)")
    print(summary(results))
    print(voice_summary(results))
    print(resume_summary(results))
    print("\nTargets:")
    print("\n".join(targets(results)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2, default=str)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
