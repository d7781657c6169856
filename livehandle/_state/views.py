"""Scoped views of a State: the same API over the keys under one prefix.

``state.user.set("name", "Ada")`` writes ``user:name``; ``state.user.keys()`` lists ``name``.
A view holds no data: every read and write goes to the State (or delta) it was taken from, so it
is journaled, redacted and watched like any other.  ``state.derived`` is read-only: library code
writes ``derived:`` keys through the State itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle._state.access import Reads, Writes, check_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator

    from livehandle._convert import JsonValue
    from livehandle._state.journal import MutationOrigin

__all__ = ["DerivedScope", "ScopeProperties", "StateScope"]


def _scope_prefix(prefix: object) -> str:
    check_prefix(prefix)
    assert isinstance(prefix, str)
    if not prefix.endswith(":") or prefix == ":":
        raise ValueError(
            f"a scope prefix is a non-empty name ending in ':' (like 'user:'), got {prefix!r}"
        )
    return prefix


class _Prefixed(Reads):
    __slots__ = ("_target", "prefix")

    def __init__(self, target: Reads, prefix: str) -> None:
        self._target = target
        self.prefix = prefix
        """The prefix this view adds to every key (``"user:"``)."""

    def _exact(self, key: str) -> object:
        return self._target._exact(self.prefix + key)

    def _iter_keys(self) -> Iterator[str]:
        prefix, size = self.prefix, len(self.prefix)
        return (key[size:] for key in self._target._iter_keys() if key.startswith(prefix))

    def _full(self, key: str) -> str:
        return self._target._full(self.prefix + key)

    def _is_redacted(self, key: str) -> bool:
        return self._target._is_redacted(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r}, keys={self.keys()!r})"


class StateScope(_Prefixed, Writes):
    """The keys of a State under one prefix, read and written without it.

    Every method is that of :class:`~livehandle.State` with the prefix added to each key, and
    :meth:`keys` strips it.  Unprefixed reads do not fall back to ``derived:`` in a view.
    """

    __slots__ = ()

    def __init__(self, target: Writes, prefix: str) -> None:
        super().__init__(target, _scope_prefix(prefix))

    def _put(self, key: str, value: JsonValue, origin: MutationOrigin) -> bool:
        return self._target._put(self.prefix + key, value, origin)  # type: ignore[attr-defined,no-any-return]

    def _delete(self, key: str, origin: MutationOrigin) -> bool:
        return self._target._delete(self.prefix + key, origin)  # type: ignore[attr-defined,no-any-return]

    def scope(self, prefix: str) -> StateScope:
        """A view of the keys under ``prefix`` inside this one (``user:`` then ``prefs:``)."""
        return StateScope(self, prefix)


class DerivedScope(_Prefixed):
    """The ``derived:`` keys of a State, read-only (no write methods).

    Values computed by the library live here; an unprefixed read on the State falls back to
    them (``state.get("total")`` finds ``derived:total`` when ``total`` is absent).
    """

    __slots__ = ()


class ScopeProperties:
    """The standard scopes of a State or delta, as properties."""

    __slots__ = ()

    def scope(self, prefix: str) -> StateScope:
        """A read-write view of the keys under ``prefix`` (a name ending in ``:``).

        Raises:
            ValueError: ``prefix`` does not end in ``:`` or is only ``:``.
            TypeError: ``prefix`` is not a string.
        """
        return StateScope(self, prefix)  # type: ignore[arg-type]

    @property
    def app(self) -> StateScope:
        """``app:`` keys: the application's own settings and data."""
        return StateScope(self, "app:")  # type: ignore[arg-type]

    @property
    def user(self) -> StateScope:
        """``user:`` keys: what is known about the user."""
        return StateScope(self, "user:")  # type: ignore[arg-type]

    @property
    def temp(self) -> StateScope:
        """``temp:`` keys: scratch values."""
        return StateScope(self, "temp:")  # type: ignore[arg-type]

    @property
    def session(self) -> StateScope:
        """``session:`` keys: signals the runtime keeps about the live session."""
        return StateScope(self, "session:")  # type: ignore[arg-type]

    @property
    def turn(self) -> StateScope:
        """``turn:`` keys: cleared at the start of every turn pipeline."""
        return StateScope(self, "turn:")  # type: ignore[arg-type]

    @property
    def bg(self) -> StateScope:
        """``bg:`` keys: results of background work."""
        return StateScope(self, "bg:")  # type: ignore[arg-type]

    @property
    def derived(self) -> DerivedScope:
        """``derived:`` keys, read-only."""
        return DerivedScope(self, "derived:")  # type: ignore[arg-type]
