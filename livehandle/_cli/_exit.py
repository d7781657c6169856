"""The command line's exit statuses (shared by every subcommand)."""

from __future__ import annotations

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE"]

#: Success, including a clean stop with Ctrl-C.
EXIT_OK = 0
#: A runtime failure (e.g. the port is in use).
EXIT_FAILURE = 1
#: A usage error: bad arguments, an invalid scenario file, no subcommand.
EXIT_USAGE = 2
