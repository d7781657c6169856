"""Client CPU per message of the two WebSocket transports, trio-websocket and ``websockets``.

Run: ``python benchmarks/bench_transports.py`` (``--reps``, ``--count``, ``--tls``); needs the
``websockets`` extra.

Transport level only: no session, no codec.  A server process (``websockets``' asyncio server,
pinned to CPU 1) answers ``down N`` with N model audio chunks (the ``serverContent`` JSON of 40 ms
of 24 kHz PCM16, ~2.6 KB each) and discards everything else but ``sync``, which it echoes.  The
client process (pinned to CPU 0) alternates the transports rep by rep (the order flips every
rep), on a fresh connection each, and measures ``time.process_time()`` over:

- ``down``: ``receive()`` of N chunks (what the session's reader task does per model chunk);
- ``up send``: N microphone frames (``realtimeInput`` JSON of 20 ms of 16 kHz PCM16, ~0.9 KB)
  each with its own ``send()``, then a ``sync`` round trip that proves the server read them;
- ``up batch1``: the same with ``send_batch([frame])``, the call the session's writer task makes
  when one frame is queued;
- ``up session``: the same the way a session writes a frame when its socket is free (the common
  case at 50 frames/s): ``send_atomic(frame, within)`` where the connection has it
  (trio-websocket: the frame written in the caller's task without a scheduler round trip), else
  ``send_batch([frame])`` inside a shielded cancel scope with a deadline.

The ratio websockets / trio-websocket is the median of the per-rep ratios (rep ``i`` of one ran
right before or after rep ``i`` of the other, which cancels most of the machine's noise).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

THIS = Path(__file__).resolve()
ROOT = THIS.parent.parent
MODEL_CHUNK = json.dumps(
    {
        "serverContent": {
            "modelTurn": {
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "audio/pcm;rate=24000",
                            "data": base64.b64encode(bytes(1920)).decode(),
                        }
                    }
                ]
            }
        }
    }
)
MIC_FRAME = json.dumps(
    {
        "realtimeInput": {
            "audio": {
                "mimeType": "audio/pcm;rate=16000",
                "data": base64.b64encode(bytes(640)).decode(),
            }
        }
    }
)
TRANSPORTS = ("trio-websocket", "websockets")


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {cpu})


def serve(ready: str, tls_dir: str | None) -> None:
    """The server process: websockets' asyncio server on a free loopback port."""
    import asyncio
    import ssl

    from websockets.asyncio.server import serve as ws_serve

    pin(1)

    async def handler(ws: Any) -> None:
        async for message in ws:
            if message == "sync":
                await ws.send("sync")
            elif isinstance(message, str) and message.startswith("down "):
                for _ in range(int(message.split()[1])):
                    await ws.send(MODEL_CHUNK)

    async def main() -> None:
        context = None
        if tls_dir is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(Path(tls_dir) / "server.pem")
        async with ws_serve(
            handler,
            "127.0.0.1",
            0,
            ssl=context,
            max_size=2**24,
            compression=None,
            ping_interval=None,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            Path(ready).write_text(str(port))  # noqa: ASYNC240  (once, before serving)
            await asyncio.Future()

    asyncio.run(main())


def measure(
    url: str, tls_dir: str | None, reps: int, count: int
) -> dict[str, dict[str, list[float]]]:
    import ssl

    import trio

    sys.path.insert(0, str(ROOT))
    from livehandle._transport import Endpoint
    from livehandle.lowlevel import WebsocketsTransport, WebSocketTransport

    pin(0)
    context = None
    if tls_dir is not None:
        context = ssl.create_default_context(cafile=str(Path(tls_dir) / "ca.pem"))
    endpoint = Endpoint.from_url(url, ssl_context=context)
    makers = {"trio-websocket": WebSocketTransport, "websockets": WebsocketsTransport}
    results: dict[str, dict[str, list[float]]] = {
        name: {"down": [], "up send": [], "up batch1": [], "up session": []} for name in TRANSPORTS
    }

    async def session_write(connection: Any) -> None:
        atomic = getattr(connection, "send_atomic", None)
        if atomic is not None:
            await atomic(MIC_FRAME, 5.0)
            return
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + 5.0
            await connection.send_batch([MIC_FRAME])

    async def one(name: str) -> None:
        async with trio.open_nursery() as nursery:
            connection = await makers[name]().connect(endpoint, nursery)
            got = results[name]
            await connection.send(f"down {count}")
            await connection.receive()  # the first chunk: the server is streaming
            c0 = time.process_time()
            for _ in range(count - 1):
                await connection.receive()
            got["down"].append((time.process_time() - c0) / (count - 1) * 1e6)
            for kind in ("up send", "up batch1", "up session"):
                c0 = time.process_time()
                if kind == "up send":
                    for _ in range(count):
                        await connection.send(MIC_FRAME)
                elif kind == "up batch1":
                    for _ in range(count):
                        await connection.send_batch([MIC_FRAME])
                else:
                    for _ in range(count):
                        await session_write(connection)
                await connection.send("sync")
                assert await connection.receive() == "sync"
                got[kind].append((time.process_time() - c0) / count * 1e6)
            await connection.aclose()

    async def main() -> None:
        for name in TRANSPORTS:  # warm-up
            await one(name)
        for name in TRANSPORTS:
            for values in results[name].values():
                values.clear()
        for rep in range(reps):
            order = TRANSPORTS if rep % 2 == 0 else TRANSPORTS[::-1]
            for name in order:
                await one(name)

    trio.run(main)
    return results


def make_tls(directory: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(directory / "ca.pem")
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(directory / "server.pem")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        ready, tls_dir = args.serve
        serve(ready, tls_dir or None)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tls_dir = tmp if args.tls else ""
        if args.tls:
            make_tls(Path(tmp))
        ready = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, str(THIS), "--serve", str(ready), tls_dir])
        try:
            deadline = time.monotonic() + 30
            while not ready.exists() or not ready.read_text():
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.05)
            scheme = "wss" if args.tls else "ws"
            url = f"{scheme}://127.0.0.1:{ready.read_text()}/live"
            results = measure(url, tls_dir or None, args.reps, args.count)
        finally:
            server.terminate()
            server.wait()
    print(
        f"Client CPU us per message, {args.reps} alternated reps x {args.count} messages, "
        f"{'wss' if args.tls else 'ws'}:// (median [min] per transport; ratio = median of "
        "per-rep websockets / trio-websocket)"
    )
    for kind in ("down", "up send", "up batch1", "up session"):
        base, other = results["trio-websocket"][kind], results["websockets"][kind]
        ratio = statistics.median(o / b for o, b in zip(other, base, strict=True))
        print(
            f"  {kind:10s} trio-websocket {statistics.median(base):6.1f} [{min(base):6.1f}]"
            f"   websockets {statistics.median(other):6.1f} [{min(other):6.1f}]"
            f"   ratio {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
