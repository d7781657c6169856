"""``python -m livehandle emulator``: serve the Live API emulator until interrupted.

As soon as it listens it prints one line with its URL (flushed, so a parent process can read it)::

    livehandle emulator listening on ws://127.0.0.1:8765 (echo assistant; Ctrl-C to stop)

With ``--tls`` it serves ``wss://`` (which google-genai always uses) with a certificate signed by
a certificate authority made for this run; after the URL line it prints where that authority's
certificate was written and the environment that makes a client trust it (``SSL_CERT_FILE``...).

Ctrl-C (SIGINT) or SIGTERM stops it with status 0.  An unreadable or invalid scenario file exits
with status 2, an address that cannot be listened on (e.g. the port is in use) with status 1; both
print a one-line reason on stderr.  ``--tls`` without ``trustme`` installed, or a CA file that
cannot be written, exits with status 1 and one line saying how to fix it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livehandle._cli._exit import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from livehandle.testing._emulator import LiveEmulator

__all__ = ["add_parser", "run"]

PROG = "livehandle emulator"


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register the ``emulator`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="serve the Gemini Live emulator on a local WebSocket",
        description=(
            "Serve the Gemini Live emulator until interrupted.  It prints one line with its URL "
            "as soon as it listens; point any Live API client at that URL."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8765,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--scenario",
        metavar="FILE",
        help="JSON scenario file scripting the model (default: an echo assistant)",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="pace model audio in real time instead of sending it as fast as possible",
    )
    parser.add_argument(
        "--text-frames",
        action="store_true",
        help="send server messages in text frames (default: binary frames, as Gemini does)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="require this API key (x-goog-api-key header or ?key=); default: accept any",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a certificate from a certificate authority made for this run, "
        "and print how to trust it (needs: pip install 'livehandle[tls]')",
    )
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        type=Path,
        help="with --tls, write the authority's certificate (PEM) to FILE (default: a new "
        "temporary directory, removed when the emulator stops)",
    )
    # Its log (a line per connection and per turn) is its output: shown unless asked not to.
    parser.set_defaults(handler=run, log_default="INFO")
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    from livehandle.testing._emulator import LiveEmulator
    from livehandle.testing._scenario import Scenario

    scenario = None
    if args.scenario is not None:
        try:
            scenario = Scenario.load(args.scenario)
        except ValueError as exc:  # names the file and says what is wrong: see Scenario.load
            _error(str(exc))
            return EXIT_USAGE
    if args.ca_file is not None and not args.tls:
        _error("--ca-file is only used with --tls")
        return EXIT_USAGE
    what = "echo assistant" if scenario is None else f"scenario {args.scenario}"
    if args.api_key is not None:
        what += ", API key required"

    import trio

    with contextlib.ExitStack() as cleanup:
        ssl_context = None
        ca_file: Path | None = None
        if args.tls:
            from livehandle._cli import _tls

            if args.ca_file is None:
                folder = tempfile.TemporaryDirectory(prefix="livehandle-emulator-")
                ca_file = Path(cleanup.enter_context(folder)) / "ca.pem"
            else:
                ca_file = args.ca_file
            try:
                ssl_context = _tls.server_context(args.host, ca_file)
            except _tls.TlsUnavailable as exc:
                _error(str(exc))
                return EXIT_FAILURE
            except OSError as exc:
                _error(f"cannot write the CA certificate to {ca_file}: {exc.strerror or exc}")
                return EXIT_FAILURE
        emulator = LiveEmulator(
            scenario,
            host=args.host,
            port=args.port,
            ssl_context=ssl_context,
            api_key=args.api_key,
            binary_frames=not args.text_frames,
            realtime=args.realtime,
        )
        try:
            return trio.run(_serve, emulator, what, ca_file)
        except KeyboardInterrupt:  # Ctrl-C before the signal handler was installed
            return EXIT_OK


async def _serve(emulator: LiveEmulator, what: str, ca_file: Path | None) -> int:
    import trio

    # Installed before listening: once the URL line is out, a signal always stops cleanly.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(emulator.serve)
            except OSError as exc:
                _error(f"cannot listen on {_address(emulator)}: {exc.strerror or exc}")
                return EXIT_FAILURE
            print(f"{PROG} listening on {emulator.url} ({what}; Ctrl-C to stop)", flush=True)
            if ca_file is not None:
                from livehandle._cli._tls import trust_instructions

                key_required = emulator.api_key is not None
                lines = trust_instructions(emulator.url, ca_file, key_required=key_required)
                print("\n".join(lines), flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()
    return EXIT_OK


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {port}")
    return port


def _address(emulator: LiveEmulator) -> str:
    host = f"[{emulator.host}]" if ":" in emulator.host else emulator.host
    return f"{host}:{emulator.port}"


def _error(reason: str) -> None:
    """Print ``reason`` as a single line on stderr."""
    print(f"{PROG}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
