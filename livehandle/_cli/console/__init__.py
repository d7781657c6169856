"""``livehandle console``: talk to a bot through the microphone and speaker, and watch it.

::

    python -m livehandle console [--text] [--device list | --device IN[,OUT]] [--endpoint URL]

A live voice conversation through the system's audio devices (``sounddevice``, the optional
extra ``livehandle[console]``), or with ``--text`` a text chat on stdin with no audio devices.
It shows who is speaking, the microphone's level, the transcripts as they stream, tool calls
and their results, barge-ins (playback is flushed) and each turn's latency; Ctrl-C (or the end
of input with ``--text``) ends it with a summary and exit status 0.

Where it connects, as ``talk`` does: ``--endpoint URL`` if given; else Gemini with
``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``); else the built-in emulator, started in-process.
Exit statuses: 0 a clean end; 1 the audio devices cannot be used (one line says how to install
them) or the session failed; 2 bad arguments.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from livehandle._cli._exit import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, find_exception
from livehandle._cli._options import add_endpoint_option, seconds

if TYPE_CHECKING:
    import argparse

    from livehandle._cli.console.devices import AudioBackend, DeviceInfo
    from livehandle._cli.console.loop import Stats
    from livehandle._cli.console.repl import LineReader
    from livehandle._cli.console.view import View
    from livehandle._cli.talk import Target
    from livehandle._events import SessionEnd

__all__ = ["add_parser", "make_backend", "run"]

PROG = "livehandle console"


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register the ``console`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "console",
        help="talk to a Live model through the microphone and speaker (or type, with --text)",
        description=(
            "A live conversation through the microphone and speaker: shows who speaks, the "
            "input level, transcripts, tool calls, barge-ins and latency per turn.  Talks to "
            "Gemini when GEMINI_API_KEY (or GOOGLE_API_KEY) is set, else to the built-in "
            "emulator (which hears speech but cannot understand it).  Ctrl-C ends it with a "
            "summary.  Audio needs the extra: pip install 'livehandle[console]'."
        ),
        epilog="Exit status: 0 ended cleanly; 1 no usable audio devices, or the session failed; "
        "2 bad arguments.",
    )
    parser.add_argument(
        "--text",
        action="store_true",
        help="chat by typing instead: lines from stdin, the model's answers printed; no audio "
        "devices (end with Ctrl-D)",
    )
    parser.add_argument(
        "--device",
        metavar="list|IN[,OUT]",
        help="'list' prints the audio devices; otherwise the microphone and speaker to use, "
        "each an index or a piece of a name (one for both; an empty part keeps the default)",
    )
    add_endpoint_option(parser)
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=seconds,
        default=30.0,
        help="how long to wait for a reply (--text), or for the last one at the end "
        "(default: %(default)g)",
    )
    parser.set_defaults(handler=run)
    return parser


def make_backend() -> AudioBackend:
    """The system's audio devices (raises DevicesUnavailable when they cannot be used)."""
    from livehandle._cli.console.sd_backend import SoundDeviceBackend

    return SoundDeviceBackend()


def run(args: argparse.Namespace) -> int:
    """Run the console; return the exit status."""
    from livehandle._cli.console.devices import DevicesUnavailable, format_devices, pick_devices
    from livehandle._cli.console.loop import Stats
    from livehandle._cli.console.view import View
    from livehandle._cli.talk import choose_target

    try:
        target = choose_target(args.endpoint, os.environ)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.text and args.device is not None:
        return _fail("--device has no use with --text (no audio devices)", EXIT_USAGE)
    backend: AudioBackend | None = None
    devices: tuple[DeviceInfo | None, DeviceInfo | None] = (None, None)
    if not args.text:
        try:
            backend = make_backend()
            if args.device == "list":
                for line in format_devices(backend.devices()):
                    print(line, flush=True)
                return EXIT_OK
            if args.device is not None:
                devices = pick_devices(backend.devices(), args.device)
        except DevicesUnavailable as exc:
            return _fail(str(exc), EXIT_FAILURE)
        except ValueError as exc:
            return _fail(str(exc), EXIT_USAGE)
    view = View(sys.stdout)
    stats = Stats()
    reader = None if backend is not None else _stdin_reader()
    return _run_session(target, backend, devices, reader, view, stats, args.timeout)


def _run_session(
    target: Target,
    backend: AudioBackend | None,
    devices: tuple[DeviceInfo | None, DeviceInfo | None],
    reader: LineReader | None,
    view: View,
    stats: Stats,
    timeout: float,
) -> int:
    """``trio.run`` the conversation; the summary and exit status however it ends."""
    import trio

    from livehandle._cli.console.devices import DevicesUnavailable
    from livehandle._errors import SessionError

    status = EXIT_OK
    try:
        end = trio.run(_session, target, backend, devices, reader, view, stats, timeout)
    except BaseException as exc:  # trio wraps task errors in exception groups
        view.close()
        failure = find_exception(exc, DevicesUnavailable) or find_exception(exc, SessionError)
        if failure is not None:
            status = _fail(str(failure) or type(failure).__name__, EXIT_FAILURE)
        elif find_exception(exc, KeyboardInterrupt) is None:
            status = _fail(f"unexpected error: {type(exc).__name__}: {exc}", EXIT_FAILURE)
    else:
        view.close()
        if end is not None and end.error is not None:
            status = _fail(f"the session ended: {end.error}", EXIT_FAILURE)
        elif end is not None:
            print(f"-- the server ended the session (code {end.code})", flush=True)
    print(stats.summary(), flush=True)
    return status


async def _session(
    target: Target,
    backend: AudioBackend | None,
    devices: tuple[DeviceInfo | None, DeviceInfo | None],
    reader: LineReader | None,
    view: View,
    stats: Stats,
    reply_timeout: float,
) -> SessionEnd | None:
    from livehandle._cli.console.loop import converse
    from livehandle._cli.console.model import console_config
    from livehandle._cli.console.repl import chat
    from livehandle._open import open_live_session
    from livehandle._transport.endpoints import Endpoint

    config = console_config()
    mode = "type a line and press Enter, Ctrl-D to end" if reader else "speak; Ctrl-C to end"
    async with _maybe_emulator(target, realtime=reader is None) as emulator:
        if emulator is None:
            assert target.endpoint is not None
            endpoint = target.endpoint
            view.line(f"{PROG}: {target.description}, model {config.model}")
        else:
            endpoint = Endpoint.from_url(emulator.url)
            view.line(f"{PROG}: {target.description} ({emulator.url})")
        async with open_live_session(config, endpoint=endpoint) as handle:
            view.line(f"-- connected ({mode})")
            if reader is not None:
                return await chat(
                    handle,
                    reader,
                    view,
                    stats,
                    prompt=sys.stdin.isatty(),
                    reply_timeout=reply_timeout,
                )
            assert backend is not None
            async with backend.open(*devices) as (microphone, speaker):
                return await converse(
                    handle, microphone, speaker, view, stats, reply_timeout=reply_timeout
                )


def _maybe_emulator(target: Target, *, realtime: bool) -> Any:
    """The built-in emulator serving for an ``async with`` block, or None when not wanted."""
    from contextlib import asynccontextmanager

    from livehandle._cli.console.model import console_scenario
    from livehandle.testing._emulator import LiveEmulator

    @asynccontextmanager
    async def serving() -> Any:
        if target.endpoint is not None:
            yield None
            return
        async with LiveEmulator(console_scenario(), realtime=realtime).running() as emulator:
            yield emulator

    return serving()


def _stdin_reader() -> LineReader:
    from livehandle._cli.console.repl import stdin_lines

    return stdin_lines()


def _fail(reason: str, status: int) -> int:
    print(f"{PROG}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
    return status
