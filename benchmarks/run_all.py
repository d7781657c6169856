"""Run every client benchmark and print one summary table, with each target met or missed.

Run: ``nox -s bench`` or ``python benchmarks/run_all.py`` (``--steps send,replay_log,receive,
burst,latency,memory,capacity,realtime_cpu,vad,bargein,resume``; ``--only`` is the same;
``--quick`` for small settings that check the plumbing in a few minutes, not for figures;
``--json results.json``).  The full run takes about 35 minutes on a 2-core machine, most of it
the capacity sweeps and the real-time CPU reps.

The steps (each module's docstring has the details; each also runs on its own):

* ``send``: client CPU per frame sent back to back, wss:// (``bench_send_cpu.py``);
* ``replay_log``: the handle with ``auto_resume`` (replay log) against the handle without it;
* ``receive``: client CPU per model chunk streamed by the emulator, ws:// and wss://;
  ``burst``: the same chunks written at once by the sink (``bench_receive_cpu.py``);
* ``latency``: a chunk leaves the emulator -> ``LiveEvent.Audio`` at a subscriber;
* ``memory``: memory and tasks per idle and per speaking session, ws:// and wss://;
* ``capacity``: sessions kept at 50 frames/s with send lag p99 < 20 ms, ws:// and wss://;
* ``realtime_cpu``: client CPU per frame at 100 sessions x 50 frames/s, ws:// and wss://, as
  the median of per-rep ratios to bare trio-websocket (``bench_realtime_cpu.py``);
* ``vad``: the input VAD's cost per 30 ms frame; ``bargein``: ``interrupted`` on the wire ->
  ``Interrupted`` at a subscriber, handle and L0 session; ``resume``: the resume gaps.

Benchmarks, not tests: nothing here fails; a missed target is printed as FAIL.  Each benchmark
runs its server in one process and every client in another (see ``_common``).  A client that is
not installed (or ``handle-wsk`` where ``livehandle.lowlevel.WebsocketsTransport`` is missing) is
reported as "n/a (not available)".

Targets (issue 15, "Real-time capacity"; ratios are to the bare trio-websocket client measured in
the same run):

* client CPU per frame at 100 sessions x 50 frames/s: at most 1.0x (aim 0.8x), ws:// and wss://;
* sessions kept at 50 frames/s with p99 < 20 ms: at least 300 on ws://; on wss:// at least what
  the bare trio-websocket client keeps;
* idle memory per session at most 40 KiB, at most 4 tasks;
* downstream CPU per model chunk: at most 1.0x;
* barge-in: the handle's p99 at most 0.2 ms over the L0 session's;
* the replay log of ``auto_resume`` adds at most 5 % to the handle's CPU per frame sent.

Earlier targets still reported: the handle's CPU per frame sent back to back at most 1.15x the
bare trio-websocket client and at most two thirds of google-genai's.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from typing import TYPE_CHECKING, Any

import bench_bargein
import bench_capacity
import bench_latency
import bench_memory
import bench_realtime_cpu
import bench_receive_cpu
import bench_resume
import bench_send_cpu
import bench_vad
from _common import ALL_CLIENTS, LABELS, fmt, table, unavailable

if TYPE_CHECKING:
    from collections.abc import Callable

STEPS = (
    "send",
    "replay_log",
    "receive",
    "burst",
    "latency",
    "memory",
    "capacity",
    "realtime_cpu",
    "vad",
    "bargein",
    "resume",
)
HANDLES = ("handle", "handle-wsk")  # the targets are judged for the handle on either transport
SCHEMES = ("ws", "wss")
MAX_SEND_OVER_TRIO_WS = 1.15
MAX_SEND_OF_GENAI = 2 / 3
MAX_REALTIME_RATIO = 1.0
AIM_REALTIME_RATIO = 0.8
MIN_SESSIONS_WS = 300
MAX_IDLE_KIB = bench_memory.MAX_IDLE_KIB
MAX_IDLE_TASKS = bench_memory.MAX_IDLE_TASKS
MAX_RECEIVE_RATIO = bench_receive_cpu.MAX_OVER_BASELINE
MAX_BARGEIN_OVER_MS = bench_bargein.MAX_OVER_SESSION_MS


def runners(quick: bool) -> dict[str, tuple[Callable[[], Any], Callable[[Any], str]]]:
    """Each step's ``run`` and ``report``; ``quick``: small settings (plumbing, not figures)."""

    def step(full: Callable[[], Any], small: Callable[[], Any]) -> Callable[[], Any]:
        return small if quick else full

    return {
        "send": (
            step(bench_send_cpu.run, lambda: bench_send_cpu.run(reps=2, frames=300)),
            bench_send_cpu.report,
        ),
        "replay_log": (
            step(bench_send_cpu.run_replay_log, lambda: bench_send_cpu.run_replay_log(3, 300)),
            bench_send_cpu.report,
        ),
        "receive": (
            step(
                bench_receive_cpu.run_both, lambda: bench_receive_cpu.run_both(reps=2, chunks=300)
            ),
            bench_receive_cpu.report,
        ),
        "burst": (
            step(
                lambda: bench_receive_cpu.run(server="sink"),
                lambda: bench_receive_cpu.run(reps=2, chunks=300, server="sink"),
            ),
            bench_receive_cpu.report,
        ),
        "latency": (
            step(bench_latency.run, lambda: bench_latency.run(chunks=100, others=20)),
            bench_latency.report,
        ),
        "memory": (
            step(bench_memory.run_both, lambda: bench_memory.run_both(sessions=20, active=5)),
            bench_memory.report,
        ),
        "capacity": (
            step(bench_capacity.run_both, lambda: bench_capacity.run_both(ws=(20, 40), wss=(10,))),
            bench_capacity.report,
        ),
        "realtime_cpu": (
            step(bench_realtime_cpu.run_both, lambda: bench_realtime_cpu.run_both(2, 20)),
            bench_realtime_cpu.report,
        ),
        "vad": (bench_vad.run, bench_vad.report),
        "bargein": (
            step(bench_bargein.run, lambda: bench_bargein.run(count=10, blocks=2)),
            bench_bargein.report,
        ),
        "resume": (
            step(bench_resume.run, lambda: bench_resume.run(count=5)),
            bench_resume.report,
        ),
    }


# -- the per-client table --------------------------------------------------------------------------


def _by_scheme(result: Any, scheme: str) -> dict[str, Any]:
    """A step's result for ``scheme`` (a single-scheme result counts as its own scheme)."""
    if not result:
        return {}
    if "clients" in result:
        return result if result.get("scheme", "wss") == scheme else {}
    found: dict[str, Any] = result.get(scheme) or {}
    return found


def _client(result: Any, scheme: str, kind: str) -> Any:
    return _by_scheme(result, scheme).get("clients", {}).get(kind)


def _na(r: Any) -> str | None:
    """The cell of a client that has no figure (not run, skipped, not available, failed)."""
    if r is None:
        return "-"
    if isinstance(r, dict) and ("error" in r or "skipped" in r):
        why = str(r.get("skipped") if isinstance(r.get("skipped"), str) else r.get("error"))
        return "n/a" if "not available" in why or "skipped" in why else "error"
    return None


def _cpu_cell(result: Any, scheme: str, kind: str) -> str:
    r = _client(result, scheme, kind)
    if (na := _na(r)) is not None:
        return na
    ratio = f" ({fmt(r['ratio'], 2)}x)" if "ratio" in r else ""
    return f"{fmt(r['median'])}{ratio}"


def _memory_cell(key: str, digits: int = 1) -> Callable[[Any, str, str], str]:
    def cell(result: Any, scheme: str, kind: str) -> str:
        r = _client(result, scheme, kind)
        return _na(r) or fmt(r.get(key), digits)

    return cell


def _capacity_cell(result: Any, scheme: str, kind: str) -> str:
    runs = _client(result, scheme, kind)
    if runs is None:
        return "-"
    if not isinstance(runs, list):
        return _na(runs) or "n/a"
    if all("error" in r for r in runs):
        return "error"
    return bench_capacity.kept_cell(runs)


def _realtime_cell(result: Any, scheme: str, kind: str) -> str:
    r = _client(result, scheme, kind)
    if (na := _na(r)) is not None:
        return na
    if "us_per_frame" not in r:
        return "error"
    return f"{fmt(r['us_per_frame'])} ({fmt(r.get('ratio'), 2)}x)"


def _latency_cell(result: Any, scheme: str, kind: str) -> str:
    r = _client(result, scheme, kind)
    return _na(r) or f"{fmt(r['p50'], 2)} / {fmt(r['p99'], 2)}"


def summary(results: dict[str, Any]) -> str:
    """One row per measure and scheme, one column per client."""
    rows: list[list[str]] = []

    def row(name: str, step: str, schemes: tuple[str, ...], cell: Any) -> None:
        if step not in results:
            return
        result = results[step]
        rows.extend(
            [f"{name}, {scheme}://", *(cell(result, scheme, k) for k in ALL_CLIENTS)]
            for scheme in schemes
        )

    row("send back to back: us/frame (x trio-ws)", "send", ("wss",), _cpu_cell)
    row("real time, 50 fps x N: us/frame (x trio-ws)", "realtime_cpu", SCHEMES, _realtime_cell)
    row("capacity: sessions at 50 fps, p99 < 20 ms", "capacity", SCHEMES, _capacity_cell)
    row("receive: us/chunk (x trio-ws)", "receive", SCHEMES, _cpu_cell)
    row("receive burst (sink): us/chunk (x trio-ws)", "burst", ("wss",), _cpu_cell)
    row("latency chunk -> app, ms p50 / p99", "latency", ("wss",), _latency_cell)
    row("memory: KiB / idle session (tracemalloc)", "memory", SCHEMES, _memory_cell("python_kib"))
    row("memory: KiB / idle session (RSS)", "memory", SCHEMES, _memory_cell("rss_kib"))
    row("tasks / idle session", "memory", SCHEMES, _memory_cell("tasks", 2))
    row("memory: KiB / speaking session", "memory", SCHEMES, _memory_cell("active_kib"))
    row("tasks / speaking session", "memory", SCHEMES, _memory_cell("active_tasks", 2))
    if not rows:
        return "(no client benchmark ran)"
    return table(["", *(LABELS[k] for k in ALL_CLIENTS)], rows)


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
                f"barge-in: interrupted sent -> {LABELS.get(kind, kind)} subscriber has it, ms: "
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


# -- the targets -----------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def _ratio_ok(value: Any, limit: float) -> bool | None:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return bool(value <= limit)


def _why_missing(kind: str, r: Any) -> str:
    """What the measured cell says when a handle has no figure."""
    if kind == "handle-wsk" and unavailable(kind):
        return "n/a (not available)"
    if r is None:
        return "not run"
    if isinstance(r, dict):
        return str(r.get("skipped") or r.get("error") or "n/a")[:60]
    return "n/a"


def targets(results: dict[str, Any]) -> list[list[str]]:
    """Rows ``[target, client, scheme, measured, verdict]`` for every target of the run."""
    rows: list[list[str]] = []

    def add(target: str, kind: str, scheme: str, measured: str, ok: bool | None) -> None:
        rows.append([target, LABELS.get(kind, kind), scheme, measured, _verdict(ok)])

    realtime = results.get("realtime_cpu")
    if realtime is not None:
        name = f"CPU/frame at 100 x 50 fps <= {MAX_REALTIME_RATIO:.1f}x trio-ws (aim 0.8x)"
        for scheme in SCHEMES:
            for kind in HANDLES:
                r = _client(realtime, scheme, kind)
                if r is None or "ratio" not in r:
                    add(name, kind, scheme, _why_missing(kind, r), None)
                    continue
                aim = " (aim met)" if r["ratio"] <= AIM_REALTIME_RATIO else ""
                measured = f"{r['ratio']:.2f}x ({fmt(r['us_per_frame'])} us/frame){aim}"
                add(name, kind, scheme, measured, _ratio_ok(r["ratio"], MAX_REALTIME_RATIO))

    capacity = results.get("capacity")
    if capacity is not None:
        for scheme in SCHEMES:
            base = bench_capacity.kept(_client(capacity, scheme, "trio-ws"))
            need = MIN_SESSIONS_WS if scheme == "ws" else base
            if need is None:
                continue
            what = "trio-ws keeps" if scheme == "wss" else ""
            name = f"sessions at 50 fps, p99 < 20 ms >= {need}" + (f" ({what})" if what else "")
            for kind in HANDLES:
                runs = _client(capacity, scheme, kind)
                got = bench_capacity.kept(runs)
                if got is None:
                    add(name, kind, scheme, _why_missing(kind, runs), None)
                    continue
                add(name, kind, scheme, bench_capacity.kept_cell(runs), got >= need)

    memory = results.get("memory")
    if memory is not None:
        for scheme in SCHEMES:
            for kind in HANDLES:
                r = _client(memory, scheme, kind)
                if r is None or "python_kib" not in r:
                    why = _why_missing(kind, r)
                    add(f"idle memory <= {MAX_IDLE_KIB:.0f} KiB / session", kind, scheme, why, None)
                    continue
                kib, tasks = r["python_kib"], r["tasks"]
                add(
                    f"idle memory <= {MAX_IDLE_KIB:.0f} KiB / session",
                    kind,
                    scheme,
                    f"{kib:.1f} KiB (RSS {fmt(r['rss_kib'])} KiB)",
                    kib <= MAX_IDLE_KIB,
                )
                add(
                    f"tasks / idle session <= {MAX_IDLE_TASKS:.0f}",
                    kind,
                    scheme,
                    f"{tasks:.2f}",
                    tasks <= MAX_IDLE_TASKS,
                )

    receive = results.get("receive")
    if receive is not None:
        name = f"downstream CPU/chunk <= {MAX_RECEIVE_RATIO:.1f}x trio-ws"
        for scheme in SCHEMES:
            if not _by_scheme(receive, scheme):
                continue
            for kind in HANDLES:
                r = _client(receive, scheme, kind)
                if r is None or "ratio" not in r:
                    add(name, kind, scheme, _why_missing(kind, r), None)
                    continue
                measured = f"{r['ratio']:.2f}x ({fmt(r['median'])} us/chunk)"
                add(name, kind, scheme, measured, _ratio_ok(r["ratio"], MAX_RECEIVE_RATIO))

    bargein = results.get("bargein")
    if bargein is not None:
        name = f"barge-in p99: handle - L0 session <= {MAX_BARGEIN_OVER_MS} ms"
        over = bargein.get("handle_over_session_p99_ms")
        if over is None:
            add(name, "handle", "wss", "n/a", None)
        else:
            add(name, "handle", "wss", f"{over:+.3f} ms", over <= MAX_BARGEIN_OVER_MS)

    replay = (results.get("replay_log") or {}).get("replay_log")
    if "replay_log" in results:
        name = f"replay log send CPU <= {bench_send_cpu.MAX_REPLAY_LOG_COST:.2f}x without"
        if not replay:
            add(name, "handle", "wss", "n/a", None)
        else:
            paired = replay["paired_median"]
            measured = f"{paired:.3f}x (median of per-rep ratios)"
            add(name, "handle", "wss", measured, paired <= bench_send_cpu.MAX_REPLAY_LOG_COST)

    send = (results.get("send") or {}).get("clients", {})
    handle = send.get("handle", {})
    for other, limit, name in (
        ("trio-ws", MAX_SEND_OVER_TRIO_WS, "send back to back <= 1.15x trio-ws"),
        ("genai", MAX_SEND_OF_GENAI, "send back to back <= 2/3 x google-genai"),
    ):
        if "send" not in results:
            break
        r = send.get(other, {})
        if "median" in handle and "median" in r:
            median, best = handle["median"] / r["median"], handle["min"] / r["min"]
            ok = median <= limit and best <= limit
            add(name, "handle", "wss", f"{median:.2f}x (median), {best:.2f}x (best)", ok)
        else:
            add(name, "handle", "wss", "n/a", None)
    return rows


def notes(results: dict[str, Any]) -> list[str]:
    lines = []
    for step in ("receive", "burst"):
        for scheme in SCHEMES:
            found = _by_scheme(results.get(step), scheme)
            for kind, r in found.get("clients", {}).items():
                if r.get("lost"):
                    total = found["chunks"] * found["reps"]
                    lines.append(
                        f"  NOTE {step} {scheme}://: {LABELS[kind]} delivered "
                        f"{total - r['lost']} of {total} audio chunks to the application"
                    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--steps", "--only", default=",".join(STEPS), help="comma-separated subset of steps"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small settings: checks the plumbing, not figures"
    )
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
    print(f"python {platform.python_version()}, {platform.platform()}", flush=True)
    if args.quick:
        print("--quick: small settings; the figures below are not the benchmark's", flush=True)
    steps_run = runners(args.quick)
    results: dict[str, Any] = {}
    began = time.perf_counter()
    for step in STEPS:
        if step not in steps:
            continue
        run, report = steps_run[step]
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
    print("us = CPU microseconds of the client process; (x) = ratio to bare trio-websocket")
    print(summary(results))
    print(voice_summary(results))
    print(resume_summary(results))
    print("\nTargets (issue 15; ratios to bare trio-websocket in this run):")
    found = targets(results)
    if found:
        print(table(["target", "client", "scheme", "measured", "verdict"], found))
    print("\n".join(notes(results)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2, default=str)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
