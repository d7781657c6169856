"""The mutation journal: what changed in a State, in order, in a bounded ring.

Every change to a :class:`~livehandle.State` (a write that leaves the value as it was is no
change) becomes one :class:`StateMutation` with the next sequence number.  The ring keeps the
latest ``journal_size`` of them; a reader that falls further behind learns how many it missed.
Entries hold references to the stored JSON values, which the State never modifies in place, so
recording one costs no copy; callers must treat ``old`` and ``new`` as read-only.
"""

from __future__ import annotations

import collections
import enum
import itertools
from collections.abc import Iterator, Sequence
from typing import overload

import attrs

from livehandle._convert import JsonValue

__all__ = ["REDACTED", "Journal", "MutationOrigin", "Mutations", "StateMutation"]

#: What a journal sink sees in place of a redacted key's old and new values.
REDACTED = "[redacted]"


class MutationOrigin(enum.StrEnum):
    """Which operation made a change (a :attr:`StateMutation.origin`)."""

    SET = "set"
    """:meth:`~livehandle.State.set` or :meth:`~livehandle.State.update`."""
    REMOVE = "remove"
    """:meth:`~livehandle.State.remove`."""
    MODIFY = "modify"
    """:meth:`~livehandle.State.modify`."""
    CLEAR_PREFIX = "clear_prefix"
    """:meth:`~livehandle.State.clear_prefix` (one entry per key removed)."""
    RENAME = "rename"
    """:meth:`~livehandle.State.rename` (the new key written, then the old one removed)."""
    COMMIT = "commit"
    """:meth:`~livehandle.StateDelta.commit` (one entry per key changed)."""


@attrs.frozen(repr=False)
class StateMutation:
    """One change to a State.

    A key that did not exist before (or does not after) has ``old_present`` (or
    ``new_present``) False and ``old`` (or ``new``) None, so a key holding null and an absent key
    can be told apart.  ``old`` and ``new`` are the stored values themselves, not copies: read
    them, never modify them.

    Attributes:
        sequence: the change's number in its State, from 1, one more for every change.
        key: the full key changed (``"user:name"``).
        old: the value before, or None when ``old_present`` is False.
        new: the value after, or None when ``new_present`` is False (a removal).
        origin: the operation that made the change.
        time: when, in seconds since the epoch (the State's clock).
        old_present: whether the key existed before.
        new_present: whether the key exists after.
        redacted: the key is redacted (see :class:`~livehandle.StateConfig`); the repr hides
            the values, and a journal sink gets ``"[redacted]"`` in their place.
    """

    sequence: int
    key: str
    old: JsonValue
    new: JsonValue
    origin: MutationOrigin
    time: float
    old_present: bool = True
    new_present: bool = True
    redacted: bool = False

    def to_json(self) -> dict[str, JsonValue]:
        """The mutation as a JSON object (what :class:`~livehandle.FileJournalSink` writes)."""
        return {
            "sequence": self.sequence,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "old_present": self.old_present,
            "new_present": self.new_present,
            "origin": self.origin.value,
            "time": self.time,
        }

    def hidden(self) -> StateMutation:
        """This mutation with ``"[redacted]"`` for each present value (what a sink gets)."""
        return StateMutation(
            self.sequence,
            self.key,
            REDACTED if self.old_present else None,
            REDACTED if self.new_present else None,
            self.origin,
            self.time,
            self.old_present,
            self.new_present,
            True,
        )

    def __repr__(self) -> str:
        if self.redacted:
            old = new = REDACTED
        else:
            old, new = repr(self.old), repr(self.new)
        if not self.old_present:
            old = "<absent>"
        if not self.new_present:
            new = "<absent>"
        return (
            f"StateMutation(sequence={self.sequence}, key={self.key!r}, old={old}, new={new}, "
            f"origin={self.origin.name}, time={self.time!r})"
        )


class Mutations(Sequence[StateMutation]):
    """The mutations after a cursor, oldest first.

    What :meth:`~livehandle.State.mutations_since` returns: a sequence of
    :class:`StateMutation`.

    Attributes:
        missed: how many mutations after the cursor the journal ring had already dropped, so
            they are not here; 0 means nothing is missing.
        cursor: the sequence of the last mutation covered (pass it to the next call).
    """

    __slots__ = ("_items", "cursor", "missed")

    def __init__(self, items: tuple[StateMutation, ...], missed: int, cursor: int) -> None:
        self._items = items
        self.missed = missed
        self.cursor = cursor

    @property
    def gap(self) -> bool:
        """Whether some mutations after the cursor were lost (``missed > 0``)."""
        return self.missed > 0

    @overload
    def __getitem__(self, index: int) -> StateMutation: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[StateMutation, ...]: ...
    def __getitem__(self, index: int | slice) -> StateMutation | tuple[StateMutation, ...]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[StateMutation]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mutations):
            return (self._items, self.missed) == (other._items, other.missed)
        if isinstance(other, Sequence):
            return list(self._items) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        size = len(self._items)
        return f"Mutations({size} mutations, missed={self.missed}, cursor={self.cursor})"


_SHORT = 32  # mutations a journal keeps in a list before it needs a ring


class Journal:
    """The bounded ring of a State's latest mutations (oldest dropped first)."""

    __slots__ = ("_ring", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        # A short list while few mutations were made (a deque costs 760 bytes from the start),
        # then a deque bounded to ``size``.
        self._ring: list[StateMutation] | collections.deque[StateMutation] = []

    def append(self, mutation: StateMutation) -> None:
        ring = self._ring
        if isinstance(ring, list):
            if len(ring) < min(self._size, _SHORT):
                ring.append(mutation)
                return
            ring = self._ring = collections.deque(ring, maxlen=self._size)
        ring.append(mutation)

    def since(self, cursor: int, last: int) -> Mutations:
        """The mutations with a sequence above ``cursor``; ``last`` is the latest sequence."""
        if isinstance(cursor, bool) or not isinstance(cursor, int):
            raise TypeError(f"a journal cursor is an int, got {type(cursor).__name__}")
        if not 0 <= cursor <= last:
            raise ValueError(
                f"a journal cursor is between 0 and the state's cursor ({last}), got {cursor}"
            )
        ring = self._ring
        if not ring or cursor == last:
            return Mutations((), 0, last)
        first = ring[0].sequence
        missed = max(0, first - cursor - 1)
        start = max(0, cursor + 1 - first)
        return Mutations(tuple(itertools.islice(ring, start, None)), missed, last)

    def recent(self, count: int) -> tuple[StateMutation, ...]:
        """The latest ``count`` mutations still in the ring, oldest first."""
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"a mutation count is an int, got {type(count).__name__}")
        if count < 0:
            raise ValueError(f"a mutation count is >= 0, got {count}")
        ring = self._ring
        return tuple(itertools.islice(ring, max(0, len(ring) - count), None))

    def last_for(self, key: str) -> StateMutation | None:
        """The latest mutation of ``key`` still in the ring."""
        for mutation in reversed(self._ring):
            if mutation.key == key:
                return mutation
        return None
