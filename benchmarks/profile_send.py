"""Where a client's CPU goes per frame sent (or per chunk received), by component, under cProfile.

Run: ``python benchmarks/profile_send.py --client handle`` (``--receive`` for the receive path;
``--frames``; ``--top``).  ``--stats FILE --frames N`` breaks down a profile saved by the
capacity benchmark at real pace instead (``BENCH_PROFILE=FILE python benchmarks/bench_capacity.py
--clients handle --scheme ws --sessions 250``; N = sessions x 250, the frames of its 5 s
window).  Not part of ``run_all``: it is for finding what to make cheaper.

The sink of ``bench_server.py`` serves wss:// in its own process (pinned to CPU 1); the client
runs in this process (pinned to CPU 0).  After a warm-up, the client sends ``--frames`` frames as
fast as it can (or receives a burst of that many chunks), once without the profiler, for the real
cost per frame, and once under cProfile.  The profile's own time (``tottime``) is grouped by
component (livehandle module, Trio's scheduler, SSL, the socket ``send`` call...) and shown per
frame; cProfile roughly doubles the cost of Python calls, so compare the shares, not the absolute
numbers, with the unprofiled cost.  It also counts, per frame, the Trio run-loop passes (a
``epoll.poll`` each), the task wake-ups (``reschedule``) and the socket sends.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import CLIENTS, LABELS, make_tls, pin, server_process, table

GROUPS: tuple[tuple[str, str], ...] = (
    ("<method 'send' of '_socket.socket'", "socket send() syscall"),
    ("<method 'recv", "socket recv syscalls"),
    ("<method 'poll' of 'select.epoll'", "epoll (run-loop waits)"),
    ("_ssl._SSLSocket", "OpenSSL (encrypt/decrypt)"),
    ("livehandle/_wire/", "livehandle: wire codec"),
    ("livehandle/", "livehandle: {module}"),
    ("cattrs", "cattrs"),
    ("/attr/", "attrs"),
    ("<attrs generated", "attrs-generated methods"),
    ("trio/_core/", "trio: scheduler (_core)"),
    ("trio/_channel", "trio: memory channels"),
    ("trio/_sync", "trio: locks, events"),
    ("trio/_timeouts", "trio: timeouts"),
    ("trio/_ssl", "trio: SSLStream"),
    ("trio/_socket", "trio: socket wrapper"),
    ("trio/_highlevel_socket", "trio: socket wrapper"),
    ("trio/", "trio: other"),
    ("outcome", "trio: other"),
    ("trio_websocket", "trio-websocket"),
    ("wsproto", "wsproto"),
    ("google/genai", "google-genai"),
    ("pydantic", "pydantic"),
    ("websockets/", "websockets"),
    ("asyncio/", "asyncio"),
    ("json/", "json"),
    ("base64", "base64"),
    ("<built-in method _json", "json"),
    ("binascii", "base64"),
    ("benchmarks/", "benchmark harness"),
)


def group_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}" if filename != "~" else function
    for needle, name in GROUPS:
        if needle in where:
            if "{module}" in name:
                module = filename.rpartition("livehandle/")[2]
                return name.format(module=module)
            return name
    return "other builtins" if filename == "~" else "other"


def breakdown(profile: cProfile.Profile | str, frames: int, top: int) -> str:
    stats = pstats.Stats(profile)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    counts = {"run-loop passes": 0, "task wake-ups": 0, "socket send() calls": 0}
    total = 0.0
    for (filename, _, function), (_, calls, tottime, _, _) in raw.items():
        name = group_of(filename, function)
        groups[name] = groups.get(name, 0.0) + tottime
        total += tottime
        if "epoll" in function and "poll" in function:
            counts["run-loop passes"] += calls
        elif function == "reschedule" and "trio/_core" in filename:
            counts["task wake-ups"] += calls
        elif "'send' of '_socket.socket'" in function:
            counts["socket send() calls"] += calls
    rows = [
        [name, f"{t / frames * 1e6:.1f}", f"{t / total * 100:.1f}"]
        for name, t in sorted(groups.items(), key=lambda item: -item[1])
        if t / total >= 0.005
    ]
    lines = [table(["component (profiled)", "us/frame", "%"], rows), ""]
    lines += [f"  {name} per frame: {n / frames:.2f}" for name, n in counts.items()]
    lines.append("")
    rows = []
    ordered = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    for (filename, lineno, function), (_, calls, tottime, cumtime, _) in ordered:
        short = filename.rpartition("site-packages/")[2].rpartition("/work/main/")[2]
        rows.append(
            [
                f"{short}:{lineno}({function})"[-80:],
                f"{calls / frames:.2f}",
                f"{tottime / frames * 1e6:.1f}",
                f"{cumtime / frames * 1e6:.1f}",
            ]
        )
    lines.append(table(["function", "calls/frame", "own us/frame", "cum us/frame"], rows))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=CLIENTS, default="handle")
    parser.add_argument("--receive", action="store_true", help="profile receiving instead")
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--stats",
        help="instead: break down a saved profile (BENCH_PROFILE=FILE bench_capacity.py ...) "
        "over --frames frames",
    )
    args = parser.parse_args()
    if args.stats:
        print(breakdown(args.stats, args.frames, args.top))
        return
    from _clients import connect, run_client

    kind, frames = args.client, args.frames
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        with server_process("sink", "--tls", tls, "--chunks", str(frames)) as url:
            pin("client")
            profile = cProfile.Profile()
            plain: list[float] = []

            async def main_(read_line: Any) -> None:
                async with connect(kind, url, tls, "AUDIO") as client:

                    async def once() -> None:
                        if args.receive:
                            await client.turn("stream", expected=frames)
                        else:
                            for _ in range(frames):
                                await client.send_frame()
                            await client.turn("sync")

                    await once()  # warm-up
                    for _ in range(3):
                        c0 = time.process_time()
                        await once()
                        plain.append(time.process_time() - c0)
                    profile.enable()
                    await once()
                    profile.disable()

            run_client(kind, main_)
    what = "chunk received" if args.receive else "frame sent"
    print(
        f"{LABELS[kind]}: {min(plain) / frames * 1e6:.1f} us CPU per {what} without the "
        f"profiler (best of 3 x {frames}); profiled breakdown per {what}:"
    )
    print(breakdown(profile, frames, args.top))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
