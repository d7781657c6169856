"""``python -m livehandle talk``: WAV in, transcripts and a reply WAV out, one-line failures.

The handler runs in-process with ``trio.run``, so most tests are plain sync tests; the ones that
need a server of their own run the handler in a worker thread while the test's Trio loop serves an
emulator.  ``--fast`` keeps them quick: the audio is sent at once and the built-in emulator
answers without real-time pacing.
"""

from __future__ import annotations

import argparse
import io
import math
import socket
import struct
import wave
from array import array
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle import LiveEvent, ServerError, SessionEnd
from livehandle._cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, talk
from livehandle._transport import Endpoint
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator, audio
from livehandle.testing._responder import MS_PER_CHAR
from livehandle.testing._wav import SUPPORTED

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

KEY = "AIza-test-key-do-not-print-0123456789"
NOTICE = "no GEMINI_API_KEY: talking to the built-in emulator (ws://127.0.0.1:"


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without a key (each one that wants one sets it)."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def parse(*argv: str) -> argparse.Namespace:
    """Parse ``talk`` arguments with a parser built like ``livehandle._cli.build_parser``."""
    parser = argparse.ArgumentParser(prog="python -m livehandle")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    talk.add_parser(subparsers)
    return parser.parse_args(["talk", *argv])


def talk_with(*argv: str) -> int:
    args = parse(*argv)
    status: int = args.handler(args)
    return status


def write_stereo_48k(path: Path, speech_ms: float = 1500) -> None:
    """Generated speech as a 48 kHz stereo WAV (the same voice in both channels)."""
    voice = array("h")
    voice.frombytes(audio.synth_voice(speech_ms, sample_rate=48000))
    frames = array("h", bytes(4 * len(voice)))
    frames[0::2] = voice
    frames[1::2] = voice
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(48000)
        writer.writeframes(frames.tobytes())


def reply_of(path: Path) -> tuple[float, int, int]:
    """The duration (ms), sample rate and channel count of a saved reply."""
    pcm, rate, channels = audio.read_wav(path)
    return audio.duration_ms(pcm, sample_rate=rate), rate, channels


def free_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- a conversation with the built-in emulator -------------------------------------------------


def test_a_48k_stereo_file_is_answered_and_the_reply_saved_as_24k_mono(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "question.wav"
    write_stereo_48k(question)
    answer = tmp_path / "answer.wav"

    status = talk_with("--input", str(question), "--output", str(answer), "--fast")

    out, err = capsys.readouterr()
    assert status == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0].startswith(NOTICE) and lines[0].endswith("), not to Gemini")
    assert lines[1:3] == [
        "you: (audio from question.wav)",
        "model: You said: (audio from question.wav)",
    ]
    duration, rate, channels = reply_of(answer)
    assert (rate, channels) == (24000, 1)
    assert duration == MS_PER_CHAR * len("You said: (audio from question.wav)")  # every chunk
    assert lines[3] == f"saved the reply to {answer} ({duration / 1000:.1f} s, 24 kHz mono)"
    # Not a terminal: whole lines (--fast is normally over before a second passes: just one).
    assert "\r" not in err
    assert err.endswith("\nstreaming 1.5 / 1.5 s\n") or err == "streaming 1.5 / 1.5 s\n"
    assert all(line.startswith("streaming ") for line in err.splitlines())


def test_text_is_sent_as_a_typed_turn_after_the_audio_is_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "question.wav"
    write_stereo_48k(question, speech_ms=800)
    answer = tmp_path / "answer.wav"

    status = talk_with(
        "-i", str(question), "-o", str(answer), "--fast", "--text", "What time is it?"
    )

    out, err = capsys.readouterr()
    assert status == EXIT_OK, err
    assert out.splitlines()[1:5] == [
        "you: (audio from question.wav)",
        "model: You said: (audio from question.wav)",
        "you: What time is it?",
        "model: You said: What time is it?",
    ]
    # Both replies are saved.
    said = "You said: (audio from question.wav)" + "You said: What time is it?"
    assert reply_of(answer)[0] == MS_PER_CHAR * len(said)


def riff_wav(path: Path, fmt: bytes, data: bytes) -> None:
    """A WAV file from its fmt chunk and sample data, written byte by byte."""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) % 2)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def quad_extensible_16k(voice: bytes) -> tuple[bytes, bytes]:
    """What `sox q.wav -c 4 quad.wav` writes: 16-bit PCM, 4 channels, WAVE_FORMAT_EXTENSIBLE."""
    samples = array("h", voice)
    frames = array("h", bytes(8 * len(samples)))
    for channel in range(4):
        frames[channel::4] = samples
    fmt = struct.pack("<HHIIHH", 0xFFFE, 4, 16000, 16000 * 8, 8, 16)
    fmt += struct.pack("<HHIH", 22, 16, 0b1111, 1) + bytes.fromhex("000000001000800000aa00389b71")
    return fmt, frames.tobytes()


def float_32_16k(voice: bytes) -> tuple[bytes, bytes]:
    """What `sox q.wav -e floating-point -b 32 f.wav` writes: IEEE float, format 3."""
    samples = array("h", voice)
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 16000 * 4, 4, 32)
    return fmt, struct.pack(f"<{len(samples)}f", *(s / 32768 for s in samples))


@pytest.mark.parametrize("make", [quad_extensible_16k, float_32_16k], ids=["quad", "float"])
def test_the_wav_formats_sox_writes_are_said_and_answered(
    make: Callable[[bytes], tuple[bytes, bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    question = tmp_path / "q.wav"
    riff_wav(question, *make(audio.synth_voice(800, sample_rate=16000)))

    status = talk_with("--input", str(question), "--output", str(tmp_path / "a.wav"), "--fast")

    out, err = capsys.readouterr()
    assert status == EXIT_OK, err
    assert "model: You said: (audio from q.wav)" in out.splitlines()


def test_a_file_of_generated_speech_is_heard_as_its_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "q.wav"
    audio.write_wav(question, audio.speech("What time is it?"), sample_rate=16000)

    status = talk_with("--input", str(question), "--output", str(tmp_path / "a.wav"), "--fast")

    out, err = capsys.readouterr()
    assert status == EXIT_OK, err
    assert out.splitlines()[1:3] == ["you: What time is it?", "model: You said: What time is it?"]


def test_the_default_output_is_named_after_the_input_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_stereo_48k(inputs / "hello.wav", speech_ms=600)
    monkeypatch.chdir(tmp_path)

    assert talk_with("--input", str(inputs / "hello.wav"), "--fast") == EXIT_OK

    assert "saved the reply to hello-reply.wav (" in capsys.readouterr().out
    assert reply_of(tmp_path / "hello-reply.wav")[0] > 0
    assert not (inputs / "hello-reply.wav").exists()


def test_no_reply_within_the_timeout_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    silent = tmp_path / "silent.wav"
    audio.write_wav(silent, audio.silence(400), sample_rate=16000)
    answer = tmp_path / "answer.wav"

    status = talk_with("-i", str(silent), "-o", str(answer), "--fast", "--timeout", "0.3")

    out, err = capsys.readouterr()
    assert status == EXIT_FAILURE
    assert out.startswith(NOTICE)  # it did talk to the emulator, which never heard a turn
    lines = err.splitlines()
    assert lines[0] == (
        f"livehandle talk: warning: {silent} is (nearly) silent; "
        "the model may never hear a turn in it"
    )
    assert lines[-2:] == [
        "streaming 0.4 / 0.4 s",
        "livehandle talk: no reply within 0.3 s of the end of the audio "
        "(does silent.wav hold speech?)",
    ]
    assert not answer.exists()


# -- bad input: exit 2 before connecting ------------------------------------------------------


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.wav"


def _folder(tmp_path: Path) -> Path:
    return tmp_path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("these are meeting notes, not audio\n")
    return path


def _no_samples(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    audio.write_wav(path, b"", sample_rate=16000)
    return path


def _mu_law(tmp_path: Path) -> Path:
    path = tmp_path / "old.wav"
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)  # format 7 = mu-law
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", 800) + bytes(800)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_missing, "{path}: no such file"),
        (_folder, "{path}: is a directory, not a WAV file"),
        (_text, "{path}: not a WAV file (it does not start with RIFF....WAVE)"),
        (_no_samples, "{path}: the file holds no audio samples"),
        (_mu_law, "{path}: unsupported WAV format 0x0007 (mu-law); supported: " + SUPPORTED),
    ],
    ids=["missing", "directory", "not-a-wav", "no-samples", "mu-law"],
)
def test_bad_input_exits_2_with_a_one_line_reason_and_connects_nowhere(
    make: Callable[[Path], Path],
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make(tmp_path)
    # With a key set, connecting would first print "talking to Gemini ...".
    monkeypatch.setenv("GEMINI_API_KEY", KEY)

    status = talk_with("--input", str(path), "--output", str(tmp_path / "out.wav"), "--fast")

    out, err = capsys.readouterr()
    assert status == EXIT_USAGE
    assert out == ""  # no "talking to ..." line: nothing was contacted
    assert err == f"livehandle talk: {reason.format(path=path)}\n"


def test_an_output_in_a_missing_folder_or_over_the_input_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "question.wav"
    write_stereo_48k(question, speech_ms=300)
    nowhere = tmp_path / "nowhere" / "out.wav"

    assert talk_with("-i", str(question), "-o", str(nowhere), "--fast") == EXIT_USAGE
    assert talk_with("-i", str(question), "-o", str(question), "--fast") == EXIT_USAGE

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"livehandle talk: --output {nowhere}: no such directory {nowhere.parent}",
        f"livehandle talk: --output {question}: would overwrite the input",
    ]


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--input", "x.wav", "--timeout", "0"], "must be a positive number of seconds, got 0"),
        (["--input", "x.wav", "--timeout", "soon"], "not a number of seconds: 'soon'"),
        ([], "the following arguments are required: --input/-i"),
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == EXIT_USAGE
    assert complaint in capsys.readouterr().err


# -- where it connects ------------------------------------------------------------------------


def test_without_a_key_or_endpoint_the_emulator_is_chosen() -> None:
    target = talk.choose_target(None, {"HOME": "/home/someone"})
    assert target.endpoint is None
    assert target.description == "no GEMINI_API_KEY: talking to the built-in emulator"


def test_a_gemini_key_chooses_google_ai_and_is_never_shown() -> None:
    target = talk.choose_target(None, {"GEMINI_API_KEY": KEY})
    assert target.endpoint is not None
    assert target.endpoint.backend == "google_ai"
    assert target.endpoint.url.startswith("wss://generativelanguage.googleapis.com/ws/")
    assert target.endpoint.resolve().headers == (("x-goog-api-key", KEY),)
    assert target.description == "talking to Gemini (Google AI; key from GEMINI_API_KEY)"
    assert KEY not in repr(target)


def test_an_explicit_endpoint_wins_over_the_key_and_gets_no_credentials() -> None:
    url = "ws://127.0.0.1:9/live?key=shh"
    target = talk.choose_target(url, {"GEMINI_API_KEY": KEY})
    endpoint = target.endpoint
    assert endpoint == Endpoint.from_url(url)
    assert endpoint is not None
    assert endpoint.resolve().headers == ()
    assert target.description == "talking to ws://127.0.0.1:9/live?..."  # the query is elided


def test_an_endpoint_that_is_not_a_websocket_url_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "question.wav"
    write_stereo_48k(question, speech_ms=300)
    status = talk_with("-i", str(question), "--endpoint", "http://127.0.0.1:1/", "--fast")
    assert status == EXIT_USAGE
    assert capsys.readouterr().err == (
        "livehandle talk: --endpoint: endpoint URL must start with ws:// or wss://, got 'http'\n"
    )


async def test_endpoint_talks_to_that_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "question.wav"
    write_stereo_48k(question, speech_ms=700)
    answer = tmp_path / "answer.wav"
    async with LiveEmulator().running() as emulator:
        emulator.queue_transcript("hello from the test's own server")
        url = emulator.url
        args = parse("-i", str(question), "-o", str(answer), "--endpoint", url, "--fast")
        with trio.fail_after(30):  # a real socket, real time
            status = await trio.to_thread.run_sync(args.handler, args, abandon_on_cancel=True)
        assert len(emulator.connections) == 1
        inputs = emulator.connections[0].messages(m.RealtimeInput)

    out, err = capsys.readouterr()
    assert status == EXIT_OK, err
    assert out.splitlines()[:3] == [
        f"talking to {url}, model gemini-3.8-live",
        "you: hello from the test's own server",
        "model: You said: hello from the test's own server",
    ]
    assert reply_of(answer)[0] > 1000
    # The file, then a second of silence, in 20 ms chunks of 16 kHz PCM16; then audioStreamEnd.
    chunks = [message.audio.data for message in inputs if message.audio is not None]
    assert {len(chunk) for chunk in chunks} == {640}
    assert sum(map(len, chunks)) == 2 * 16 * (700 + 1000)
    assert audio.rms_dbfs(b"".join(chunks[-50:])) == -math.inf
    assert inputs[-1] == m.RealtimeInput(audio_stream_end=True)


async def test_gemini_gets_the_key_which_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Google AI path end to end, against an emulator standing in for Gemini's host."""
    question = tmp_path / "question.wav"
    write_stereo_48k(question, speech_ms=700)
    answer = tmp_path / "answer.wav"
    chosen: list[talk.Target] = []
    choose_target = talk.choose_target

    async with LiveEmulator(api_key=KEY).running() as emulator:

        def at_the_emulator(endpoint: str | None, environ: dict[str, str]) -> talk.Target:
            target = choose_target(endpoint, environ)
            chosen.append(target)
            assert target.endpoint is not None  # Google AI, rebased onto the emulator's host
            key = environ["GEMINI_API_KEY"]
            return target._replace(endpoint=Endpoint.google_ai(key, base_url=emulator.url))

        monkeypatch.setattr(talk, "choose_target", at_the_emulator)
        monkeypatch.setenv("GEMINI_API_KEY", KEY)
        args = parse("-i", str(question), "-o", str(answer), "--fast")
        with trio.fail_after(60):  # a real socket, real time
            status = await trio.to_thread.run_sync(args.handler, args, abandon_on_cancel=True)
            monkeypatch.setenv("GEMINI_API_KEY", "not-the-key")
            wrong = await trio.to_thread.run_sync(args.handler, args, abandon_on_cancel=True)

    out, err = capsys.readouterr()
    assert [target.description for target in chosen] == [
        "talking to Gemini (Google AI; key from GEMINI_API_KEY)"
    ] * 2
    assert status == EXIT_OK
    assert out.splitlines()[0] == (
        "talking to Gemini (Google AI; key from GEMINI_API_KEY), model gemini-3.8-live"
    )
    assert "model: You said: [speech 0.7 s]" in out
    # The emulator refuses a wrong key the way Gemini does: a 1007 close, one line, exit 1.
    assert wrong == EXIT_FAILURE
    assert err.splitlines()[-1] == (
        "livehandle talk: connection closed with code 1007 (invalid argument): "
        "API key not valid. Please pass a valid API key."
    )
    assert KEY not in out + err and "not-the-key" not in out + err


def test_an_unreachable_endpoint_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "question.wav"
    write_stereo_48k(question, speech_ms=300)
    url = f"ws://127.0.0.1:{free_port()}"

    status = talk_with("-i", str(question), "--endpoint", url, "--fast")

    out, err = capsys.readouterr()
    assert status == EXIT_FAILURE
    assert out == f"talking to {url}, model gemini-3.8-live\n"
    assert err.startswith("livehandle talk: ")
    assert err.count("\n") == 1 and "Traceback" not in err


# -- progress ---------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_one_line_redrawn_in_place_and_cleared_for_output() -> None:
    out, err = io.StringIO(), Terminal()
    console = talk._Console(out, err)
    console.progress(0.02, 3.0)
    console.progress(0.04, 3.0)  # still "0.0": not redrawn
    console.progress(0.1, 3.0)
    console.say("you: hi")
    console.progress(3.0, 3.0)
    console.end_progress()
    assert out.getvalue() == "you: hi\n"
    assert err.getvalue() == (
        "\rstreaming 0.0 / 3.0 s\x1b[K"
        "\rstreaming 0.1 / 3.0 s\x1b[K"
        "\r\x1b[K"  # cleared before "you: hi" went to stdout
        "\rstreaming 3.0 / 3.0 s\x1b[K"
        "\n"
    )


def test_elsewhere_progress_is_a_line_at_most_every_second_plus_the_last() -> None:
    clock = iter([10.0, 10.5, 11.0, 11.9, 12.2, 12.3])
    err = io.StringIO()
    console = talk._Console(io.StringIO(), err, now=lambda: next(clock))
    for sent in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        console.progress(sent, 3.0)
    console.end_progress()
    assert err.getvalue().splitlines() == [
        "streaming 1.5 / 3.0 s",  # at 11.0
        "streaming 2.5 / 3.0 s",  # at 12.2
        "streaming 3.0 / 3.0 s",  # the end
    ]


# -- when the reply is over -------------------------------------------------------------------


class Waiting:
    """Runs ``wait_for_speech_reply`` in the background and records when it returned."""

    def __init__(self, conversation: talk._Conversation) -> None:
        self.conversation = conversation
        self.returned_at: float | None = None

    async def run(self) -> None:
        await self.conversation.wait_for_speech_reply()
        self.returned_at = trio.current_time()

    def returned(self) -> bool:
        return self.returned_at is not None


def a_conversation() -> tuple[talk._Conversation, io.StringIO]:
    out = io.StringIO()
    return talk._Conversation(talk._Console(out, io.StringIO())), out


async def test_a_turn_the_user_interrupted_is_not_taken_for_the_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conversation, out = a_conversation()
    send, receive = trio.open_memory_channel[LiveEvent](16)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conversation.listen, receive)
        # The first utterance is being answered when the file (a second utterance) ends.
        await send.send(LiveEvent.Audio(b"\x01\x00" * 480))
        await trio.testing.wait_all_tasks_blocked()
        waiting = Waiting(conversation)
        nursery.start_soon(waiting.run)
        cut_short: list[LiveEvent] = [
            LiveEvent.Interrupted(),  # the second utterance cut the first answer short
            LiveEvent.OutputTranscript("You", is_final=True),
            LiveEvent.TurnComplete(),
        ]
        for event in cut_short:
            await send.send(event)
        await trio.testing.wait_all_tasks_blocked()
        assert not waiting.returned()
        answer: list[LiveEvent] = [
            LiveEvent.Audio(b"\x02\x00" * 480),
            LiveEvent.InputTranscript("and another thing", is_final=True),
            LiveEvent.OutputTranscript("You said: and another thing", is_final=True),
            LiveEvent.TurnComplete(),
        ]
        for event in answer:
            await send.send(event)
        await trio.testing.wait_all_tasks_blocked()
        assert waiting.returned()
        nursery.cancel_scope.cancel()
    assert out.getvalue().splitlines() == [
        "model: You [interrupted]",
        "you: and another thing",
        "model: You said: and another thing",
    ]
    assert conversation.audio == b"\x01\x00" * 480 + b"\x02\x00" * 480


async def test_a_reply_that_came_before_the_end_of_the_file_settles_for_a_moment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conversation, _ = a_conversation()
    send, receive = trio.open_memory_channel[LiveEvent](16)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conversation.listen, receive)
        for event in (LiveEvent.Audio(b"\x01\x00"), LiveEvent.TurnComplete()):
            await send.send(event)
        await trio.testing.wait_all_tasks_blocked()
        # Answered already, nothing new: done after the settling time.
        start = trio.current_time()
        await conversation.wait_for_speech_reply()
        assert trio.current_time() - start == talk.SETTLE_SECONDS
        # Answered already, but the final flush starts another turn: wait for it to finish.
        waiting = Waiting(conversation)
        start = trio.current_time()
        nursery.start_soon(waiting.run)
        await trio.sleep(talk.SETTLE_SECONDS / 2)
        await send.send(LiveEvent.Audio(b"\x02\x00"))
        await trio.sleep(talk.SETTLE_SECONDS * 2)
        assert not waiting.returned()
        await send.send(LiveEvent.TurnComplete())
        await trio.testing.wait_all_tasks_blocked()
        assert waiting.returned_at == start + talk.SETTLE_SECONDS * 2.5
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (
            SessionEnd("server", 1000),
            "the server closed the session (code 1000) before the reply was complete",
        ),
        (
            SessionEnd("server", 1011, "quota", error=ServerError(1011, "quota")),
            "connection closed with code 1011 (server error): quota",
        ),
    ],
)
async def test_the_session_ending_before_the_reply_is_a_failure(
    end: SessionEnd, reason: str
) -> None:
    conversation, _ = a_conversation()
    send, receive = trio.open_memory_channel[LiveEvent](1)
    send.send_nowait(LiveEvent.Disconnected(end))
    with pytest.raises((talk.TalkFailed, ServerError)) as raised:
        await conversation.listen(receive)
    assert str(raised.value) == reason
