"""Codec cost per message next to plain json + base64 (hand-built dicts), in one run.

Run: ``python benchmarks/bench_codec.py`` (after ``pip install -e .``).  Prints microseconds per
call, the best of several repeats, for:

* encode_client of a 20 ms, 16 kHz PCM16 microphone frame (640 bytes) as realtimeInput.audio;
* decode_server of a 40 ms, 24 kHz PCM16 model audio chunk (1920 bytes) in serverContent.
"""

from __future__ import annotations

import base64
import json
import os
import timeit

from livehandle._wire import messages as m
from livehandle._wire.codec import decode_server, encode_client, encode_server

MIC = os.urandom(640)  # 20 ms at 16 kHz, 16-bit mono
MODEL = os.urandom(1920)  # 40 ms at 24 kHz, 16-bit mono

mic_message = m.RealtimeInput(audio=m.Blob("audio/pcm;rate=16000", MIC))
model_frame = encode_server(
    m.ServerContent(
        model_turn=m.Content(parts=(m.Part(inline_data=m.Blob("audio/pcm;rate=24000", MODEL)),))
    )
).encode()


def plain_encode() -> str:
    data = base64.b64encode(MIC).decode("ascii")
    audio = {"mimeType": "audio/pcm;rate=16000", "data": data}
    return json.dumps({"realtimeInput": {"audio": audio}})


def plain_decode() -> bytes:
    obj = json.loads(model_frame)
    return base64.b64decode(obj["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"])


def best_us(fn: object, number: int = 20_000, repeat: int = 7) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return min(times) / number * 1e6


def main() -> None:
    decoded = decode_server(model_frame)
    assert decoded.model_turn.parts[0].inline_data.data == plain_decode()  # type: ignore[union-attr]
    assert json.loads(encode_client(mic_message)) == json.loads(plain_encode())
    rows = [
        (
            "encode_client, 20 ms mic frame (640 B)",
            lambda: encode_client(mic_message),
            plain_encode,
        ),
        (
            "decode_server, 40 ms model chunk (1920 B)",
            lambda: decode_server(model_frame),
            plain_decode,
        ),
    ]
    print(f"{'operation':45} {'livehandle':>12} {'json+base64':>12} {'ratio':>6}")
    for name, ours, plain in rows:
        a, b = best_us(ours), best_us(plain)
        print(f"{name:45} {a:9.2f} us {b:9.2f} us {a / b:6.2f}")


if __name__ == "__main__":
    main()
