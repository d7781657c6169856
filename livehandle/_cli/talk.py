"""``python -m livehandle talk``: say a WAV file to a Live model and save what it says back.

::

    python -m livehandle talk --input question.wav [--output answer.wav] [--text "..."] [--fast]

The input (any sample rate and channel count; integer PCM or float, see ``read_wav``) is
converted to 16 kHz mono and streamed in 20 ms chunks at real-time pace (``--fast``: as fast as
possible), followed by a second of silence and ``audioStreamEnd`` so that server voice activity
detection ends the user's turn.
The file is meant to hold one utterance: the command waits for the model's reply to it, then (with
``--text``) sends the text as a typed turn and waits for the reply to that too.  Transcripts are
printed as ``you: ...`` / ``model: ...``; all of the model's audio is saved as a 24 kHz mono WAV.

Where it connects: ``--endpoint URL`` if given (no API key is sent there); else Gemini (Google AI)
with ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``); else an emulator started in-process, which it
says on its first line.  The key itself is never printed.

Output: notices, transcripts and where the reply went on stdout; progress while streaming on
stderr (one updating line on a terminal, otherwise at most a line a second).  Exit statuses: 0
success; 2 bad input or arguments (missing file, not a readable WAV, no samples), checked
before connecting; 1 a failure while talking (cannot connect, the session ended, no reply within
``--timeout``).  Both failures print one line ``livehandle talk: <reason>`` on stderr.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from livehandle._cli._exit import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, find_exception
from livehandle._cli._options import add_endpoint_option, seconds

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterable, Callable, Mapping

    from livehandle._config.live import LiveConfig
    from livehandle._events import LiveEvent
    from livehandle._handle import LiveHandle
    from livehandle._transport.endpoints import Endpoint

__all__ = ["Target", "add_parser", "choose_target", "load_input", "run"]

PROG = "livehandle talk"
INPUT_RATE = 16000  # what the Live API takes from the microphone
OUTPUT_RATE = 24000  # what the Live API speaks
CHUNK_MS = 20  # each send_audio call carries this much audio
TAIL_MS = 1000  # silence after the file, so server VAD hears the end of the turn
SETTLE_SECONDS = 1.0  # see _Conversation.wait_for_speech_reply
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")  # the order Endpoint.from_env reads them


class BadInput(Exception):
    """The input file cannot be used; the message is the one-line reason."""


class TalkFailed(Exception):
    """Talking went wrong after connecting; the message is the one-line reason."""


class Target(NamedTuple):
    """Where to talk to: ``endpoint`` None means "start the built-in emulator".

    ``description`` is safe to print: it never contains a key or a URL's query string.
    """

    endpoint: Endpoint | None
    description: str


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register the ``talk`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "talk",
        help="say a WAV file to a Live model and save its spoken reply",
        description=(
            "Stream a WAV file to a Gemini Live model as microphone audio (converted to 16 kHz "
            "mono), print the transcripts and save the model's spoken reply as a 24 kHz WAV.  "
            "Talks to Gemini when GEMINI_API_KEY (or GOOGLE_API_KEY) is set, else to the built-in "
            "emulator, which cannot transcribe: it hears a turn and calls it '(audio from IN.wav)'."
        ),
        epilog=(
            "Exit status: 0 the reply was saved; 1 no reply, or the connection or session failed; "
            "2 bad arguments or input (checked before connecting)."
        ),
    )
    parser.add_argument(
        "--input",
        "-i",
        metavar="IN.wav",
        required=True,
        help=(
            "WAV file to say (integer PCM or float), any sample rate and channel count "
            "(one utterance)"
        ),
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="OUT.wav",
        help="where to save the reply audio (default: IN-reply.wav in the current directory)",
    )
    parser.add_argument(
        "--text",
        metavar="TEXT",
        help="also send TEXT as a typed turn after the audio has been answered, and wait for "
        "the reply to it",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="stream the audio as fast as possible instead of in real time (the built-in "
        "emulator then answers without real-time pacing too)",
    )
    add_endpoint_option(parser)
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=seconds,
        default=60.0,
        help="give up when a reply has not finished this long after the audio or text was "
        "sent (default: %(default)g)",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate the input, talk, save the reply; return the exit status."""
    from livehandle._config.live import LiveConfig

    try:
        pcm = load_input(args.input)
        output = _output_path(args.input, args.output)
        target = choose_target(args.endpoint, os.environ)
        config = LiveConfig()  # AUDIO out, both transcriptions on; GEMINI_MODEL may be invalid
    except (BadInput, ValueError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    if args.text is not None and not args.text.strip():
        _error("--text is empty")
        return EXIT_USAGE

    import trio

    from livehandle._errors import SessionError
    from livehandle.testing import audio

    if audio.rms_dbfs(pcm) < -60:
        _warn(f"{args.input} is (nearly) silent; the model may never hear a turn in it")
    console = _Console(sys.stdout, sys.stderr)
    plan = _Plan(
        pcm=pcm,
        name=os.path.basename(args.input),
        text=args.text,
        fast=args.fast,
        timeout=args.timeout,
        target=target,
        config=config,
    )
    try:
        reply, missed = trio.run(_talk, plan, console)
    except BaseException as exc:  # trio wraps task errors in exception groups
        console.end_progress()
        if find_exception(exc, KeyboardInterrupt) is not None:
            _error("interrupted")
            return EXIT_FAILURE
        failure = find_exception(exc, TalkFailed) or find_exception(exc, SessionError)
        if failure is None:
            raise
        _error(str(failure) or type(failure).__name__)
        return EXIT_FAILURE
    if missed:
        _warn(f"{missed} event(s) arrived faster than they were read; the reply may have gaps")
    if not reply:
        _error("the model's reply had no audio")
        return EXIT_FAILURE
    try:
        audio.write_wav(output, reply, sample_rate=OUTPUT_RATE)
    except OSError as exc:
        _error(f"cannot write {output}: {exc.strerror or exc}")
        return EXIT_FAILURE
    seconds = audio.duration_ms(reply, sample_rate=OUTPUT_RATE) / 1000
    console.say(f"saved the reply to {output} ({seconds:.1f} s, {OUTPUT_RATE // 1000} kHz mono)")
    return EXIT_OK


# -- checks before connecting -----------------------------------------------------------------


def load_input(path: str) -> bytes:
    """Read a WAV file and convert it to 16 kHz mono PCM16.

    Raises:
        BadInput: the file is missing, unreadable, not a WAV file read_wav reads, or holds no
            audio.
    """
    from livehandle.testing import audio

    if os.path.isdir(path):
        raise BadInput(f"{path}: is a directory, not a WAV file")
    if not os.path.exists(path):
        raise BadInput(f"{path}: no such file")
    try:
        data, sample_rate, channels = audio.read_wav(path)
        pcm = audio.to_mono_16k(data, sample_rate, channels, target_rate=INPUT_RATE)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # read_wav names the file; to_mono_16k (e.g. rate 0) does not
        reason = str(exc)
        raise BadInput(reason if path in reason else f"{path}: {reason}") from None
    if not pcm:
        raise BadInput(f"{path}: the file holds no audio samples")
    return pcm


def choose_target(endpoint: str | None, environ: Mapping[str, str]) -> Target:
    """Pick where to talk: ``endpoint``, else Gemini with a key from ``environ``, else emulator.

    Raises:
        ValueError: ``endpoint`` is not a ws:// or wss:// URL.
    """
    from livehandle._transport.endpoints import Endpoint

    if endpoint is not None:
        try:
            chosen = Endpoint.from_url(endpoint)
        except ValueError as exc:
            raise ValueError(f"--endpoint: {exc}") from None
        return Target(chosen, f"talking to {_shown_url(endpoint)}")
    for name in KEY_VARIABLES:
        key = environ.get(name)
        if key:
            return Target(
                Endpoint.google_ai(key), f"talking to Gemini (Google AI; key from {name})"
            )
    return Target(None, "no GEMINI_API_KEY: talking to the built-in emulator")


def _output_path(input_path: str, output: str | None) -> str:
    if output is None:
        stem = os.path.splitext(os.path.basename(input_path))[0]
        output = f"{stem}-reply.wav"
    if os.path.isdir(output):
        raise BadInput(f"--output {output}: is a directory")
    folder = os.path.dirname(output) or "."
    if not os.path.isdir(folder):
        raise BadInput(f"--output {output}: no such directory {folder}")
    if os.path.exists(output) and os.path.samefile(output, input_path):
        raise BadInput(f"--output {output}: would overwrite the input")
    return output


def _shown_url(url: str) -> str:
    """``url`` without credentials: no user info, and the query (``?key=...``) elided."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    shown = urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
    return shown + ("?..." if parts.query else "")


# -- talking ----------------------------------------------------------------------------------


class _Plan(NamedTuple):
    pcm: bytes  # 16 kHz mono PCM16
    name: str  # the input's file name, for the emulator's transcript
    text: str | None
    fast: bool
    timeout: float
    target: Target
    config: LiveConfig


async def _talk(plan: _Plan, console: _Console) -> tuple[bytes, int]:
    """Connect, converse, disconnect; return the model's audio and how many events were missed."""
    from livehandle._open import open_live_session
    from livehandle._transport.endpoints import Endpoint

    if plan.target.endpoint is not None:
        console.say(f"{plan.target.description}, model {plan.config.model}")
        async with open_live_session(plan.config, endpoint=plan.target.endpoint) as handle:
            return await _converse(handle, plan, console)

    from livehandle.testing._emulator import LiveEmulator

    async with LiveEmulator(realtime=not plan.fast).running() as emulator:
        emulator.queue_transcript(f"(audio from {plan.name})")  # it cannot transcribe speech
        console.say(f"{plan.target.description} ({emulator.url}), not to Gemini")
        endpoint = Endpoint.from_url(emulator.url)
        async with open_live_session(plan.config, endpoint=endpoint) as handle:
            return await _converse(handle, plan, console)


async def _converse(handle: LiveHandle, plan: _Plan, console: _Console) -> tuple[bytes, int]:
    import trio

    conversation = _Conversation(console)
    with handle.stream() as events:  # subscribed before anything is sent: nothing is missed
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conversation.listen, events)
            await _stream_audio(handle, plan.pcm, fast=plan.fast, console=console)
            with trio.move_on_after(plan.timeout) as waiting:
                await conversation.wait_for_speech_reply()
            if waiting.cancelled_caught:
                raise TalkFailed(
                    f"no reply within {plan.timeout:g} s of the end of the audio "
                    f"(does {plan.name} hold speech?)"
                )
            if plan.text is not None:
                replies = conversation.replies
                await handle.send_text(plan.text)
                with trio.move_on_after(plan.timeout) as waiting:
                    await conversation.wait_until(lambda: conversation.replies > replies)
                if waiting.cancelled_caught:
                    raise TalkFailed(f"no reply to --text within {plan.timeout:g} s")
            nursery.cancel_scope.cancel()
        return bytes(conversation.audio), events.total_missed


async def _stream_audio(handle: LiveHandle, pcm: bytes, *, fast: bool, console: _Console) -> None:
    """Send ``pcm`` then a silent tail in 20 ms chunks, paced in real time unless ``fast``."""
    import trio

    from livehandle.testing import audio

    total = audio.duration_ms(pcm, sample_rate=INPUT_RATE) / 1000
    chunks = audio.chunked(pcm, CHUNK_MS, sample_rate=INPUT_RATE)
    silence = audio.silence(TAIL_MS, sample_rate=INPUT_RATE)
    tail = audio.chunked(silence, CHUNK_MS, sample_rate=INPUT_RATE)
    start = trio.current_time()
    sent = 0.0
    for index, chunk in enumerate(chunks + tail):
        await handle.send_audio(chunk)
        sent += len(chunk) / 2 / INPUT_RATE
        if index < len(chunks):
            console.progress(sent, total)
            if index == len(chunks) - 1:
                console.end_progress()
        if not fast:
            await trio.sleep_until(start + sent)
    await handle.writer().send_audio_stream_end()  # flush: end a turn still open on the server


class _Conversation:
    """Reads the session's events: collects model audio, prints transcripts, counts replies."""

    def __init__(self, console: _Console) -> None:
        import trio

        self.console = console
        self.audio = bytearray()
        self.replies = 0  # turns the model finished without being interrupted
        self.activity = 0  # events that show a turn under way (user speech or model output)
        self.busy = False  # a turn is under way: activity since the last reply
        self._interrupted = False  # the user barged in on the current turn
        self._changed = trio.Event()

    async def listen(self, events: AsyncIterable[LiveEvent]) -> None:
        from livehandle._events import LiveEvent

        async for event in events:
            match event:
                case LiveEvent.Audio(data=data):
                    self.audio += data
                    self._active()
                case LiveEvent.InputTranscript(text=text, is_final=True):
                    self.console.say(f"you: {text}")
                case LiveEvent.OutputTranscript(text=text, is_final=True):
                    cut = " [interrupted]" if self._interrupted else ""
                    self.console.say(f"model: {text}{cut}")
                case (
                    LiveEvent.InputTranscript()
                    | LiveEvent.OutputTranscript()
                    | LiveEvent.TextDelta()
                    | LiveEvent.VadStart()
                ):
                    self._active()
                case LiveEvent.Interrupted():
                    self._interrupted = True  # speech followed the audio the model answered
                    self._active()
                case LiveEvent.TurnComplete():
                    # An interrupted turn is no reply: the speech that cut it off gets its own.
                    if self._interrupted:
                        self._interrupted = False
                    else:
                        self.replies += 1
                        self.busy = False
                    self._notify()
                case LiveEvent.Disconnected(end=end):
                    if end.error is not None:
                        raise end.error
                    raise TalkFailed(
                        f"the server closed the session (code {end.code}"
                        + (f": {end.reason}" if end.reason else "")
                        + ") before the reply was complete"
                    )

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

    async def wait_for_speech_reply(self) -> None:
        """Wait, after the audio was sent, until the model has answered it.

        Normally the reply is still to come (or under way): wait for the next reply (a
        TurnComplete of a turn the user did not interrupt).  When the server already answered
        while the file was streaming (it ended in a long silence), wait ``SETTLE_SECONDS`` for a
        turn that the final flush might still start.
        """
        import trio

        replies, activity = self.replies, self.activity
        if replies and not self.busy:
            with trio.move_on_after(SETTLE_SECONDS):
                await self.wait_until(lambda: self.activity > activity)
            if self.activity == activity:
                return
        await self.wait_until(lambda: self.replies > replies)

    def _active(self) -> None:
        self.activity += 1
        self.busy = True
        self._notify()

    def _notify(self) -> None:
        import trio

        self._changed.set()
        self._changed = trio.Event()


# -- output -----------------------------------------------------------------------------------


class _Console:
    """Lines on stdout and a progress line on stderr that never garble each other.

    On a terminal the progress line is redrawn in place (carriage return) and cleared before any
    other output; elsewhere (a pipe, a log file, tests) a progress line is printed at most once a
    second of wall-clock time, plus a final one.
    """

    def __init__(self, out: TextIO, err: TextIO, *, now: Callable[[], float] | None = None) -> None:
        import time

        self.out = out
        self.err = err
        self.tty = err.isatty()
        self._now = now or time.monotonic
        self._shown = ""  # the progress text on screen (terminal only)
        self._last_line: float | None = None  # when the last progress line was (or began)
        self._pending = ""  # the newest progress text not printed yet (not a terminal)

    def say(self, line: str) -> None:
        self._clear()
        print(line, file=self.out, flush=True)

    def progress(self, sent: float, total: float) -> None:
        text = f"streaming {sent:.1f} / {total:.1f} s"
        if self.tty:
            if text != self._shown:
                self.err.write(f"\r{text}\x1b[K")
                self.err.flush()
                self._shown = text
            return
        now = self._now()
        if self._last_line is None:
            self._last_line = now  # the first line comes after a second, or at the end
        if now - self._last_line >= 1.0:
            print(text, file=self.err, flush=True)
            self._last_line = now
            self._pending = ""
        else:
            self._pending = text

    def end_progress(self) -> None:
        """Leave the final progress state on its own line."""
        if self._shown:
            self.err.write("\n")
            self.err.flush()
            self._shown = ""
        elif self._pending:
            print(self._pending, file=self.err, flush=True)
            self._pending = ""

    def _clear(self) -> None:
        if self._shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._shown = ""


def _warn(reason: str) -> None:
    print(f"{PROG}: warning: {' '.join(reason.split())}", file=sys.stderr, flush=True)


def _error(reason: str) -> None:
    """Print ``reason`` as a single line on stderr."""
    print(f"{PROG}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
