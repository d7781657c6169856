"""Watchers: run an action when a State key changes in a way a predicate selects.

A watcher sees every change, whatever made it (a tool, a background task, an extractor, a
committed delta).  Its predicate is evaluated synchronously when the change is written; a match
queues a firing in a bounded queue, and the actions run later, in order and one at a time, in
:meth:`~livehandle.State.run_watchers` (the session's control lane calls it), each bounded by a
timeout so none can stall the session.
"""

from __future__ import annotations

import collections
import enum
import inspect
import math
from typing import TYPE_CHECKING, Any

import attrs
import trio

from livehandle._convert import to_json_value
from livehandle._logs import library_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle._convert import JsonValue
    from livehandle._state.journal import StateMutation

__all__ = ["StateProblem", "StateProblemKind", "StateWatch", "WatchHub", "WatchPredicate"]

log = library_logger("livehandle.state")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(a: object, b: object) -> bool:
    """JSON equality: numbers by value (``1 == 1.0``), a boolean never equal to a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    return type(a) is type(b) and a == b


class WatchPredicate:
    """Decides, from a key's old and new value, whether a change fires a watcher.

    A missing value reads as None.  Build one with the class methods; :meth:`matches` applies
    it.  Values given to :meth:`changed_to` and :meth:`changed_from` are converted to JSON (an
    enum is its value), and compared as JSON: ``1`` equals ``1.0``, ``True`` is not ``1``.
    """

    __slots__ = ("_test", "description")

    def __init__(self, test: Callable[[JsonValue, JsonValue], bool], description: str) -> None:
        self._test = test
        self.description = description
        """What the predicate tests, for reprs and reports."""

    def matches(self, old: JsonValue, new: JsonValue) -> bool:
        """Whether a change from ``old`` to ``new`` fires (None stands for absent)."""
        return bool(self._test(old, new))

    def __repr__(self) -> str:
        return f"WatchPredicate({self.description})"

    @classmethod
    def changed(cls) -> WatchPredicate:
        """Every change."""
        return cls(lambda old, new: True, "changed")

    @classmethod
    def changed_to(cls, value: object) -> WatchPredicate:
        """The new value equals ``value``.

        Raises:
            TypeError, ValueError: ``value`` has no JSON form.
        """
        target = to_json_value(value, what="changed_to")
        return cls(lambda old, new: json_equal(new, target), "changed_to")

    @classmethod
    def changed_from(cls, value: object) -> WatchPredicate:
        """The old value equals ``value``.

        Raises:
            TypeError, ValueError: ``value`` has no JSON form.
        """
        target = to_json_value(value, what="changed_from")
        return cls(lambda old, new: json_equal(old, target), "changed_from")

    @classmethod
    def crossed_above(cls, threshold: float) -> WatchPredicate:
        """Old and new are numbers, the old at or below ``threshold`` and the new above it.

        A non-number (a missing value included) never crosses.

        Raises:
            TypeError: ``threshold`` is not a number.  ValueError: it is not finite.
        """
        x = _threshold(threshold)
        return cls(
            lambda old, new: _is_number(old) and _is_number(new) and old <= x < new,  # type: ignore[operator]
            f"crossed_above({x!r})",
        )

    @classmethod
    def crossed_below(cls, threshold: float) -> WatchPredicate:
        """Old and new are numbers, the old at or above ``threshold`` and the new below it.

        Raises:
            TypeError: ``threshold`` is not a number.  ValueError: it is not finite.
        """
        x = _threshold(threshold)
        return cls(
            lambda old, new: _is_number(old) and _is_number(new) and new < x <= old,  # type: ignore[operator]
            f"crossed_below({x!r})",
        )

    @classmethod
    def became_true(cls) -> WatchPredicate:
        """The new value is ``true`` and the old one was not (absent counts as not)."""
        return cls(lambda old, new: new is True and old is not True, "became_true")

    @classmethod
    def became_false(cls) -> WatchPredicate:
        """The new value is ``false`` and the old one was not (absent counts as not)."""
        return cls(lambda old, new: new is False and old is not False, "became_false")

    @classmethod
    def custom(cls, test: Callable[[JsonValue, JsonValue], object]) -> WatchPredicate:
        """Any test of ``(old, new)``, a plain (not async) function.

        It must not modify the values: they are the stored ones.  An exception from it, or an
        awaitable result, is reported when a change is tested, and that change does not fire.

        Raises:
            TypeError: ``test`` is not callable.
        """
        if not callable(test):
            raise TypeError(f"a custom predicate must be callable, got {type(test).__name__}")

        def checked(old: JsonValue, new: JsonValue) -> bool:
            result = test(old, new)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError("a watch predicate must be a plain function returning a bool")
            return bool(result)

        return cls(checked, f"custom({getattr(test, '__qualname__', type(test).__name__)})")


def _threshold(value: object) -> float:
    if not _is_number(value):
        raise TypeError(f"a threshold must be a number, got {type(value).__name__}")
    if not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError(f"a threshold must be finite, got {value!r}")
    return value  # type: ignore[return-value]


_NAMED = {
    "changed": WatchPredicate.changed,
    "became_true": WatchPredicate.became_true,
    "became_false": WatchPredicate.became_false,
}


def as_predicate(when: object) -> WatchPredicate:
    """``when`` (a predicate, one of the names, or a callable ``(old, new) -> bool``)."""
    if isinstance(when, WatchPredicate):
        return when
    if isinstance(when, str):
        if when not in _NAMED:
            raise ValueError(f"when must be one of {', '.join(map(repr, _NAMED))}, got {when!r}")
        return _NAMED[when]()
    if callable(when):
        return WatchPredicate.custom(when)
    raise TypeError(
        f"when must be a WatchPredicate, a name or a callable (old, new) -> bool, "
        f"got {type(when).__name__}"
    )


class StateProblemKind(enum.StrEnum):
    """What went wrong (a :attr:`StateProblem.kind`)."""

    SINK_FAILED = "sink_failed"
    """The journal sink raised; the write itself went through."""
    PREDICATE_FAILED = "predicate_failed"
    """A watcher's predicate raised; that watcher did not fire for the change."""
    ACTION_FAILED = "action_failed"
    """A watcher's action raised."""
    ACTION_TIMED_OUT = "action_timed_out"
    """A watcher's action ran past the timeout and was cancelled."""
    WATCH_QUEUE_FULL = "watch_queue_full"
    """A firing found the watcher queue full and was dropped."""


@attrs.frozen
class StateProblem:
    """A problem a State met and reported instead of raising (no value of any key is in it).

    Attributes:
        kind: what went wrong.
        detail: a sentence saying what and where (keys and type names only).
        key: the key concerned, if any.
        error: the exception raised, if any.
    """

    kind: StateProblemKind
    detail: str
    key: str | None = None
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)


class StateWatch:
    """A registered watcher (what :meth:`~livehandle.State.watch` returns).

    Attributes:
        key: the key watched, or a prefix pattern ending in ``*``.
        predicate: what selects the changes that fire it.
        action: what runs, with the mutation, for each firing.
        fired: how many times its action has been started.
    """

    __slots__ = ("_hub", "_order", "action", "active", "fired", "key", "predicate", "prefix")

    def __init__(
        self, hub: WatchHub, order: int, key: str, predicate: WatchPredicate, action: Any
    ) -> None:
        self._hub = hub
        self._order = order
        self.key = key
        self.prefix: str | None = key[:-1] if key.endswith("*") else None
        self.predicate = predicate
        self.action: Callable[[StateMutation], object] = action
        self.active = True
        """False once cancelled."""
        self.fired = 0

    def cancel(self) -> None:
        """Stop watching; firings already queued for it are skipped.  Idempotent."""
        if self.active:
            self.active = False
            self._hub.remove(self)

    def __repr__(self) -> str:
        state = "active" if self.active else "cancelled"
        test = self.predicate.description
        return f"StateWatch({self.key!r}, {test}, {state}, fired={self.fired})"


class WatchHub:
    """A State's watchers and their bounded queue of firings (drop-newest on overflow)."""

    __slots__ = (
        "_exact",
        "_next",
        "_prefixed",
        "_queue",
        "_running",
        "limit",
        "on_pending",
        "report",
    )

    def __init__(self, limit: int, report: Callable[[StateProblem], None]) -> None:
        self._exact: dict[str, list[StateWatch]] = {}
        self._prefixed: list[StateWatch] = []
        # made at the first firing: a State nobody watches keeps no deque
        self._queue: collections.deque[tuple[StateWatch, StateMutation]] | None = None
        self._next = 0
        self._running = False
        self.limit = limit
        self.report = report
        self.on_pending: Callable[[], object] | None = None

    @property
    def active(self) -> bool:
        return bool(self._exact) or bool(self._prefixed)

    @property
    def pending(self) -> int:
        return 0 if self._queue is None else len(self._queue)

    def add(self, key: str, predicate: WatchPredicate, action: object) -> StateWatch:
        self._next += 1
        watch = StateWatch(self, self._next, key, predicate, action)
        if watch.prefix is None:
            self._exact.setdefault(key, []).append(watch)
        else:
            self._prefixed.append(watch)
        return watch

    def remove(self, watch: StateWatch) -> None:
        if watch.prefix is not None:
            self._prefixed.remove(watch)
            return
        group = self._exact[watch.key]
        group.remove(watch)
        if not group:
            del self._exact[watch.key]

    def evaluate(self, mutation: StateMutation) -> None:
        """Test every watcher of ``mutation.key``, in registration order; queue the matches."""
        key = mutation.key
        watches = self._exact.get(key, ())
        if self._prefixed:
            extra = [w for w in self._prefixed if key.startswith(w.prefix)]  # type: ignore[arg-type]
            if extra:
                watches = sorted([*watches, *extra], key=lambda w: w._order)
        for watch in tuple(watches):
            try:
                hit = watch.predicate.matches(mutation.old, mutation.new)
            except Exception as exc:
                self.report(
                    StateProblem(
                        StateProblemKind.PREDICATE_FAILED,
                        f"the predicate {watch.predicate.description} of the watcher on "
                        f"{watch.key!r} raised {type(exc).__name__} for key {key!r}",
                        key,
                        exc,
                    )
                )
                continue
            if hit:
                self._queue_firing(watch, mutation)

    def _queue_firing(self, watch: StateWatch, mutation: StateMutation) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = collections.deque()
        if len(queue) >= self.limit:
            self.report(
                StateProblem(
                    StateProblemKind.WATCH_QUEUE_FULL,
                    f"the watcher queue is full ({self.limit}); the firing of the watcher on "
                    f"{watch.key!r} for change {mutation.sequence} of {mutation.key!r} was dropped",
                    mutation.key,
                )
            )
            return
        queue.append((watch, mutation))
        if len(queue) == 1 and not self._running:
            self.signal()

    def signal(self) -> None:
        """Tell the owner (the runtime) that firings wait to run."""
        if self.on_pending is not None:
            try:
                self.on_pending()
            except Exception:
                log.exception("the State's on_pending callback raised")

    async def run(self, per_action: float) -> int:
        """Run queued firings in order; see :meth:`~livehandle.State.run_watchers`."""
        # While running, firings the actions queue are run here, so the owner is not told
        # about each; it is told once at the end if some are left.
        if self._running:
            raise RuntimeError("run_watchers is already running (an action cannot run it)")
        queue = self._queue
        if queue is None:  # nothing was ever queued
            return 0
        started = 0
        self._running = True
        try:
            while queue and started < self.limit:
                watch, mutation = queue.popleft()
                if not watch.active:
                    continue
                started += 1
                watch.fired += 1
                await self._run_one(watch, mutation, per_action)
        finally:
            self._running = False
            if queue:
                # Also when cancelled (the pipeline's step deadline): firings left behind must
                # still wake the owner, or they would wait for the next turn boundary.
                self.signal()
        return started

    async def _run_one(self, watch: StateWatch, mutation: StateMutation, limit: float) -> None:
        where = (
            f"the action of the watcher on {watch.key!r} "
            f"(change {mutation.sequence} of {mutation.key!r})"
        )
        try:
            result = watch.action(mutation)
            if inspect.isawaitable(result):
                with trio.move_on_after(limit) as scope:
                    await result
                if scope.cancelled_caught:
                    self.report(
                        StateProblem(
                            StateProblemKind.ACTION_TIMED_OUT,
                            f"{where} ran past {limit:g} s and was cancelled",
                            mutation.key,
                        )
                    )
        except Exception as exc:
            self.report(
                StateProblem(
                    StateProblemKind.ACTION_FAILED,
                    f"{where} raised {type(exc).__name__}",
                    mutation.key,
                    exc,
                )
            )
