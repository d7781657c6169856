"""Unknown JSON members: remembered once per name and logged at DEBUG with their wire path.

The decoder keeps every member it does not model in the message's ``extra`` mapping; this module
only decides when to say so.  Each (class, wire name) pair is logged the first time it is seen in
this process.  The set of names already logged is bounded (:data:`MAX_REMEMBERED`); once it is
full, one last line says so and later new names are kept in ``extra`` without a log line.
"""

from __future__ import annotations

import threading
from typing import Any

from livehandle._logs import library_logger

__all__ = ["MAX_REMEMBERED", "flush", "note"]

log = library_logger("livehandle.wire")

#: How many distinct unknown (class, wire name) pairs are remembered (and logged) per process.
MAX_REMEMBERED = 256

_seen: set[tuple[str, str]] = set()
_overflowed = False
_lock = threading.Lock()
_local = threading.local()
_OVERFLOW = ("", "")
#: True once any thread has a name waiting to be logged; spares :func:`flush` the thread-local
#: lookup on the hot path (nearly every frame has no new unknown name).
_waiting = False


def note(owner: str, key: str) -> None:
    """Record that ``owner`` (a class name) met the unknown member ``key`` during this decode.

    Cheap after the first sighting: one set lookup.  New names wait in a per-thread list until
    :func:`flush` logs them with their path, once the whole frame is known.
    """
    global _overflowed, _waiting
    pair = (owner, key)
    if pair in _seen:
        return
    with _lock:
        if pair in _seen:
            return
        if len(_seen) >= MAX_REMEMBERED:
            if _overflowed:
                return
            _overflowed = True
            pair = _OVERFLOW
        else:
            _seen.add(pair)
    pending: list[tuple[str, str]] | None = getattr(_local, "pending", None)
    if pending is None:
        pending = _local.pending = []
    pending.append(pair)
    _waiting = True


def flush(root: str, body: Any) -> None:
    """Log the unknown members first seen while decoding ``body`` (the frame under ``root``)."""
    global _waiting
    if not _waiting:
        return
    pending: list[tuple[str, str]] | None = getattr(_local, "pending", None)
    if not pending:
        return
    # Decoding runs on one thread in practice; with several, another thread's names are logged
    # at its next new name instead (they are in ``extra`` either way).
    _waiting = False
    _local.pending = []
    for owner, key in pending:
        if (owner, key) == _OVERFLOW:
            log.debug(
                "%d unknown field names seen; further new names are kept in .extra unlogged",
                MAX_REMEMBERED,
            )
            continue
        path = _find(body, key, root) or f"{root} ({owner})"
        log.debug("unknown field %r in %s at %s; kept in its .extra", key, owner, path)


def _find(value: Any, key: str, path: str, depth: int = 0) -> str | None:
    """The wire path of the first member named ``key`` under ``value`` (depth-first)."""
    if depth > 64:
        return None
    if isinstance(value, dict):
        if key in value:
            return f"{path}.{key}"
        for name, item in value.items():
            found = _find(item, key, f"{path}.{name}", depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find(item, key, f"{path}[{index}]", depth + 1)
            if found is not None:
                return found
    return None
