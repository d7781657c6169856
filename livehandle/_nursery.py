"""The nursery shape every ``open_*`` context manager of livehandle shares.

Trio nurseries always wrap errors in an ExceptionGroup.  At our public boundary that would hand the
user a group of internals for an exception they raised themselves.  :func:`open_owned_nursery`
keeps the body's exception separate: it is re-raised unchanged after the session's cleanup ran and
every task finished.  Failures of the session's own tasks (which are designed not to fail) become
one :class:`~livehandle.SessionTaskFailed` chained to the group.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from livehandle._errors import SessionTaskFailed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["TaskHost", "open_owned_nursery"]


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


class TaskHost:
    """A nursery for one component's background tasks, living until :meth:`stop`.

    Run :meth:`run` in the session's nursery (``await nursery.start(host.run)``); start tasks in
    :attr:`nursery`; :meth:`stop` cancels them all and ends :meth:`run`.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._nursery: trio.Nursery | None = None
        self._scope = trio.CancelScope()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host tasks until :meth:`stop`."""
        with self._scope:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()

    def stop(self) -> None:
        """Cancel every hosted task and end :meth:`run`."""
        self._scope.cancel()

    @property
    def running(self) -> bool:
        """True from :meth:`run` starting until :meth:`stop`."""
        return self._nursery is not None and not self._scope.cancel_called

    @property
    def nursery(self) -> trio.Nursery:
        """Where to start hosted tasks.

        Raises:
            RuntimeError: :meth:`run` has not started.
        """
        if self._nursery is None:
            raise RuntimeError(f"{self._what}: run() has not started")
        return self._nursery
