"""Memory per idle session, with 100 sessions open in one client process.

Run: ``python benchmarks/bench_memory.py`` (``--sessions``).

One emulator (wss://, its own process); each client in its own process opens ``--sessions``
connections (at most 20 connecting at once; one shared SSL context, and for google-genai one
shared ``genai.Client``, as an application would), waits until all are set up and idle, and
measures, twice:

1. without tracemalloc: the growth of the process's resident set (VmRSS) per session, which also
   sees OpenSSL's buffers and other native memory, and the CPU the idle sessions use together
   over 2 s (percent of one core: timers, keepalives); this pass also warms the process up (lazy
   imports, caches);
2. with tracemalloc started before the second batch: the Python memory still allocated with all
   sessions open, minus a snapshot taken before opening them, per session (the headline number).

The sessions are idle: connected and set up, no audio, no turns.  With ``--attribute`` (slow:
tracemalloc then keeps 16 frames per allocation) the handle's memory is also charged to the
innermost ``livehandle`` line on each allocation's stack, so that Trio's channels, cancel scopes
and tasks show up under the livehandle code that created them.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from _common import (
    CLIENTS,
    LABELS,
    emit,
    fmt,
    make_tls,
    pin,
    run_worker,
    server_process,
    table,
)

THIS = Path(__file__).resolve()
SETTLE = 0.5  # seconds idle before measuring
IDLE_WINDOW = 2.0  # seconds over which the idle sessions' CPU use is measured
TOP_SITES = 10
TRACE_FRAMES = 16


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _where(filename: str, lineno: int) -> str:
    parts = Path(filename).parts
    for anchor in ("livehandle", "site-packages", "benchmarks"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            tail = parts[index + (anchor == "site-packages") :]
            return f"{'/'.join(tail)}:{lineno}"
    return f"{Path(filename).name}:{lineno}"


def attribute(stats: list[tracemalloc.StatisticDiff]) -> dict[str, int]:
    """Bytes by the innermost ``livehandle/`` line on each allocation's stack (or, if none, the
    innermost line), so that trio's objects are charged to the livehandle code that made them."""
    owners: dict[str, int] = {}
    for stat in stats:
        frames = list(stat.traceback)  # oldest first
        owner = next(
            (f for f in reversed(frames) if f"{Path('/livehandle/')}" in f.filename), frames[-1]
        )
        key = _where(owner.filename, owner.lineno)
        owners[key] = owners.get(key, 0) + stat.size_diff
    return owners


def _top(sizes: dict[str, int], sessions: int) -> list[str]:
    ranked = sorted(sizes.items(), key=lambda item: -item[1])[:TOP_SITES]
    return [f"{size / sessions / 1024:6.2f} KiB  {where}" for where, size in ranked]


def worker(kind: str, url: str, tls: str, sessions: int, detailed: bool) -> dict[str, Any]:
    from _clients import connect, run_client, run_many, sleep
    from _common import client_ssl_context, genai_client

    pin("client")
    found: dict[str, Any] = {}

    async def main(read_line: Any) -> None:
        context = client_ssl_context(tls)
        shared = genai_client(url, tls) if kind == "genai" else None

        def opener(index: int) -> Any:
            return connect(kind, url, tls, "AUDIO", context=context, genai=shared)

        async def idle(client: Any, index: int) -> None:
            return None

        # Pass 1: resident set growth, no tracemalloc (and the warm-up).
        gc.collect()
        before = rss_kib()

        async def measure_rss() -> None:
            await sleep(kind, SETTLE)
            gc.collect()
            found["rss_kib"] = (rss_kib() - before) / sessions
            c0, w0 = time.process_time(), time.perf_counter()
            await sleep(kind, IDLE_WINDOW)
            found["idle_cpu"] = (time.process_time() - c0) / (time.perf_counter() - w0)

        found["ramp_s"] = await run_many(kind, sessions, opener, idle, measure_rss)
        await sleep(kind, SETTLE)

        # Pass 2: Python allocations, with tracemalloc.
        detail = detailed and kind == "handle"
        tracemalloc.start(TRACE_FRAMES if detail else 1)
        gc.collect()
        first = tracemalloc.take_snapshot()

        async def measure_python() -> None:
            await sleep(kind, SETTLE)
            gc.collect()
            second = tracemalloc.take_snapshot()
            stats = second.compare_to(first, "traceback")
            found["python_kib"] = sum(s.size_diff for s in stats) / sessions / 1024
            found["blocks"] = sum(s.count_diff for s in stats) / sessions
            if detail:
                owners = attribute(stats)
                modules: dict[str, int] = {}
                for where, size in owners.items():
                    module = where.rpartition(":")[0]
                    modules[module] = modules.get(module, 0) + size
                found["modules"] = _top(modules, sessions)
                found["top"] = _top(owners, sessions)

        await run_many(kind, sessions, opener, idle, measure_python)
        tracemalloc.stop()
        if shared is not None:
            await shared.aio.aclose()
            shared.close()

    run_client(kind, main)
    return found


def run(
    sessions: int = 100, clients: tuple[str, ...] = CLIENTS, detailed: bool = False
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        with server_process("emulator", "--tls", tls) as url:
            for kind in clients:
                args = [kind, url, tls, str(sessions), "1" if detailed else ""]
                results[kind] = run_worker(THIS, args, 120)
    return {"sessions": sessions, "clients": results}


def report(result: dict[str, Any]) -> str:
    rows = []
    for kind, r in result["clients"].items():
        if "error" in r:
            rows.append([LABELS[kind], "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        rows.append(
            [
                LABELS[kind],
                fmt(r["python_kib"]),
                fmt(r["blocks"], 0),
                fmt(r["rss_kib"]),
                fmt(r["idle_cpu"] * 100, 1),
                fmt(r["ramp_s"], 2),
            ]
        )
    title = (
        f"Memory per idle session, {result['sessions']} sessions in one process (wss:// to the "
        "emulator)"
    )
    head = ["client", "tracemalloc KiB", "blocks", "RSS KiB", "idle CPU % (all)", "open all s"]
    lines = [title, table(head, rows)]
    handle = result["clients"].get("handle", {})
    if "top" in handle:
        lines.append("  LiveHandle per session, by the innermost livehandle file on the stack:")
        lines.extend(f"    {site}" for site in handle["modules"])
        lines.append("  ... and by line:")
        lines.extend(f"    {site}" for site in handle["top"])
    lines.extend(
        f"  {LABELS[k]}: {r['error']}" for k, r in result["clients"].items() if "error" in r
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, url, tls, sessions, detail = sys.argv[2:7]
        emit(worker(kind, url, tls, int(sessions), bool(detail)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--attribute",
        action="store_true",
        help="charge the handle's memory to livehandle lines (tracemalloc keeps 16 frames: slow)",
    )
    args = parser.parse_args()
    print(report(run(args.sessions, tuple(args.clients.split(",")), args.attribute)))


if __name__ == "__main__":
    main()
