"""Delta tracking: a view of a State whose writes wait for :meth:`StateDelta.commit`.

A delta reads through to its State and buffers its own writes and removals on top: a read sees
the buffered value, a buffered removal hides the State's value.  :meth:`~StateDelta.commit`
applies the buffer to the State, each change journaled with origin ``COMMIT`` and seen by the
watchers like any write; :meth:`~StateDelta.rollback` drops it.  Nothing is locked: a key the
State changes after the delta wrote it is overwritten by the commit (last write wins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from livehandle._state.access import ABSENT, Writes, copy_json
from livehandle._state.journal import MutationOrigin
from livehandle._state.views import ScopeProperties

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    from livehandle._convert import JsonValue

__all__ = ["StateDelta"]


class _Removed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<removed>"


_REMOVED: Final = _Removed()


class StateDelta(ScopeProperties, Writes):
    """Buffered writes over a :class:`~livehandle.State` (what :meth:`State.delta` returns).

    It has the State's read and write API and its scopes (``delta.user.set(...)`` is buffered
    too).  Unprefixed reads fall back to ``derived:{key}``, looked up in the delta first, then
    in the State.  As a context manager it commits on a normal exit and rolls back when the
    block raises.  Its buffer holds one entry per key written or removed.
    """

    __slots__ = ("_base", "_buffer")

    _fallback = True

    def __init__(self, base: Writes) -> None:
        self._base = base
        self._buffer: dict[str, object] = {}

    # -- primitives -------------------------------------------------------------------------------

    def _exact(self, key: str) -> object:
        value = self._buffer.get(key, ABSENT)
        if value is _REMOVED:
            return ABSENT
        if value is ABSENT:
            return self._base._exact(key)
        return value

    def _iter_keys(self) -> Iterator[str]:
        buffer = self._buffer
        for key in self._base._iter_keys():
            if key not in buffer:
                yield key
        for key, value in buffer.items():
            if value is not _REMOVED:
                yield key

    def _is_redacted(self, key: str) -> bool:
        return self._base._is_redacted(key)

    def _put(self, key: str, value: JsonValue, origin: MutationOrigin) -> bool:
        self._buffer[key] = value
        return True

    def _delete(self, key: str, origin: MutationOrigin) -> bool:
        if self._exact(key) is ABSENT:
            return False
        if self._base._exact(key) is ABSENT:
            del self._buffer[key]
        else:
            self._buffer[key] = _REMOVED
        return True

    # -- the delta ---------------------------------------------------------------------------------

    @property
    def has_changes(self) -> bool:
        """Whether any write or removal is buffered."""
        return bool(self._buffer)

    @property
    def changes(self) -> dict[str, JsonValue]:
        """A copy of the buffered writes, by key (removals are in :attr:`removed`)."""
        return {k: copy_json(v) for k, v in self._buffer.items() if v is not _REMOVED}  # type: ignore[arg-type]

    @property
    def removed(self) -> list[str]:
        """The keys whose removal is buffered, sorted."""
        return sorted(k for k, v in self._buffer.items() if v is _REMOVED)

    def commit(self) -> int:
        """Apply the buffer to the State, in the order the keys were first buffered.

        Each change is journaled with origin ``COMMIT`` and evaluated by the watchers; a
        buffered value identical to the State's is no change.  The buffer is then empty.

        Returns:
            How many keys changed.
        """
        items = list(self._buffer.items())
        self._buffer.clear()
        base, changed = self._base, 0
        for key, value in items:
            if value is _REMOVED:
                changed += base._delete(key, MutationOrigin.COMMIT)
            else:
                changed += base._put(key, value, MutationOrigin.COMMIT)  # type: ignore[arg-type]
        return changed

    def rollback(self) -> None:
        """Drop every buffered write and removal."""
        self._buffer.clear()

    def __enter__(self) -> StateDelta:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def __repr__(self) -> str:
        return f"StateDelta(changed={sorted(self.changes)!r}, removed={self.removed!r})"
