"""Findings of the fresh-eyes review of issue 18: console, logging, OpenTelemetry, packaging.

Each test named ``test_finding_*`` failed before its fix; the others pin behaviours the review
checked and found right.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from livehandle._cli import build_parser
from livehandle._cli._logging import level_of
from livehandle._logs import LogScope, scoped

if TYPE_CHECKING:
    from livehandle._cli.console.fake import FakeBackend

ROOT = Path(__file__).resolve().parents[2]


# -- logging options before the command -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["-v", "demo"], logging.INFO),
        (["-vv", "demo"], logging.DEBUG),
        (["--verbose", "console", "--text"], logging.INFO),
        (["--log-level", "error", "emulator"], logging.ERROR),
        (["-v", "emulator"], logging.INFO),  # never above the command's own default
        (["-v", "demo", "-v"], logging.DEBUG),  # counted together
        (["--log-level", "DEBUG", "demo", "--log-level", "ERROR"], logging.ERROR),  # the last wins
        (["demo"], logging.WARNING),
    ],
)
def test_finding_logging_options_work_before_the_command_too(argv: list[str], level: int) -> None:
    # ``livehandle -v demo`` was "unrecognized arguments: -v": the options existed only after
    # the subcommand's name, while most CLIs (and the review brief) put -v first.
    args = build_parser().parse_args(argv)
    assert level_of(args) == level


def test_the_top_level_help_shows_the_logging_options(capsys: pytest.CaptureFixture[str]) -> None:
    from livehandle._cli import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--verbose" in out and "--log-level" in out


# -- OpenTelemetry --------------------------------------------------------------------------------


def _needs_sdk() -> None:
    pytest.importorskip("opentelemetry.sdk")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("ValueError: no forecast", "ValueError"),
        ("KeyError: 'city'", "KeyError"),
        ("TimeoutError: slow", "TimeoutError"),
        ("StopIteration: x", "StopIteration"),
        ("payments.CardDeclinedError: no", "CardDeclinedError"),
        # words of a message: never an attribute (span and metric: unbounded cardinality too)
        ("Paris: no forecast for that city", "tool_error"),
        ("john.smith: no such account", "tool_error"),
        ("Denied: the caller is not verified", "tool_error"),
        ("AIzaSyD_secret_key_value: rejected", "tool_error"),
    ],
)
def test_finding_error_type_is_a_class_name_never_words_of_the_message(
    message: str, expected: str
) -> None:
    _needs_sdk()
    from livehandle._runtime.otel import _tool_error

    assert _tool_error({"error": message}) == expected


async def test_finding_the_otel_logger_records_carry_the_ids(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # livehandle.otel was a plain logger: its records had no session_id / connection_id, so a
    # formatter using them (the CLI's, the logging page's examples) failed on them.
    _needs_sdk()
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from livehandle import OtelConfig, SessionEvent
    from livehandle._runtime.otel import OtelObserver
    from livehandle._runtime.telemetry import SessionTelemetry

    config = OtelConfig(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    with scoped(LogScope("s-otel", 2)):
        otel = OtelObserver(
            config, telemetry=SessionTelemetry(), model="m", backend="google_ai", session_id="s"
        )

        def broken(event: SessionEvent) -> None:
            raise RuntimeError("exporter bug")

        monkeypatch.setattr(otel, "session_event", broken)
        with caplog.at_level(logging.ERROR, logger="livehandle.otel"):
            otel.tap(SessionEvent.TurnComplete())
    (record,) = caplog.records
    assert (record.session_id, record.connection_id) == ("s-otel", 2)  # type: ignore[attr-defined]


def test_finding_every_library_logger_is_on_the_logging_page() -> None:
    import re

    page = (ROOT / "docs" / "reference" / "logging.rst").read_text()
    names = set()
    for path in (ROOT / "livehandle").rglob("*.py"):
        names.update(
            re.findall(r'(?:library_logger|getLogger)\("(livehandle[.\w]*)"\)', path.read_text())
        )
    assert "livehandle.otel" in names
    assert sorted(n for n in names - {"livehandle"} if f"``{n}``" not in page) == []


# -- the console's speaker on a device at its own rate --------------------------------------------


class _Stream:
    opened: list[_Stream] = []  # noqa: RUF012

    def __init__(self, *, samplerate: int, blocksize: int, callback: Any, **options: Any) -> None:
        if samplerate in (16000, 24000):
            raise _PortAudioError("Invalid sample rate")
        self.samplerate = samplerate
        self.callback = callback
        _Stream.opened.append(self)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class _PortAudioError(Exception):
    pass


async def test_finding_flushed_and_dropped_audio_are_counted_as_24khz_model_audio(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    # A speaker opened at 48 kHz queues resampled audio; flush() and dropped returned bytes of
    # that, and the console showed them as 24 kHz audio: "160 ms flushed" for 80 ms of reply.
    from livehandle._cli.console.devices import QUEUE_LIMIT_SECONDS
    from livehandle._cli.console.sd_backend import SoundDeviceBackend

    module = types.SimpleNamespace(
        query_devices=lambda device=None, kind=None: {"default_samplerate": 48000.0},
        default=types.SimpleNamespace(device=[0, 1]),
        RawInputStream=_Stream,
        RawOutputStream=_Stream,
        PortAudioError=_PortAudioError,
    )
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    _Stream.opened = []
    async with SoundDeviceBackend().open(None, None) as (_microphone, speaker):
        assert _Stream.opened[1].samplerate == 48000
        eighty_ms = bytes(2 * 24000 * 80 // 1000)
        speaker.write(eighty_ms)
        assert speaker.flush() == len(eighty_ms)
        for _ in range(QUEUE_LIMIT_SECONDS + 1):
            speaker.write(bytes(2 * 24000))  # one second each; the last has no room
        assert speaker.dropped == 2 * 24000


async def test_finding_microphone_chunks_lost_are_in_the_summary(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The sounddevice microphone drops (and counts) chunks when the loop falls a second behind,
    # but nothing ever reported the count: audio the model never heard, lost silently.
    from livehandle.testing import audio
    from tests.cli.console.test_voice import run_console

    def script(_emulator: object, backend: FakeBackend) -> list[Any]:
        async def fall_behind() -> None:
            assert backend.microphone is not None
            backend.microphone.dropped = 5  # five 20 ms chunks the loop had no room for

        return [audio.silence(100), fall_behind, audio.silence(100)]

    _lines, stats, _speaker, _drained = await run_console(script)
    assert stats.mic_dropped_ms == 100
    lost = "; 100 ms of microphone audio dropped (the console fell behind)"
    assert stats.summary().endswith(lost)


def test_the_summary_without_losses_says_nothing_of_them() -> None:
    from livehandle._cli.console.loop import Stats

    stats = Stats()
    stats.turns, stats.latencies_ms = 1, [500.0]
    assert stats.summary() == "summary: 1 turn, 0 interruptions, 0 tool calls, mean latency 500 ms"


# -- the console's Ctrl-C at the prompt -----------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_finding_ctrl_c_at_the_prompt_puts_the_summary_on_its_own_line() -> None:
    # It printed "you> summary: 1 turn, ..." (the summary glued to the prompt).
    import signal

    from tests.cli.console.test_text_pty import Terminal

    term = Terminal("console", "--text")
    try:
        term.expect("you> ")
        term.type(b"hi\n")
        term.expect("model: You said: hi\n")
        term.expect("you> ")
        term.process.send_signal(signal.SIGINT)
        status, rest = term.finish()
    finally:
        term.close()
    assert status == 0
    # what came after the prompt: a line break, then the summary
    assert rest.startswith("\nsummary: 1 turn, "), rest


# -- an OpenTelemetry failure outside the session tap ---------------------------------------------


async def test_finding_a_failing_span_end_on_a_tool_answer_never_reaches_the_session(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Only the session tap was guarded: a tool span ended from the dispatcher's events (and the
    # client VAD's edges, and the runner's close) let an SDK or span processor error escape
    # into the tool answering path, although the how-to promises "the conversation goes on".
    _needs_sdk()
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from livehandle import LiveConfig, LiveEvent, OtelConfig, open_live_session, tool
    from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When

    class Broken(SpanProcessor):
        def on_end(self, span: Any) -> None:
            if span.name.startswith("execute_tool"):
                raise RuntimeError("span processor bug")

    @tool
    async def lookup(city: str) -> str:
        """Look a city's weather up."""
        return f"{city}: sunny"

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(Broken())
    scenario = Scenario(
        rules=[
            Rule(
                When(text="weather"),
                [CallTools([ToolCallSpec("lookup", {"city": "Paris"}, id="c1")]), Say("{result}")],
            )
        ]
    )
    config = LiveConfig(
        response_modality="TEXT",
        tools=(lookup,),
        otel=OtelConfig(tracer_provider=tracer_provider, meter_provider=MeterProvider()),
    )
    seen: list[LiveEvent] = []
    with caplog.at_level(logging.ERROR, logger="livehandle.otel"):
        async with (
            LiveEmulator(scenario).in_memory() as emu,
            open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
        ):
            events = handle.stream()
            await handle.send_text("what is the weather in Paris")
            with trio.fail_after(30):
                async for event in events:
                    seen.append(event)
                    if isinstance(event, LiveEvent.TurnComplete):
                        break
            await handle.send_text("and the weather again?")
            with trio.fail_after(30):
                async for event in events:
                    seen.append(event)
                    if isinstance(event, LiveEvent.TurnComplete):
                        break
    answers = [e for e in seen if isinstance(e, LiveEvent.TextComplete)]
    assert [a.text for a in answers] == ["Paris: sunny", "Paris: sunny"]
    assert [r.getMessage() for r in caplog.records] == [
        "OpenTelemetry export failed; it stops for this session"
    ]


# -- what the console prints of a server's text ---------------------------------------------------


def test_finding_a_multi_line_reply_streams_on_one_status_line() -> None:
    # A reply with line breaks (Gemini's text answers often have them) was written into the
    # status line as is: each redraw scrolled the screen and "\r\x1b[K" erased only the last
    # line, so the terminal filled with half-streamed copies of the reply.
    import io

    from livehandle._cli.console.view import View

    out = io.StringIO()
    view = View(out, tty=True, clock=lambda: 0.0)
    view.partial("model", "Here is a list:\n")
    view.partial("model", "- one\r\n\t- two")
    assert "\n" not in out.getvalue() and "\t" not in out.getvalue()
    assert view.status_text() == "model: Here is a list: - one - two"
    view.final("model", "Here is a list:\n- one\n- two")
    assert out.getvalue().endswith("\x1b[0m Here is a list:\n- one\n- two\n")  # lines stay lines


@pytest.mark.parametrize("tty", [True, False])
def test_finding_escape_codes_from_the_server_never_reach_the_terminal(tty: bool) -> None:
    # Transcripts, tool results and error texts come from the server (or the model): their
    # escape sequences (set the title, move the cursor, change colours) went out raw.
    import io

    from livehandle._cli.console.view import View

    out = io.StringIO()
    view = View(out, tty=tty, clock=lambda: 0.0)
    view.partial("model", "a\x1b[2Jb")
    view.final("model", "hi \x1b]0;pwned\x07there\x9b31m \x1b[31mred")
    view.line("tool: t -> \x1b[1A\x08up", tag="tool")
    shown = out.getvalue()
    ours = shown.replace("\x1b[36m", "").replace("\x1b[33m", "").replace("\x1b[0m", "")
    ours = ours.replace("\r\x1b[K", "").replace("\x1b[K", "")
    assert "\x1b" not in ours and "\x07" not in ours and "\x9b" not in ours and "\x08" not in ours
    assert "model: hi ]0;pwnedthere31m [31mred" in ours
