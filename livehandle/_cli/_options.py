"""Options more than one subcommand takes, defined once: ``--endpoint`` and a seconds value."""

from __future__ import annotations

import argparse

__all__ = ["add_endpoint_option", "seconds"]


def add_endpoint_option(parser: argparse.ArgumentParser) -> None:
    """``--endpoint URL``: a Live API URL to talk to instead of Gemini or the built-in emulator."""
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="a ws:// or wss:// Live API URL to talk to instead (no API key is sent to it)",
    )


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value
