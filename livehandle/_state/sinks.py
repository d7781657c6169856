"""Journal sinks: where a State's mutations go besides its in-memory ring.

A sink is called synchronously, in order, for every mutation, from the Trio thread: it must not
block long (buffer, then write in bulk).  If one raises, the State counts and reports the failure
and carries on: a failing sink never breaks a write.  A redacted key reaches a sink with
``"[redacted]"`` as its values.
"""

from __future__ import annotations

import collections
import json
import os
import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from livehandle._state.checks import positive_count, positive_seconds

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle._state.journal import StateMutation

__all__ = ["FileJournalSink", "JournalSink", "MemoryJournalSink"]


@runtime_checkable
class JournalSink(Protocol):
    """What receives a State's mutations (set it as :attr:`StateConfig.journal_sink`).

    Every method is called from the Trio thread and must return quickly.  An exception from any
    of them is reported by the State (see :meth:`~livehandle.State.problem_counts`) and never
    reaches the code that wrote the value.
    """

    def write(self, mutation: StateMutation) -> None:
        """Take one mutation; called once per change, in sequence order."""

    def flush(self) -> None:
        """Make what was written so far durable (for a buffered sink)."""

    def close(self) -> None:
        """Flush and release resources; nothing is written afterwards."""


class MemoryJournalSink:
    """Keeps the latest mutations in memory (for tests and inspection).

    Bounded: it holds at most ``capacity`` mutations; when full, the oldest one is dropped for
    each new one and counted in :attr:`dropped`.

    Raises:
        ValueError: ``capacity`` is not an int of at least 1.
    """

    __slots__ = ("_items", "closed", "dropped")

    def __init__(self, capacity: int = 1024) -> None:
        size = positive_count("capacity", capacity)
        self._items: collections.deque[StateMutation] = collections.deque(maxlen=size)
        self.dropped = 0
        """How many mutations were dropped because the sink was full."""
        self.closed = False
        """Whether :meth:`close` was called."""

    @property
    def mutations(self) -> tuple[StateMutation, ...]:
        """The mutations held, oldest first."""
        return tuple(self._items)

    def write(self, mutation: StateMutation) -> None:
        """Keep ``mutation``, dropping the oldest one when full.

        Raises:
            ValueError: the sink is closed.
        """
        if self.closed:
            raise ValueError("MemoryJournalSink is closed")
        items = self._items
        if len(items) == items.maxlen:
            self.dropped += 1
        items.append(mutation)

    def flush(self) -> None:
        """Nothing to do: the mutations are already in memory."""

    def close(self) -> None:
        """Stop taking mutations (those held stay readable)."""
        self.closed = True

    def __repr__(self) -> str:
        return f"MemoryJournalSink(held={len(self._items)}, dropped={self.dropped})"


class FileJournalSink:
    """Appends every mutation to a file as one JSON object per line (JSONL).

    Lines are buffered in memory and written in bulk when: the buffer holds ``max_buffered``
    lines; a write finds the oldest buffered line older than ``flush_interval`` seconds (so with
    steady writes nothing waits much longer than that); :meth:`flush` is called; or
    :meth:`close` is called.  A sink with no writes keeps its buffer until one of the last two,
    so its owner should flush it from time to time.  If writing the file fails, the buffered
    lines are dropped (counted in :attr:`dropped`) and the error is raised, for the State to
    report; the buffer never grows past its bound.

    Each line is :meth:`StateMutation.to_json` (with redacted values already replaced).

    Args:
        path: the file, opened for appending now (so a bad path fails here).
        flush_interval: the longest a buffered line waits for the next write to flush it.
        max_buffered: the most lines held before writing.
        clock: the monotonic clock used for ``flush_interval`` (tests inject one).

    Raises:
        OSError: the file cannot be opened.
        ValueError: ``flush_interval`` is not a finite number > 0 or ``max_buffered`` < 1.
    """

    __slots__ = (
        "_buffer",
        "_clock",
        "_file",
        "_first_at",
        "dropped",
        "flush_interval",
        "max_buffered",
        "path",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        flush_interval: float = 1.0,
        *,
        max_buffered: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flush_interval = positive_seconds("flush_interval", flush_interval)
        self.max_buffered = positive_count("max_buffered", max_buffered)
        self.path = os.fspath(path)
        self.dropped = 0
        """How many lines were lost because writing the file failed."""
        self._clock = clock
        self._buffer: list[str] = []
        self._first_at = 0.0
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._file.closed

    @property
    def buffered(self) -> int:
        """How many lines wait to be written."""
        return len(self._buffer)

    def write(self, mutation: StateMutation) -> None:
        """Buffer ``mutation`` as a line; write the buffer if it is full or old enough.

        Raises:
            ValueError: the sink is closed.
            OSError: writing the file failed (the buffered lines are dropped and counted).
        """
        if self._file.closed:
            raise ValueError(f"FileJournalSink({self.path!r}) is closed")
        now = self._clock()
        buffer = self._buffer
        if not buffer:
            self._first_at = now
        buffer.append(json.dumps(mutation.to_json(), ensure_ascii=False, allow_nan=False) + "\n")
        if len(buffer) >= self.max_buffered or now - self._first_at >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines to the file and flush it.

        Raises:
            OSError: writing failed; the lines are dropped and counted in :attr:`dropped`.
        """
        if self._file.closed:
            return
        lines, self._buffer = self._buffer, []
        if not lines:
            return
        try:
            self._file.write("".join(lines))
            self._file.flush()
        except OSError:
            self.dropped += len(lines)
            raise

    def close(self) -> None:
        """Flush, then close the file (closing twice does nothing)."""
        if self._file.closed:
            return
        try:
            self.flush()
        finally:
            self._file.close()

    def __repr__(self) -> str:
        held = len(self._buffer)
        return f"FileJournalSink({self.path!r}, buffered={held}, dropped={self.dropped})"
