"""Every example runs against the emulator, so none of them rots.

The examples start the emulator the way a reader would, on a real socket, so these tests run in
real time (the voice example paces its audio as a microphone would) and each is bounded.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from livehandle.testing import audio

if TYPE_CHECKING:
    from types import ModuleType

    import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REAL_TIME_BOUND = 60.0  # seconds; each example takes a few


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_voice_bot_barges_in_and_saves_the_audio_that_played(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    output = tmp_path / "reply.wav"
    with trio.fail_after(REAL_TIME_BOUND):
        await load("voice_bot").main(None, str(output))
    printed = capsys.readouterr().out
    assert "model interrupted" in printed
    assert "user said: Stop, stop, that is enough." in printed
    assert "1 barge-in(s)" in printed
    pcm, rate, channels = audio.read_wav(output)
    assert (rate, channels) == (24000, 1)
    # A second of the story played before the barge-in, then the whole 1.2 s answer.
    assert 2000 <= audio.duration_ms(pcm, sample_rate=rate) < 3500


async def test_tool_bot_answers_inline_and_background_tools(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with trio.fail_after(REAL_TIME_BOUND):
        await load("tool_bot").main(None)
    printed = capsys.readouterr().out
    assert "tool get_weather answered {'city': 'Paris', 'sky': 'cloudy'" in printed
    assert "background tool book_table answered" in printed and "BK-1042" in printed
    assert "model: book_table finished" in printed
    assert "done: 2 tool calls, 2 answered, 0 errors" in printed


async def test_echo_bot_prints_each_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with trio.fail_after(REAL_TIME_BOUND):
        answers = await load("echo_bot").main(["Hello!", "Bye."])
    assert answers == ["You said: Hello!", "You said: Bye."]
    assert "model: You said: Bye." in capsys.readouterr().out


async def test_many_workers_carries_the_call_to_a_second_worker_through_a_file_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with trio.fail_after(REAL_TIME_BOUND):
        found = await load("many_workers").main()
    assert found == {
        "fresh": False,
        "turn_count": 2,
        "caller": "Ada",
        "transcript": ["I would like a table for two.", "Tomorrow at eight."],
        "answer": "You said: Can you confirm it?",
    }
    assert "another worker is refused" in capsys.readouterr().out


async def test_many_workers_runs_on_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.persist.redis_server import find_redis_server, redis_server

    find_redis_server()  # skips locally (fails under CI=true) when redis-server is missing
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with redis_server() as port, trio.fail_after(REAL_TIME_BOUND):
        found = await load("many_workers").main(f"redis://127.0.0.1:{port}/0")
    assert found["fresh"] is False and found["caller"] == "Ada"
    assert found["answer"] == "You said: Can you confirm it?"


def test_the_fixture_example_passes_under_pytest(tmp_path: Path) -> None:
    import subprocess
    from importlib.metadata import entry_points

    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not any(ep.name == "livehandle" for ep in entry_points(group="pytest11")):
        command += ["-p", "livehandle.testing.pytest_plugin"]  # not pip-installed (a dev tree)
    command += ["--rootdir", str(tmp_path), str(EXAMPLES / "test_with_fixtures.py")]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=EXAMPLES.parent
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


async def test_booking_bot_fills_the_slots_and_confirms_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    module = load("booking_bot")
    with trio.fail_after(REAL_TIME_BOUND):
        booking = await module.main(None)
    assert booking == module.Booking("Ada", "Friday", 4)
    printed = capsys.readouterr().out
    assert printed.count("asking the model to confirm") == 1
    assert "this turn filled: ['slot:date']" in printed
    assert "this turn filled: ['slot:party_size']" in printed
    assert "model: Booked! See you then." in printed
    assert "the name came from the extractor 'booking'" in printed


async def test_flow_bot_refuses_the_early_booking_and_books_once_confirmed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    module = load("flow_bot")
    with trio.fail_after(REAL_TIME_BOUND):
        outcome = await module.main(None)
    # The booking function ran once: neither the early call nor the second booking reached it.
    assert outcome.bookings == ({"city": "Lisbon", "date": "Friday"},)
    start, after_city, after_early_book, after_booking, after_again = outcome.explanations
    assert start.active == ("greet",)
    assert start.allowed_tools == ("set_city", "set_date")
    assert start.blocked_tools["book"] == "'book' is not permitted yet"
    assert start.blocked_tools["confirm"] == "'confirm' is not available in the current step"
    assert after_city.active == ("collect",)
    assert after_early_book.active == ("confirm",)
    assert after_early_book.allowed_tools == ("confirm",)
    assert after_early_book.blocked_tools["book"] == "'book' is not permitted yet"
    assert after_booking.active == ()
    assert "book" in after_booking.done
    assert after_booking.allowed_tools == ("confirm", "set_city", "set_date")
    assert after_booking.blocked_tools == {"book": "'book' may run at most once"}
    assert after_again.blocked_tools == {"book": "'book' may run at most once"}
    printed = capsys.readouterr().out
    # What the model was answered is the reason why_blocked() gives.
    assert "model: I could not book yet (error: 'book' is not permitted yet)." in printed
    assert 'model: Booked: {"city": "Lisbon", "date": "Friday", "reference": "HX-0001"}.' in printed
    assert "model: Sorry: error: 'book' may run at most once." in printed
    assert "step entered: confirm" in printed  # it started in the middle of the second turn
    assert "blocked:\n    book: 'book' is not permitted yet" in printed  # print(why_blocked())
