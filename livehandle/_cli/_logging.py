"""The logging options every subcommand has, and the logging setup they choose.

``add_logging_options`` gives a subcommand ``-v/--verbose`` (repeatable: ``-v`` INFO, ``-vv``
DEBUG) and ``--log-level LEVEL``; ``build_parser`` adds them to every registered subcommand, so a
new one has them without asking, and to the top-level parser too (``livehandle -v demo``).  The
top-level ones keep their own destinations: argparse would otherwise overwrite them with the
subcommand's defaults.  ``-v`` counts add up wherever they are given; a subcommand's
``--log-level`` wins over one given before the command.  A subcommand whose log is its output
(the emulator) raises its default with ``parser.set_defaults(log_default="INFO")``.

``configured_logging`` applies the choice for the duration of a command: one handler on the root
logger writing to stderr (``FORMAT``, with the session and connection ids of livehandle's records),
the root logger at the chosen level.  It restores the previous level and handlers afterwards, so
``main`` can be called from tests and scripts without leaving its setup behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "DEFAULT_LEVEL",
    "FORMAT",
    "LEVELS",
    "IdsFormatter",
    "add_logging_options",
    "configured_logging",
    "level_of",
]

#: The level a command logs at unless it sets ``log_default`` or is given -v / --log-level.
DEFAULT_LEVEL = "WARNING"
#: The names ``--log-level`` takes.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The line format; ``%(ids)s`` is `` [session=… connection=…]`` for records that have ids.
FORMAT = "%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s"


def add_logging_options(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """Give ``parser`` the ``-v/--verbose`` and ``--log-level`` options (once: again is a no-op).

    ``top_level``: the options of the parser that holds the subcommands, stored apart
    (``top_verbose``, ``top_log_level``) so that a subcommand's defaults cannot overwrite them.
    """
    if "--log-level" in parser._option_string_actions:
        return
    prefix = "top_" if top_level else ""
    group = parser.add_argument_group("logging")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        dest=f"{prefix}verbose",
        help="log more on stderr: -v INFO, -vv DEBUG",
    )
    group.add_argument(
        "--log-level",
        type=_level_name,
        metavar="LEVEL",
        dest=f"{prefix}log_level",
        help=f"log at this level on stderr ({', '.join(LEVELS)}); overrides -v",
    )


def level_of(args: argparse.Namespace) -> int:
    """The level the parsed options ask for.

    ``--log-level`` wins (the subcommand's over one before it); else each ``-v`` (before or
    after the command) goes one step down from the command's default (WARNING, or INFO for a
    command whose log is its output), never below DEBUG.
    """
    explicit: str | None = getattr(args, "log_level", None) or getattr(args, "top_log_level", None)
    if explicit is not None:
        return logging.getLevelNamesMapping()[explicit]
    default: str = getattr(args, "log_default", DEFAULT_LEVEL)
    level = logging.getLevelNamesMapping()[default]
    verbose: int = (getattr(args, "verbose", 0) or 0) + (getattr(args, "top_verbose", 0) or 0)
    if verbose >= 2:
        return min(level, logging.DEBUG)
    if verbose == 1:
        return min(level, logging.INFO)
    return level


class IdsFormatter(logging.Formatter):
    """Formats ``FORMAT``: ``%(ids)s`` names the session and connection when known.

    Records without ids (other libraries', and livehandle's outside any session) get an empty
    ``%(ids)s``; a record with one id shows ``-`` for the other.
    """

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        if "session_id" in fields or "connection_id" in fields:
            session = fields.get("session_id")
            connection = fields.get("connection_id")
            if session is None and connection is None:
                record.ids = ""
            else:
                shown = "-" if session is None else session
                number = "-" if connection is None else connection
                record.ids = f" [session={shown} connection={number}]"
        else:
            record.ids = ""
        return super().format(record)


@contextmanager
def configured_logging(args: argparse.Namespace) -> Iterator[logging.Handler]:
    """Log to stderr at the level ``args`` asks for, for the block; then restore the setup."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(IdsFormatter())
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level_of(args))
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.flush()


def _level_name(text: str) -> str:
    name = text.upper()
    if name not in LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown log level {text!r}; choose one of {', '.join(LEVELS)}"
        )
    return name
