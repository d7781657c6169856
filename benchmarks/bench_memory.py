"""Memory and tasks per session, idle (100 sessions) and active (speaking, 20 sessions).

Run: ``python benchmarks/bench_memory.py`` (``--sessions``, ``--active``, ``--scheme``,
``--clients``).

One sink of ``bench_server.py`` (its own process: it answers the setup and discards frames);
each client in its own process opens ``--sessions`` connections (at most 20 connecting at once;
one shared SSL context, and for google-genai one shared ``genai.Client``, as an application
would), waits until all are set up and idle, and measures in three passes:

1. without tracemalloc: the growth of the process's resident set (VmRSS) per session, which also
   sees OpenSSL's buffers and other native memory, the CPU the idle sessions use together over
   2 s (percent of one core: timers, keepalives), and the tasks per idle session; this pass also
   warms the process up (lazy imports, caches);
2. with tracemalloc started before the second batch: the Python memory still allocated with all
   sessions open, minus a snapshot taken before opening them, per session (the headline number,
   target at most 40 KiB, issue 15);
3. still with tracemalloc, ``--active`` sessions that speak: each sends a 20 ms frame every
   20 ms (50 frames/s, as in ``bench_capacity.py``); after 1 s of speaking, the Python memory
   allocated, minus the snapshot before opening them, per session, and the tasks per active
   session.  Fewer sessions than idle, so that the process keeps the pace even with tracemalloc
   on (a client that fell behind would hold queued frames and look bigger than it is).

Tasks per session: the tasks of the client's event loop when all sessions are open (Trio: every
task in the tree under ``trio.lowlevel.current_root_task()``; asyncio: ``asyncio.all_tasks()``),
minus the count before opening them, divided by the sessions, minus the one task per session that
the benchmark itself runs (the task that opens the session and runs its body).  The target is at
most 4 per idle session (issue 15).

The idle sessions are connected and set up, no audio, no turns.  With ``--attribute`` (slow:
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
    ALL_CLIENTS,
    ASYNCIO_KINDS,
    LABELS,
    applicable,
    client_list,
    emit,
    fmt,
    make_tls,
    pin,
    run_worker,
    server_process,
    table,
    unavailable,
)

THIS = Path(__file__).resolve()
SETTLE = 0.5  # seconds idle before measuring
IDLE_WINDOW = 2.0  # seconds over which the idle sessions' CPU use is measured
SPEAK_SETTLE = 1.0  # seconds the active sessions speak before their memory is measured
PERIOD = 0.020  # seconds between frames of an active session
SESSIONS = 100
ACTIVE_SESSIONS = 20
MAX_IDLE_KIB = 40.0  # issue 15 targets, for the handle
MAX_IDLE_TASKS = 4.0
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


def worker(
    kind: str, url: str, tls: str, sessions: int, active: int, detailed: bool
) -> dict[str, Any]:
    from _clients import connect, count_tasks, run_client, run_many, sleep
    from _common import client_ssl_context, genai_client

    pin("client")
    found: dict[str, Any] = {}

    async def main(read_line: Any) -> None:
        context = client_ssl_context(tls)
        shared = genai_client(url, tls) if kind == "genai" else None
        if kind in ASYNCIO_KINDS:
            import asyncio

            now = asyncio.get_running_loop().time
            stop: Any = asyncio.Event()

            async def sleep_until(deadline: float) -> None:
                await asyncio.sleep(max(0.0, deadline - now()))
        else:
            import trio

            now = trio.current_time
            sleep_until = trio.sleep_until
            stop = trio.Event()

        def opener(index: int) -> Any:
            return connect(kind, url, tls, "AUDIO", context=context, genai=shared)

        async def idle(client: Any, index: int) -> None:
            return None

        # Pass 1: resident set growth and tasks, no tracemalloc (and the warm-up).
        gc.collect()
        before = rss_kib()
        tasks_before = count_tasks(kind)

        async def measure_rss() -> None:
            await sleep(kind, SETTLE)  # tasks that only finish the opening are gone by now
            found["tasks"] = (count_tasks(kind) - tasks_before) / sessions - 1  # - run_many's
            gc.collect()
            found["rss_kib"] = (rss_kib() - before) / sessions
            c0, w0 = time.process_time(), time.perf_counter()
            await sleep(kind, IDLE_WINDOW)
            found["idle_cpu"] = (time.process_time() - c0) / (time.perf_counter() - w0)

        found["ramp_s"] = await run_many(kind, sessions, opener, idle, measure_rss)
        await sleep(kind, SETTLE)

        # Pass 2: Python allocations of idle sessions, with tracemalloc.
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
        if active <= 0:
            tracemalloc.stop()
            return
        await sleep(kind, SETTLE)

        # Pass 3: sessions that speak (50 frames/s each), still with tracemalloc.
        gc.collect()
        tasks_before = count_tasks(kind)
        first = tracemalloc.take_snapshot()
        start = [0.0]

        async def speak(client: Any, index: int) -> None:
            send = client.send_frame
            due = start[0] + PERIOD * index / active
            while not stop.is_set():
                await sleep_until(due)
                await send()
                due += PERIOD

        async def begin() -> None:
            start[0] = now()

        async def measure_active() -> None:
            await sleep(kind, SPEAK_SETTLE)
            found["active_tasks"] = (count_tasks(kind) - tasks_before) / active - 1
            gc.collect()
            second = tracemalloc.take_snapshot()
            stats = second.compare_to(first, "traceback")
            found["active_kib"] = sum(s.size_diff for s in stats) / active / 1024
            stop.set()

        await run_many(kind, active, opener, speak, begin, background=measure_active)
        tracemalloc.stop()
        if shared is not None:
            await shared.aio.aclose()
            shared.close()

    run_client(kind, main)
    return found


def run(
    sessions: int = SESSIONS,
    clients: tuple[str, ...] = ALL_CLIENTS,
    detailed: bool = False,
    active: int = ACTIVE_SESSIONS,
    plain: bool = False,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        with server_process("sink", "--tls", tls, *(["--plain"] if plain else [])) as url:
            for kind in clients:
                why = unavailable(kind) or applicable(kind, plain)
                if why:
                    results[kind] = {"error": why, "skipped": True}
                    continue
                args = [kind, url, tls, str(sessions), str(active), "1" if detailed else ""]
                results[kind] = run_worker(THIS, args, 180)
    scheme = "ws" if plain else "wss"
    return {"sessions": sessions, "active": active, "scheme": scheme, "clients": results}


def run_both(
    sessions: int = SESSIONS, active: int = ACTIVE_SESSIONS, clients: tuple[str, ...] = ALL_CLIENTS
) -> dict[str, Any]:
    """Plain ws:// and TLS in one run (``run_all``'s ``memory`` step)."""
    return {
        "ws": run(sessions, clients, False, active, plain=True),
        "wss": run(sessions, clients, False, active, plain=False),
    }


def report(result: dict[str, Any]) -> str:
    if "clients" not in result:  # run_both
        return "\n\n".join(report(result[scheme]) for scheme in ("ws", "wss") if scheme in result)
    rows = []
    for kind, r in result["clients"].items():
        if "error" in r:
            rows.append([LABELS[kind], *["n/a"] * 8])
            continue
        rows.append(
            [
                LABELS[kind],
                fmt(r["python_kib"]),
                fmt(r["blocks"], 0),
                fmt(r["rss_kib"]),
                fmt(r["tasks"], 2),
                fmt(r.get("active_kib")),
                fmt(r.get("active_tasks"), 2),
                fmt(r["idle_cpu"] * 100, 1),
                fmt(r["ramp_s"], 2),
            ]
        )
    scheme = result.get("scheme", "wss")
    title = (
        f"Memory per session: {result['sessions']} idle sessions, then "
        f"{result.get('active', 0)} speaking at 50 frames/s, in one process ({scheme}:// to the "
        "sink); KiB from tracemalloc unless RSS"
    )
    head = [
        "client",
        "idle KiB",
        "blocks",
        "idle RSS KiB",
        "idle tasks",
        "active KiB",
        "active tasks",
        "idle CPU % (all)",
        "open all s",
    ]
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
        kind, url, tls, sessions, active, detail = sys.argv[2:8]
        emit(worker(kind, url, tls, int(sessions), int(active), bool(detail)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--active", type=int, default=ACTIVE_SESSIONS, help="0: no active pass")
    parser.add_argument("--clients", type=client_list, default=",".join(ALL_CLIENTS))
    parser.add_argument("--scheme", choices=("ws", "wss", "both"), default="wss")
    parser.add_argument(
        "--attribute",
        action="store_true",
        help="charge the handle's memory to livehandle lines (tracemalloc keeps 16 frames: slow)",
    )
    args = parser.parse_args()
    clients = args.clients
    for plain in {"ws": (True,), "wss": (False,), "both": (True, False)}[args.scheme]:
        result = run(args.sessions, clients, args.attribute, args.active, plain)
        print(report(result), flush=True)


if __name__ == "__main__":
    main()
