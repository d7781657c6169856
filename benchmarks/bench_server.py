"""The server process of the client benchmarks; prints its URL on the first line, then serves.

Kinds:

* ``emulator``: :class:`livehandle.testing.LiveEmulator` serving ``wss://`` with the given scenario
  (JSON), optionally in real time.  With ``--stamp`` each model audio chunk carries, in its first
  8 bytes, ``time.monotonic_ns()`` (little-endian) taken just before the chunk is encoded and
  written; CLOCK_MONOTONIC is system-wide on Linux, so a client process can subtract it from its
  own clock.  With ``--stamp-file PATH`` the time each ``interrupted`` message is about to be
  written is appended to PATH (one integer per line).  Both are done by a subclass of the
  emulator's engine, installed here only.  For ``bench_resume.py``, ``--resume-stamp-file PATH``
  appends one line ``KIND NS CONNECTION SEQ`` per event (``NS`` is ``time.monotonic_ns()``;
  connections are numbered from 1 in the order they were accepted; ``SEQ`` is the little-endian
  uint32 the client put in the low bytes of a microphone frame's first four samples): ``goaway``
  just before a ``goAway`` is encoded and written, ``drop`` just before the connection is
  dropped, ``first`` when the first audio frame of a connection is read, ``last`` with the last
  audio frame it read, when the connection ends.  ``--drop-after S`` drops every connection (no
  close frame: the client sees 1006) ``S`` seconds after its setup completed.
* ``sink``: a minimal asyncio WebSocket server: it completes the upgrade, answers the first
  message (``setup``) with ``setupComplete``, then reads and discards frames without decoding them;
  a short ``clientContent`` frame (a typed turn; only short frames are unmasked to see that) is
  answered with an empty ``turnComplete``, preceded, when the turn's text is ``stream``, by
  ``--chunks`` pre-encoded 40 ms 24 kHz audio chunks written at once (so that a receiving client,
  not the server, sets the pace).  When the setup asked for session resumption
  (``sessionResumption``), each answer is followed by a resumable checkpoint
  (``sessionResumptionUpdate`` with a fresh ``newHandle`` and ``resumable: true``), as the real
  service sends one at each turn boundary: a client with ``auto_resume`` trims its replay log on
  it (without checkpoints the log would fill up to its audio bound and evict).  It answers pings
  and close frames.  It needs a fraction of a client's CPU per frame (measured: 0.2 of a core at
  2500 frames/s on the 2-core benchmark machine, mostly wake-ups and TLS), so the client process,
  not the server, is what runs out of CPU.

Stop it with SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import signal
import struct
import time

from _common import pin, server_ssl_context

# -- the emulator ---------------------------------------------------------------------------------


def install_stamping_engine(stamp_audio: bool, stamp_file: str | None) -> None:
    import attrs

    import livehandle.testing._emulator as emulator_module
    from livehandle._wire import messages as m
    from livehandle.testing._engine import Engine

    stamps = open(stamp_file, "a", encoding="ascii") if stamp_file else None  # noqa: SIM115

    class StampingEngine(Engine):
        async def send(self, message: m.ServerMessage) -> None:
            interrupted = isinstance(message, m.ServerContent) and message.interrupted
            if stamps is not None and interrupted:
                stamps.write(f"{time.monotonic_ns()}\n")
                stamps.flush()  # a few bytes, once per barge-in; read after this process ends
            if (
                stamp_audio
                and isinstance(message, m.ServerContent)
                and message.model_turn is not None
            ):
                parts = message.model_turn.parts
                blob = parts[0].inline_data if parts else None
                if blob is not None and len(blob.data) >= 8:
                    stamped = struct.pack("<q", time.monotonic_ns()) + blob.data[8:]
                    part = attrs.evolve(parts[0], inline_data=attrs.evolve(blob, data=stamped))
                    turn = attrs.evolve(message.model_turn, parts=(part, *parts[1:]))
                    message = attrs.evolve(message, model_turn=turn)
            await super().send(message)

    emulator_module.Engine = StampingEngine  # type: ignore[misc]  # this process only


def install_resume_engine(stamp_file: str, drop_after: float | None) -> None:
    """Stamp goAways, drops and each connection's first and last audio frame (see above)."""
    import itertools

    import trio

    import livehandle.testing._emulator as emulator_module
    from livehandle._wire import messages as m

    stamps = open(stamp_file, "a", encoding="ascii")  # noqa: SIM115  # until the process ends
    numbers = itertools.count(1)
    base = emulator_module.Engine

    def stamp(kind: str, connection: int, seq: int = -1, when: int | None = None) -> None:
        stamps.write(f"{kind} {when or time.monotonic_ns()} {connection} {seq}\n")
        stamps.flush()  # a few lines per connection; read after this process ends

    class ResumeEngine(base):  # type: ignore[misc,valid-type]
        bench_number = 0
        bench_last: tuple[int, int] | None = None  # (monotonic ns, seq) of the last audio frame

        async def run(self) -> None:
            self.bench_number = next(numbers)
            self.bench_ready = trio.Event()  # set once setupComplete was sent
            try:
                async with trio.open_nursery() as nursery:
                    if drop_after is not None:
                        nursery.start_soon(self._bench_drop_later, drop_after)
                    await super().run()
                    nursery.cancel_scope.cancel()
            finally:
                if self.bench_last is not None:
                    when, seq = self.bench_last
                    stamp("last", self.bench_number, seq, when)

        async def _bench_drop_later(self, after: float) -> None:
            await self.bench_ready.wait()
            await trio.sleep(after)
            stamp("drop", self.bench_number)
            await self.drop()

        async def _handshake(self) -> bool:
            ready: bool = await super()._handshake()
            if ready:
                self.bench_ready.set()
            return ready

        async def send(self, message: m.ServerMessage) -> None:
            if isinstance(message, m.GoAway):
                stamp("goaway", self.bench_number)
            await super().send(message)

        async def _dispatch(self, message: m.ClientMessage) -> None:
            if isinstance(message, m.RealtimeInput) and message.audio is not None:
                seq = int.from_bytes(message.audio.data[0:8:2], "little")
                if self.bench_last is None:
                    stamp("first", self.bench_number, seq)
                self.bench_last = (time.monotonic_ns(), seq)
            await super()._dispatch(message)

    emulator_module.Engine = ResumeEngine  # type: ignore[misc]  # this process only


def serve_emulator(args: argparse.Namespace) -> None:
    import trio

    from livehandle.testing import LiveEmulator, Scenario

    if args.stamp or args.stamp_file:
        install_stamping_engine(args.stamp, args.stamp_file)
    if args.resume_stamp_file:
        install_resume_engine(args.resume_stamp_file, args.drop_after)
    scenario = Scenario.from_json(args.scenario) if args.scenario else None
    emulator = LiveEmulator(
        scenario,
        ssl_context=None if args.plain else server_ssl_context(args.tls),
        realtime=args.realtime,
        chunk_ms=args.chunk_ms,
    )

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with emulator.running():
                print(emulator.url, flush=True)
                async for _ in signals:
                    break

    trio.run(main)


# -- the sink -------------------------------------------------------------------------------------

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SETUP_COMPLETE = b'{"setupComplete":{}}'
_TURN_COMPLETE = b'{"serverContent":{"turnComplete":true}}'
_SHORT = 400  # a typed turn is short; audio frames (900+ bytes) are never looked into
_RESUMPTION = b'"sessionResumption"'  # in a setup: the client wants resumable checkpoints
_MAX_HEADER = 16384


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame (payloads here are all short)."""
    assert len(payload) < 126
    return bytes((0x80 | opcode, len(payload))) + payload


def audio_burst(chunks: int) -> bytes:
    """``chunks`` binary frames, each one 40 ms 24 kHz PCM16 model audio chunk (1920 bytes)."""
    data = base64.b64encode(bytes(range(256)) * 7 + bytes(128)).decode()
    blob = {"mimeType": "audio/pcm;rate=24000", "data": data}
    message = {"serverContent": {"modelTurn": {"role": "model", "parts": [{"inlineData": blob}]}}}
    payload = json.dumps(message, separators=(",", ":")).encode()
    header = bytes((0x82, 126)) + len(payload).to_bytes(2, "big")
    return (header + payload) * chunks


class SinkProtocol(asyncio.Protocol):
    burst = b""  # what a "stream" turn is answered with (set once, from --chunks)

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.answered = False
        self.resumption = False  # the setup asked for session resumption: send checkpoints
        self.checkpoints = 0
        self.frames = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded and not self._upgrade():
            return
        self._frames()

    def _answer(self, stream: bool) -> None:
        """Answer a typed turn: ``stream`` gets the model audio burst, any other turn none."""
        assert self.transport is not None
        if stream and self.burst:
            self.transport.write(self.burst)
        self.transport.write(_frame(1, _TURN_COMPLETE))
        if self.resumption:  # a turn boundary: the real service issues a resumable handle here
            self.checkpoints += 1
            handle = f"sink-{self.checkpoints}"
            update = {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}
            self.transport.write(_frame(1, json.dumps(update, separators=(",", ":")).encode()))

    def _upgrade(self) -> bool:
        assert self.transport is not None
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEADER:
                self.transport.close()
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        key = ""
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self.upgraded = True
        return True

    def _frames(self) -> None:
        assert self.transport is not None
        buffer = self.buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 10
            mask_at = pos + header
            if second & 0x80:
                header += 4
            if size - pos < header + length:
                break
            opcode = first & 0x0F
            if opcode in (0, 1, 2):
                if not self.answered and first & 0x80:  # the end of the first message: setup
                    self.answered = True
                    if second & 0x80 and length <= _MAX_HEADER:
                        start = pos + header
                        mask = buffer[mask_at : mask_at + 4]
                        text = bytes(
                            b ^ mask[i % 4] for i, b in enumerate(buffer[start : start + length])
                        )
                        self.resumption = _RESUMPTION in text
                    self.transport.write(_frame(1, _SETUP_COMPLETE))
                else:
                    self.frames += 1
                    if length <= _SHORT and second & 0x80:
                        start = pos + header
                        mask = buffer[mask_at : mask_at + 4]
                        text = bytes(
                            b ^ mask[i % 4] for i, b in enumerate(buffer[start : start + length])
                        )
                        if b"lient_content" in text[:20] or b"lientContent" in text[:20]:
                            self._answer(b'"stream"' in text)
            elif opcode == 8:  # close: answer it and hang up
                self.transport.write(_frame(8, struct.pack("!H", 1000)))
                self.transport.close()
                break
            elif opcode == 9:  # ping: pong with the same (unmasked) payload
                start = pos + header
                payload = bytes(buffer[start : start + length])
                if second & 0x80:
                    mask = buffer[mask_at : mask_at + 4]
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(_frame(10, payload))
            pos += header + length
        del buffer[:pos]


def serve_sink(args: argparse.Namespace) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        SinkProtocol.burst = audio_burst(args.chunks)
        context = None if args.plain else server_ssl_context(args.tls)
        server = await loop.create_server(SinkProtocol, "127.0.0.1", 0, ssl=context, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"{'ws' if args.plain else 'wss'}://127.0.0.1:{port}", flush=True)
        async with server:
            await stop.wait()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("emulator", "sink"))
    parser.add_argument("--tls", required=True, help="directory with server.pem (see _common)")
    parser.add_argument("--scenario", help="the emulator's scenario as JSON")
    parser.add_argument("--realtime", action="store_true", help="pace model audio in real time")
    parser.add_argument("--chunk-ms", type=int, default=40)
    parser.add_argument(
        "--chunks", type=int, default=0, help="sink: 40 ms audio chunks to answer 'stream' with"
    )
    parser.add_argument("--stamp", action="store_true", help="stamp model audio chunks")
    parser.add_argument("--stamp-file", help="append the time of each `interrupted` here")
    parser.add_argument("--plain", action="store_true", help="serve ws:// instead of wss://")
    parser.add_argument(
        "--resume-stamp-file", help="append goaway/drop/first/last audio frame stamps here"
    )
    parser.add_argument(
        "--drop-after", type=float, help="drop each connection this many seconds after setup"
    )
    args = parser.parse_args()
    pin("server")
    if args.kind == "emulator":
        serve_emulator(args)
    else:
        serve_sink(args)


if __name__ == "__main__":
    main()
