"""The ``python -m livehandle`` command line.

One module per subcommand; each provides ``add_parser(subparsers)``, which registers the
subcommand's arguments and sets ``handler`` to a function taking the parsed arguments and returning
the exit status.  Every subcommand gets ``-v/--verbose`` and ``--log-level`` from
:func:`build_parser` (see ``_cli/_logging.py``), which takes them before the subcommand's name
too, and :func:`main` sets logging up accordingly around the handler.  :func:`main` parses,
dispatches and returns that status, so it can also be called from tests and scripts without a
new process.  Subcommand modules import their own
dependencies inside the handler, so one subcommand's imports never slow down (or break) the others.

Exit statuses: 0 success (including a clean stop with Ctrl-C), 1 a runtime failure (e.g. the port
is in use), 2 a usage error (bad arguments, an invalid scenario file, no subcommand).
"""

from __future__ import annotations

import argparse
import sys

from livehandle._cli._exit import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from livehandle._cli._logging import add_logging_options, configured_logging
from livehandle._version import __version__

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def build_parser(prog: str = "python -m livehandle") -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="livehandle command-line tools.",
    )
    parser.add_argument("--version", action="version", version=f"livehandle {__version__}")
    add_logging_options(parser, top_level=True)  # ``livehandle -v demo`` as well as ``demo -v``
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    from livehandle._cli import console, demo, emulator, talk

    console.add_parser(subparsers)
    demo.add_parser(subparsers)
    emulator.add_parser(subparsers)
    talk.add_parser(subparsers)
    for subparser in dict.fromkeys(subparsers.choices.values()):  # aliases share a parser
        add_logging_options(subparser)
    return parser


def main(argv: list[str] | None = None, *, prog: str = "python -m livehandle") -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    ``prog`` is how usage and help name the command (``livehandle`` for the console script).
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return _status(exc.code)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    with configured_logging(args):
        status: int = handler(args)
    return status


def _status(code: str | int | None) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE
