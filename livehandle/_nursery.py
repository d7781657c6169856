"""The nursery shape every ``open_*`` context manager of livehandle shares.

Trio nurseries always wrap errors in an ExceptionGroup.  At our public boundary that would hand the
user a group of internals for an exception they raised themselves.  :func:`open_owned_nursery`
keeps the body's exception separate: it is re-raised unchanged after the session's cleanup ran and
every task finished.  Failures of the session's own tasks (which are designed not to fail) become
one :class:`~livehandle.errors.SessionTaskFailed` chained to the group.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from livehandle.errors import SessionTaskFailed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["open_owned_nursery"]


@asynccontextmanager
async def open_owned_nursery(
    close: Callable[[], Awaitable[object]], what: str
) -> AsyncIterator[trio.Nursery]:
    """A nursery whose body errors come out unwrapped; ``close()`` always runs before it ends.

    ``close`` must be bounded and shielded (the sessions' ``close``/``disconnect`` are); the
    nursery is cancelled right after it, so nothing outlives the ``async with`` block.
    """
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            except BaseException as exc:  # re-raised below, outside the nursery, unwrapped
                body_error = exc
            finally:
                await close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        _, rest = group.split(trio.Cancelled)
        if rest is None:
            # Only cancellations (an outer cancel scope fired): they belong to that scope.
            raise
        failures, _ = rest.split(Exception)
        if failures is None:
            raise  # KeyboardInterrupt and friends pass through as they are
        first = failures.exceptions[0]
        raise SessionTaskFailed(f"a task of the {what} failed: {first!r}") from group
    if body_error is not None:
        raise body_error
