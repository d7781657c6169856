"""Resume gap with ``LiveConfig(auto_resume=True)``: how long a switch of connection takes.

Run: ``python benchmarks/bench_resume.py`` (``--count``, ``--interval``, ``--modes``).

The emulator (wss://, its own process, pinned to CPU 1) ends every connection ``--interval``
seconds after it opened, in one of two ways (one emulator process per mode):

* ``goaway``: it sends ``goAway`` (the scenario's ``go_away_after``) with a ``timeLeft`` of
  ``GO_AWAY_TIME_LEFT`` = 5 s, the client's default ``ResumePolicy.go_away_margin``.  The client
  streams microphone audio without pause, so it is never at a safe point (something was sent
  since the newest resumable handle) and no turn boundary brings a fresh one: it switches at
  ``timeLeft`` minus the margin, which is at once.  So the figure is the switch itself: close the
  old socket (the close handshake), connect, TLS, ``setup`` with the newest handle,
  ``setupComplete``, then the replay log and the audio buffered meanwhile go out.  (With a longer
  ``timeLeft`` the client would first keep using the old connection until the next turn or tool
  boundary, by design; that wait is not a gap: audio keeps flowing.)
* ``drop``: it drops the TCP connection without a close frame (the client sees 1006), like a
  lost network; the client reconnects at once (the first attempt has no backoff).

The client (its own process, pinned to CPU 0) opens one :class:`~livehandle.LiveHandle` with
``auto_resume=True`` and sends a steady stream of 20 ms frames of 16 kHz PCM16 at real pace;
the low bytes of each frame's first four samples carry its sequence number (far below any voice
threshold).  It records the time each ``LiveEvent.Resumed`` reaches its ``events()``
subscription, and stops by itself after ``--count`` switches (plus ``SKIP`` warm-up ones), or at
a time limit.

The emulator stamps (``bench_server.py --resume-stamp-file``) the time it is about to write each
``goAway``, the time it drops a connection, and the time it reads the first and the last audio
frame of each connection.  CLOCK_MONOTONIC is system-wide on Linux, so the two processes' stamps
compare.  Reported, p50 / p90 / p99 / max in ms over the counted switches:

* ``goAway sent -> first frame on the new connection`` (mode ``goaway``);
* ``drop -> Resumed at the subscriber`` and ``drop -> first frame on the new connection`` (mode
  ``drop``);
* in both modes, ``last frame on old -> first frame on new``: how long the server got no audio;
* in both modes, ``Resumed.gap_ms``: the client's own figure (from the switch, or from noticing the
  loss, to ``Resumed``), which is also what ``handle.telemetry.resume_gap`` records.

Also reported, from the sequence numbers at each switch (the new connection's first frame against
the old one's last): the frames the server got again (replayed: sent after the newest resumable
checkpoint, which the resumed conversation does not include; the emulator issues one only when a
connection opens and after each turn, and this stream has no turns) or skipped; and the audio the
client reported in ``Resumed.lost_audio_ms`` (audio written just before a checkpoint arrived, of
unknown fate, is not replayed but counted).  Loopback only, real time (a benchmark, not a test:
nothing fails).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    MIC_FRAME,
    emit,
    fmt,
    latency_summary,
    make_tls,
    pin,
    run_worker,
    server_process,
    table,
)

THIS = Path(__file__).resolve()
SKIP = 2  # warm-up switches, not counted
MODES = ("goaway", "drop")
FRAME_S = 0.020
GO_AWAY_TIME_LEFT = 5.0  # = ResumePolicy().go_away_margin: the client switches at once


def frame(seq: int) -> bytes:
    """A silent 20 ms frame whose first four samples carry ``seq`` in their low bytes."""
    mark = bytearray(8)
    mark[0:8:2] = (seq & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(mark) + MIC_FRAME[8:]


def worker(url: str, tls: str, count: int, limit: float) -> dict[str, Any]:
    import trio
    from _common import endpoint, live_config

    from livehandle import LiveEvent, open_live_session

    pin("client")
    resumed: list[dict[str, Any]] = []
    sent = 0

    async def stream_audio(handle: Any) -> None:
        nonlocal sent
        next_at = trio.current_time()
        while True:
            await handle.send_audio(frame(sent))
            sent += 1
            next_at += FRAME_S
            await trio.sleep_until(next_at)

    async def main() -> dict[str, Any]:
        config = live_config("TEXT", auto_resume=True)
        async with open_live_session(config, endpoint=endpoint(url, tls)) as handle:
            events = handle.events()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream_audio, handle)
                with trio.move_on_after(limit):
                    while len(resumed) < count:
                        event = await events.receive()
                        if isinstance(event, LiveEvent.Resumed):
                            resumed.append(
                                {
                                    "at": time.monotonic_ns(),
                                    "connection": event.connection,
                                    "gap_ms": event.gap_ms,
                                    "replayed": event.replayed,
                                    "lost_audio_ms": event.lost_audio_ms,
                                }
                            )
                nursery.cancel_scope.cancel()
            snapshot = handle.telemetry.snapshot()
        keys = ("reconnects", "resume_attempts", "resume_gap_p50_ms", "resume_gap_p99_ms")
        keys += ("replayed_messages", "lost_audio_ms")
        return {"resumed": resumed, "sent": sent, "telemetry": {k: snapshot[k] for k in keys}}

    return trio.run(main)


def read_stamps(path: Path) -> list[tuple[str, int, int, int]]:
    """The emulator's stamps: (kind, monotonic ns, connection, seq), in the order written."""
    found = []
    for line in path.read_text(encoding="ascii").splitlines():
        kind, when, connection, seq = line.split()
        found.append((kind, int(when), int(connection), int(seq)))
    return found


def analyse(mode: str, stamps: list[tuple[str, int, int, int]], client: dict[str, Any]) -> Any:
    """Pair each switch's cause (goAway or drop) with what followed it; see the docstring."""
    cause = "goaway" if mode == "goaway" else "drop"
    first = {c: (t, s) for kind, t, c, s in stamps if kind == "first"}
    last = {c: (t, s) for kind, t, c, s in stamps if kind == "last"}
    causes = [(t, c) for kind, t, c, _ in stamps if kind == cause]
    resumed = client["resumed"]
    if len(causes) < len(resumed):
        return {"error": f"{len(causes)} {cause} stamps for {len(resumed)} Resumed events"}
    to_first, to_resumed, silent, gaps = [], [], [], []
    twice = never = 0
    for index, ((when, connection), event) in enumerate(zip(causes, resumed, strict=False)):
        after = [c for c in first if c > connection and first[c][0] > when]
        if not after or connection not in last:
            return {"error": f"no first frame after the {cause} of connection {connection}"}
        new = min(after)
        (first_at, first_seq), (last_at, last_seq) = first[new], last[connection]
        gap = first_seq - last_seq - 1  # < 0: frames the server had got already
        twice += max(0, -gap)
        never += max(0, gap)
        if index < SKIP:
            continue
        to_first.append((first_at - when) / 1e6)
        to_resumed.append((event["at"] - when) / 1e6)
        silent.append((first_at - last_at) / 1e6)
        gaps.append(event["gap_ms"])
    rows = {}
    if mode == "goaway":
        rows["goAway sent -> first frame on the new connection"] = latency_summary(to_first)
        rows["goAway sent -> Resumed at the subscriber"] = latency_summary(to_resumed)
    else:
        rows["drop -> Resumed at the subscriber"] = latency_summary(to_resumed)
        rows["drop -> first frame on the new connection"] = latency_summary(to_first)
    rows["last frame on old -> first frame on new (server)"] = latency_summary(silent)
    rows["Resumed.gap_ms (client's own figure)"] = latency_summary(gaps)
    lost_ms = sum(event["lost_audio_ms"] for event in resumed)
    return {
        "rows": rows,
        "switches": len(resumed),
        "frames_sent": client["sent"],
        "frames_twice": twice,
        "frames_never": never,
        "reported_lost_ms": lost_ms,
        "telemetry": client["telemetry"],
    }


def run(count: int = 30, interval: float = 1.0, modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tls = str(make_tls(Path(tmp)))
        for mode in modes:
            stamps_file = Path(tmp) / f"resume-{mode}.txt"
            args = ["--tls", tls, "--resume-stamp-file", str(stamps_file)]
            if mode == "goaway":
                scenario = {"go_away_after": interval, "go_away_time_left": GO_AWAY_TIME_LEFT}
                args += ["--scenario", json.dumps(scenario)]
            else:
                args += ["--drop-after", str(interval)]
            total = count + SKIP
            limit = 20 + total * (interval + 2)  # the worker stops by itself at this limit
            with server_process("emulator", *args) as url:
                found = run_worker(THIS, [url, tls, str(total), str(limit)], limit + 30)
            if "error" in found:
                results[mode] = found
                continue
            if len(found["resumed"]) <= SKIP:
                results[mode] = {"error": f"only {len(found['resumed'])} switches in {limit:g} s"}
                continue
            results[mode] = analyse(mode, read_stamps(stamps_file), found)
    return {"count": count, "interval": interval, "modes": results}


def report(result: dict[str, Any]) -> str:
    title = (
        f"Resume gap, ms (LiveHandle, auto_resume=True, 20 ms frames at real pace, wss:// to the "
        f"emulator; a switch every {result['interval']:g} s, {SKIP} warm-up switches not counted)"
    )
    rows, notes = [], []
    for mode, r in result["modes"].items():
        if "error" in r:
            rows.append([f"{mode}: error", "n/a", "n/a", "n/a", "n/a", "n/a"])
            notes.append(f"  {mode}: {r['error']}")
            continue
        for name, s in r["rows"].items():
            cells = [fmt(s[key], 1) for key in ("p50", "p90", "p99", "max")]
            rows.append([f"{mode}: {name}", str(s["counted"]), *cells])
        t = r["telemetry"]
        notes.append(
            f"  {mode}: {r['switches']} switches, {r['frames_sent']} frames sent; at the switches "
            f"the server got {r['frames_twice']} frames again (replayed: sent after the newest "
            f"checkpoint) and skipped {r['frames_never']}; Resumed.lost_audio_ms summed "
            f"{fmt(r['reported_lost_ms'])} ms; telemetry resume_gap p50 "
            f"{t['resume_gap_p50_ms']} / p99 {t['resume_gap_p99_ms']} ms, "
            f"reconnects {t['reconnects']}"
        )
    body = table(["", "switches", "p50", "p90", "p99", "max"], rows)
    return "\n".join([title, body, *notes])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, tls, count, limit = sys.argv[2:6]
        emit(worker(url, tls, int(count), float(limit)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30, help="switches counted per mode")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds per connection")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    print(report(run(args.count, args.interval, tuple(args.modes.split(",")))))


if __name__ == "__main__":
    main()
