"""``python -m livehandle demo``: the whole conversation, in order.

The demo serves its emulator on a real socket and speaks at real-time pace, so this runs in real
time (about 15 s), bounded.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import trio

from livehandle._cli import build_parser
from livehandle._cli.demo import demo
from livehandle.testing import audio

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


async def test_the_demo_reads_like_a_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    out = io.StringIO()
    wav = tmp_path / "demo.wav"
    with trio.fail_after(90):
        await demo(None, wav, out)
    text = out.getvalue()
    lines = [re.sub(r"^\[\s*[\d.]+s\]\s+", "", line) for line in text.splitlines()]

    def position(fragment: str) -> int:
        found = [i for i, line in enumerate(lines) if fragment in line]
        assert found, f"{fragment!r} is not in the demo's output:\n{text}"
        return found[0]

    steps = [
        "built-in Gemini Live emulator at ws://127.0.0.1:",
        'user  speaking: "What is the weather in Paris?"',
        "model  calls the tool get_weather(city='Paris')",
        "tool  get_weather answered {'output': 'sunny and 21 degrees'}",
        'model  said: "In Paris it is sunny and 21 degrees."',
        'user  speaking: "Tell me a story about the sea."',
        "user  starts talking over the story",
        "model  interrupted after",
        'model  said: "Of course. Anything else I can do for you?"',
        "disconnected cleanly (close code 1000)",
        "turns: 3   interruptions: 1   tool calls answered: 1",
    ]
    assert [position(step) for step in steps] == sorted(position(step) for step in steps)
    latency = re.search(r"p50 (\d+) ms, p99 (\d+) ms over (\d+) replies", text)
    assert latency is not None and int(latency.group(3)) == 3
    pcm, rate, channels = audio.read_wav(wav)
    assert (rate, channels) == (24000, 1)
    assert audio.duration_ms(pcm, sample_rate=rate) > 3000
    assert str(wav) in text


def test_the_demo_is_a_registered_command_with_its_options() -> None:
    args = build_parser().parse_args(["demo", "--endpoint", "ws://127.0.0.1:1/x"])
    assert args.endpoint == "ws://127.0.0.1:1/x"
    assert args.output.name == "livehandle-demo.wav"
    assert callable(args.handler)
