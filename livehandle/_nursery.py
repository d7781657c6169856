"""The nursery shape every ``open_*`` context manager of livehandle shares.

Trio nurseries always wrap errors in an ExceptionGroup.  At our public boundary that would hand the
user a group of internals for an exception they raised themselves.  :func:`open_owned_nursery`
keeps the body's exception separate: it is re-raised unchanged after the session's cleanup ran and
every task finished.  Failures of the session's own tasks (which are designed not to fail) become
one :class:`~livehandle.SessionTaskFailed` chained to the group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import trio

from livehandle._errors import SessionTaskFailed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

__all__ = ["LazyEvent", "Spawner", "TaskHost", "let_go", "open_owned_nursery"]

T = TypeVar("T")


class open_owned_nursery:  # named like the function it replaced
    """A nursery whose body errors come out unwrapped; ``close()`` always runs before it ends.

    ``close`` must be bounded and shielded (the sessions' ``close``/``disconnect`` are); the
    nursery is cancelled right after it, so nothing outlives the ``async with`` block.  A
    slotted object rather than a generator-based context manager: a session holds one for as
    long as it runs.
    """

    __slots__ = ("_close", "_manager", "_nursery", "_what")

    def __init__(self, close: Callable[[], Awaitable[object]], what: str) -> None:
        self._close = close
        self._what = what
        self._manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> trio.Nursery:
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._manager, self._nursery = manager, nursery
        return nursery

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        body_error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # The body's error stays out of the nursery: it propagates unchanged once the nursery
        # has closed (unless closing it failed).
        manager, nursery = self._manager, self._nursery
        assert manager is not None
        assert nursery is not None
        self._manager = self._nursery = None
        error: BaseException | None = None
        try:
            try:
                await self._close()
            finally:
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            error = exc
        try:
            if error is None:
                await manager.__aexit__(None, None, None)
            elif not await manager.__aexit__(type(error), error, error.__traceback__):
                raise error
        except BaseExceptionGroup as group:
            _, rest = group.split(trio.Cancelled)
            if rest is None:
                # Only cancellations (an outer cancel scope fired): they belong to that scope.
                raise
            failures, _ = rest.split(Exception)
            if failures is None:
                raise  # KeyboardInterrupt and friends pass through as they are
            first = failures.exceptions[0]
            raise SessionTaskFailed(f"a task of the {self._what} failed: {first!r}") from group
        finally:
            del error


def let_go(task_status: trio.TaskStatus[T]) -> trio.TaskStatus[T]:
    """``task_status``, wrapped so that it lets go of Trio's start-up nursery once started.

    Trio's task status keeps the temporary nursery of ``nursery.start`` (a cancel scope, its
    cancel status and their sets, about 1 KiB) for as long as anything refers to it, and the
    frames of a long-running task refer to their ``task_status`` argument until the task ends.
    A task started with ``nursery.start`` therefore rebinds its argument at once (``task_status
    = let_go(task_status)``) and passes the result down: once ``started`` was called, nothing
    keeps the start-up nursery alive.  Calling ``started`` twice still raises RuntimeError;
    ``TASK_STATUS_IGNORED`` and an already wrapped status are returned as they are.
    """
    if task_status is trio.TASK_STATUS_IGNORED or isinstance(task_status, _LetGo):
        return task_status
    return cast("trio.TaskStatus[T]", _LetGo(task_status))


class _LetGo:
    """A task status that drops the one it wraps when ``started`` is called (see ``let_go``)."""

    __slots__ = ("_status",)

    def __init__(self, status: trio.TaskStatus[Any]) -> None:
        self._status: trio.TaskStatus[Any] | None = status

    def started(self, value: object = None) -> None:
        status, self._status = self._status, None
        if status is None:
            raise RuntimeError("called 'started' twice on the same task status")
        status.started(value)


class LazyEvent:
    """A :class:`trio.Event` made only when a task waits for it before it is set.

    The same contract (set once, for good; :meth:`wait` returns at once when set, a checkpoint
    either way), for the "ended" flags a session keeps: most are set without anyone having
    waited, and an idle session need not carry a Trio event (about 270 bytes) for each.
    """

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: trio.Event | None = None  # made by the first wait before set()

    def is_set(self) -> bool:
        """Whether :meth:`set` has been called."""
        return self._set

    def set(self) -> None:
        """Set it, waking every waiting task.  Idempotent."""
        if not self._set:
            self._set = True
            if self._event is not None:
                self._event.set()

    async def wait(self) -> None:
        """Wait until it is set (a checkpoint, also when it is set already)."""
        if self._set:
            await trio.lowlevel.checkpoint()
            return
        if self._event is None:
            self._event = trio.Event()
        await self._event.wait()


class Spawner(Protocol):
    """Something tasks can be started in: a :class:`trio.Nursery`, or a :class:`TaskHost`."""

    def start_soon(
        self, async_fn: Callable[..., Awaitable[object]], *args: object, name: object = None
    ) -> None:
        """Start ``async_fn(*args)`` as a new task (``name`` names it, as in Trio)."""
        ...


class TaskHost:
    """One component's background tasks, in the session's nursery, cancelled by :meth:`stop`.

    It costs no task of its own: :meth:`attach` gives it the session's nursery, and each task
    started through :meth:`start_soon` runs there inside its own cancel scope, which
    :meth:`stop` cancels (a task started after :meth:`stop` is cancelled at once).  An idle
    session therefore runs no task for a component with nothing to do.
    """

    __slots__ = ("_nursery", "_scopes", "_stopped", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._nursery: trio.Nursery | None = None
        self._scopes: set[trio.CancelScope] | None = None  # made at the first hosted task
        self._stopped = False

    def attach(self, nursery: trio.Nursery) -> None:
        """Host tasks in ``nursery`` from now on (the session's, which outlives every one)."""
        self._nursery = nursery

    def stop(self) -> None:
        """Cancel every hosted task; tasks started later are cancelled at once."""
        self._stopped = True
        for scope in self._scopes or ():
            scope.cancel()

    @property
    def running(self) -> bool:
        """True from :meth:`attach` until :meth:`stop`."""
        return self._nursery is not None and not self._stopped

    def start_soon(
        self, async_fn: Callable[..., Awaitable[object]], *args: object, name: object = None
    ) -> None:
        """Start ``async_fn(*args)`` as a hosted task (``name`` names it, as in Trio).

        Raises:
            RuntimeError: :meth:`attach` has not been called.
        """
        if self._nursery is None:
            raise RuntimeError(f"{self._what}: not attached to a nursery yet")
        self._nursery.start_soon(self._hosted, async_fn, args, name=name or async_fn)

    async def _hosted(
        self, async_fn: Callable[..., Awaitable[object]], args: tuple[object, ...]
    ) -> None:
        scope = trio.CancelScope()
        if self._stopped:
            scope.cancel()
        if self._scopes is None:
            self._scopes = set()
        scopes = self._scopes
        scopes.add(scope)
        try:
            with scope:
                await async_fn(*args)
        finally:
            scopes.discard(scope)
