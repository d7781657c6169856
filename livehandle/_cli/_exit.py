"""The command line's exit statuses and why a command failed (shared by every subcommand)."""

from __future__ import annotations

from typing import Any

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "find_exception"]

#: Success, including a clean stop with Ctrl-C.
EXIT_OK = 0
#: A runtime failure (e.g. the port is in use).
EXIT_FAILURE = 1
#: A usage error: bad arguments, an invalid scenario file, no subcommand.
EXIT_USAGE = 2


def find_exception(exc: BaseException, kind: type[BaseException]) -> Any:
    """The first ``kind`` in ``exc``, looking inside exception groups; None if there is none."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_exception(inner, kind)
            if found is not None:
                return found
    return None
