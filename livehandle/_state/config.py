"""The settings of a :class:`~livehandle.State`, and the redaction rule they configure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from livehandle._fields import positive_int
from livehandle._state.checks import positive_seconds
from livehandle._state.sinks import JournalSink

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Redaction", "StateConfig"]


def _key_patterns(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"redact_keys must be a collection of strings, not one string ({value!r})")
    patterns: list[str] = []
    for pattern in value:
        item: object = pattern
        if not isinstance(item, str) or not item or item == "*":
            raise ValueError(
                "redact_keys holds keys (or prefixes written 'prefix*'), each a non-empty "
                f"string other than '*', got {item!r}"
            )
        patterns.append(item)
    return tuple(patterns)


def _positive_seconds(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    positive_seconds(attribute.name, value)


def _sink(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    names = ("write", "flush", "close")
    missing = [name for name in names if not callable(getattr(value, name, None))]
    if missing:
        raise TypeError(
            f"journal_sink must have write(), flush() and close() methods; "
            f"{type(value).__name__} lacks {', '.join(missing)}"
        )


@attrs.frozen
class StateConfig:
    """Settings of a :class:`~livehandle.State`, checked when built.

    Attributes:
        journal_size: how many mutations the in-memory journal ring keeps; older ones are
            dropped, and :meth:`~livehandle.State.mutations_since` reports the gap.
        journal_sink: where every mutation is also written, in order (see
            :class:`~livehandle.JournalSink`), or None.  A live session flushes it at every
            turn boundary and when it ends, and never closes it: the config (and its sink) may
            serve several sessions, so whoever made the sink closes it.
        redact_keys: keys whose values must not leave the process: exact keys (``"user:pin"``)
            or prefixes written with a trailing ``*`` (``"user:card*"``).  A sink sees
            ``"[redacted]"`` for their old and new values, reprs and error messages never show
            them, and :meth:`~livehandle.State.snapshot_items` leaves them out, so they are
            not persisted.
        watch_queue: how many watcher firings may wait to run; when it is full a new firing is
            dropped, counted and reported.
        watcher_timeout: the default bound, in seconds, on one watcher action in
            :meth:`~livehandle.State.run_watchers`.

    Raises:
        ValueError: naming the field, for a size or queue below 1, a timeout that is not a
            positive finite number, or an empty redaction pattern.
        TypeError: ``redact_keys`` is a single string, or ``journal_sink`` lacks a method.
    """

    journal_size: int = attrs.field(default=1024, validator=positive_int)
    journal_sink: JournalSink | None = attrs.field(default=None, validator=_sink)
    redact_keys: tuple[str, ...] = attrs.field(default=(), converter=_key_patterns)
    watch_queue: int = attrs.field(default=256, validator=positive_int)
    watcher_timeout: float = attrs.field(default=5.0, validator=_positive_seconds)


_NOTHING: frozenset[str] = frozenset()  # shared by every State that redacts no exact key


class Redaction:
    """Answers whether a key is redacted, fast: a set lookup and one ``startswith``."""

    __slots__ = ("_exact", "_prefixes", "active")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._exact = frozenset(p for p in patterns if not p.endswith("*")) or _NOTHING
        self._prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
        self.active = bool(patterns)

    def __call__(self, key: str) -> bool:
        if not self.active:
            return False
        return key in self._exact or (bool(self._prefixes) and key.startswith(self._prefixes))
