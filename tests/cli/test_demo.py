"""``python -m livehandle demo``: the whole conversation, in order.

The demo serves its emulator on a real socket and speaks at real-time pace, so this runs in real
time (about 15 s), bounded.
"""

from __future__ import annotations

import functools
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

import livehandle
from livehandle._cli import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    build_parser,
    demo as demo_module,
    main,
)
from livehandle._cli._exit import find_exception
from livehandle._cli.demo import ANSWER_TIMEOUT, REPLY_TIMEOUT, DemoFailed, demo
from livehandle._cli.talk import Target
from livehandle._transport import Endpoint
from livehandle.testing import Fault, LiveEmulator, Scenario, audio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

ROOT = Path(livehandle.__file__).resolve().parent.parent
KEY = "AIza-google-key-never-printed-42"


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without a key (each one that wants one sets it)."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


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


# -- another server -------------------------------------------------------------------------------


async def demo_in_memory(emulator: LiveEmulator, wav: Path, out: io.StringIO) -> list[str]:
    """Run the demo against ``emulator`` (already serving in memory) as an --endpoint server."""
    target = Target(Endpoint.from_url(emulator.url), "talking to the test's emulator")
    return await demo(target, wav, out, transport=emulator.memory_transport())


async def test_an_echo_server_makes_the_demo_name_the_steps_that_did_not_happen(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    out = io.StringIO()
    start = trio.current_time()
    async with LiveEmulator(realtime=True).in_memory() as emulator:
        missing = await demo_in_memory(emulator, tmp_path / "demo.wav", out)
    text = out.getvalue()
    assert [step.split(":", 1)[0] for step in missing] == ["the tool call", "the barge-in"]
    assert "the model answered without calling get_weather" in missing[0]
    assert "the user never talked over it" in missing[1]
    summary = text[text.index("\nsummary\n") :]
    assert "  did not happen:\n" + "".join(f"    - {step}\n" for step in missing) in summary
    assert "disconnected cleanly (close code 1000)" in text
    # The echo's short answer to the story played out: the demo did not wait out a timeout.
    assert trio.current_time() - start < REPLY_TIMEOUT


async def test_a_server_that_answers_nothing_fails_fast_with_a_reason(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    out = io.StringIO()
    start = trio.current_time()
    silent = Scenario(default=[Fault("stall")])  # hears every turn, never answers
    with pytest.raises(BaseException) as caught:  # noqa: PT011 - may come in an exception group
        async with LiveEmulator(silent, realtime=True).in_memory() as emulator:
            await demo_in_memory(emulator, tmp_path / "demo.wav", out)
    failure = find_exception(caught.value, DemoFailed)
    assert failure is not None, caught.value
    assert str(failure) == (
        f"the server sent no answer within {ANSWER_TIMEOUT:g} s after the user said "
        '"What is the weather in Paris?" (is it a Live API server that hears speech?)'
    )
    # The first question (about 3 s of speech and silence) plus the answer bound, no more.
    assert trio.current_time() - start < 4 + ANSWER_TIMEOUT


def fake_demo(
    seen: list[Target], missing: list[str]
) -> Callable[[Target, Path, object], Awaitable[list[str]]]:
    async def fake(target: Target, output: Path, out: object) -> list[str]:
        seen.append(target)
        return missing

    return fake


def test_missing_steps_exit_1_with_a_one_line_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = ["the tool call: no call", "the barge-in: too short"]
    monkeypatch.setattr(demo_module, "demo", fake_demo([], missing))
    assert main(["demo"]) == EXIT_FAILURE
    assert capsys.readouterr().err == (
        "livehandle demo: 2 step(s) of the demo did not happen: the tool call; the barge-in "
        "(see the summary)\n"
    )
    monkeypatch.setattr(demo_module, "demo", fake_demo([], []))
    assert main(["demo"]) == EXIT_OK
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("variable", ["GOOGLE_API_KEY", "GEMINI_API_KEY"])
def test_the_demo_uses_gemini_with_either_key_variable_as_talk_does(
    variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, KEY)
    seen: list[Target] = []
    monkeypatch.setattr(demo_module, "demo", fake_demo(seen, []))
    assert main(["demo"]) == EXIT_OK
    (target,) = seen
    assert target.endpoint is not None
    assert target.endpoint.backend == "google_ai"
    assert target.description == f"talking to Gemini (Google AI; key from {variable})"
    assert KEY not in repr(target)
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err


def test_an_endpoint_that_is_not_a_websocket_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--endpoint", "http://127.0.0.1:1/x"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("livehandle demo: --endpoint: ")
    assert err.count("\n") == 1


# -- Ctrl-C ---------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a process")
async def test_ctrl_c_ends_the_demo_with_one_line_and_status_0(tmp_path: Path) -> None:
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)
    command = [sys.executable, "-m", "livehandle", "demo", "--output", str(tmp_path / "d.wav")]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            run = functools.partial(
                trio.run_process,
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
                env=env,
            )
            process: trio.Process = await nursery.start(run)
            assert process.stdout is not None
            assert process.stderr is not None
            shown = bytearray()
            while b"speaking:" not in shown:  # the conversation is under way
                chunk = await process.stdout.receive_some()
                assert chunk, f"the demo ended before it spoke: {bytes(shown)!r}"
                shown += chunk
            process.send_signal(signal.SIGINT)
            stderr = bytearray()
            while chunk := await process.stderr.receive_some():
                stderr += chunk
            while await process.stdout.receive_some():
                pass
            status = await process.wait()
    assert b"Traceback" not in stderr
    assert stderr.decode() == "livehandle demo: interrupted\n"
    assert status == EXIT_OK
