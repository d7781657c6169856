"""The State of a live session: typed key-value data with a journal, scopes and watchers.

:class:`State` maps string keys to JSON values.  Values go in as Python objects (attrs classes,
dataclasses, enums, lists, tuples, str-keyed dicts, primitives) and are stored as plain JSON by
the package's one strict converter, so the store is always serializable and holds snapshots,
never the caller's objects.  Reads hand out copies, optionally structured back into a type.

Every change goes through one place (:meth:`State._record`), which numbers it, journals it,
passes it to the journal sink and evaluates the watchers, so nothing that changes a value can
escape any of them.  Use it from the Trio thread only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from livehandle._logs import library_logger
from livehandle._state.access import ABSENT, Writes, check_key, copy_json, same_json
from livehandle._state.checks import positive_seconds
from livehandle._state.config import Redaction, StateConfig
from livehandle._state.delta import StateDelta
from livehandle._state.evidence import META_PREFIX, SlotEvidence, build_evidence
from livehandle._state.journal import Journal, Mutations, StateMutation
from livehandle._state.views import ScopeProperties
from livehandle._state.watch import (
    StateProblem,
    StateProblemKind,
    StateWatch,
    WatchHub,
    as_predicate,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from livehandle._convert import JsonValue
    from livehandle._state.journal import MutationOrigin

__all__ = ["State"]

log = library_logger("livehandle.state")


class State(ScopeProperties, Writes):
    """A session's typed key-value state.

    Keys are non-empty strings, grouped by prefix (``user:name``); the standard groups have
    views (:attr:`user`, :attr:`turn`...).  Reads: :meth:`get` (lenient), :meth:`try_get`
    (strict), :meth:`contains`, :meth:`keys`; an unprefixed key that is absent is read from
    ``derived:{key}``.  Writes: :meth:`set`, :meth:`update`, :meth:`remove`, :meth:`modify`,
    :meth:`clear_prefix`, :meth:`rename`; :meth:`delta` buffers writes for a commit.

    Every change is numbered and kept in a bounded journal (:meth:`mutations_since`), sent to
    the configured :class:`~livehandle.JournalSink`, and evaluated by the watchers
    (:meth:`watch`).  Not thread-safe; use it from the Trio thread.

    Args:
        config: the settings (the defaults if None).
        clock: the wall clock stamped on mutations, in seconds since the epoch (tests inject
            one; :func:`time.time` by default).
    """

    __slots__ = (
        "_clock",
        "_config",
        "_counts",
        "_cursor",
        "_journal",
        "_on_problem",
        "_redacted",
        "_sink",
        "_values",
        "_watches",
    )

    _fallback = True

    def __init__(
        self, config: StateConfig | None = None, *, clock: Callable[[], float] | None = None
    ) -> None:
        if config is None:
            config = StateConfig()
        elif not isinstance(config, StateConfig):
            raise TypeError(f"config must be a StateConfig, got {type(config).__name__}")
        self._config = config
        self._clock = time.time if clock is None else clock
        self._values: dict[str, JsonValue] = {}
        self._cursor = 0
        self._journal = Journal(config.journal_size)
        self._sink = config.journal_sink
        self._redacted = Redaction(config.redact_keys)
        self._counts: dict[StateProblemKind, int] | None = None  # made at the first problem
        self._on_problem: Callable[[StateProblem], object] | None = None
        self._watches = WatchHub(config.watch_queue, self._report)

    @property
    def config(self) -> StateConfig:
        """The settings this State was built with."""
        return self._config

    @property
    def cursor(self) -> int:
        """The sequence of the latest change (0 before any); pass it to :meth:`mutations_since`."""
        return self._cursor

    @property
    def version(self) -> int:
        """How many changes this State has had, equal to :attr:`cursor`.

        One per key written with a new value or removed; a write of an identical value counts
        none (before the journal existed every write counted).
        """
        return self._cursor

    # -- primitives -------------------------------------------------------------------------------

    def _exact(self, key: str) -> object:
        return self._values.get(key, ABSENT)

    def _iter_keys(self) -> Iterable[str]:
        return self._values

    def _is_redacted(self, key: str) -> bool:
        return self._redacted(key)

    def _put(self, key: str, value: JsonValue, origin: MutationOrigin) -> bool:
        values = self._values
        old = values.get(key, ABSENT)
        if old is not ABSENT and same_json(old, value):
            return False
        values[key] = value
        self._record(key, old, value, origin)
        return True

    def _delete(self, key: str, origin: MutationOrigin) -> bool:
        old = self._values.pop(key, ABSENT)
        if old is ABSENT:
            return False
        self._record(key, old, ABSENT, origin)
        return True

    def _record(self, key: str, old: object, new: object, origin: MutationOrigin) -> None:
        # The single path of every change: number, journal, sink, watchers.
        self._cursor = sequence = self._cursor + 1
        mutation = StateMutation(
            sequence,
            key,
            None if old is ABSENT else old,  # type: ignore[arg-type]
            None if new is ABSENT else new,  # type: ignore[arg-type]
            origin,
            self._clock(),
            old is not ABSENT,
            new is not ABSENT,
            self._redacted.active and self._redacted(key),
        )
        self._journal.append(mutation)
        if self._sink is not None:
            self._to_sink(mutation)
        if self._watches.active:
            self._watches.evaluate(mutation)

    def _to_sink(self, mutation: StateMutation) -> None:
        assert self._sink is not None
        try:
            self._sink.write(mutation.hidden() if mutation.redacted else mutation)
        except Exception as exc:
            self._sink_failed("write", exc, mutation.key)

    def _sink_failed(self, what: str, exc: Exception, key: str | None = None) -> None:
        sink = type(self._sink).__name__
        detail = f"the journal sink {sink} failed to {what}: {type(exc).__name__}"
        if key is not None:
            detail += f" (key {key!r})"
        self._report(StateProblem(StateProblemKind.SINK_FAILED, detail, key, exc))

    def _report(self, problem: StateProblem) -> None:
        if self._counts is None:
            self._counts = dict.fromkeys(StateProblemKind, 0)
        self._counts[problem.kind] += 1
        if self._on_problem is None:
            log.warning("State: %s", problem.detail)
            return
        try:
            self._on_problem(problem)
        except Exception:
            log.exception("the State's on_problem callback raised")

    def _attach(
        self,
        *,
        on_pending: Callable[[], object] | None = None,
        on_problem: Callable[[StateProblem], object] | None = None,
    ) -> None:
        """Let the runtime hear about this State (for the runtime, not applications).

        ``on_pending()`` is called when the watcher queue goes from empty to non-empty (and at
        the end of a :meth:`run_watchers` that left firings queued), so the control lane can run
        them soon.  ``on_problem(problem)`` receives every :class:`~livehandle.StateProblem`
        (without it, problems are logged as warnings).  Both are plain functions that must not
        block; pass None to detach.  If firings are already queued, ``on_pending`` is called now.
        """
        self._on_problem = on_problem
        self._watches.on_pending = on_pending
        if on_pending is not None and self._watches.pending:
            self._watches.signal()

    # -- journal ------------------------------------------------------------------------------

    def mutations_since(self, cursor: int) -> Mutations:
        """The changes after ``cursor`` (an earlier :attr:`cursor`), oldest first.

        If the journal ring has dropped some of them, the rest come back and
        :attr:`Mutations.missed` says how many are lost (:attr:`Mutations.gap` is True).

        Raises:
            TypeError: ``cursor`` is not an int.
            ValueError: ``cursor`` is negative or beyond :attr:`cursor`.
        """
        return self._journal.since(cursor, self._cursor)

    def recent_mutations(self, n: int) -> tuple[StateMutation, ...]:
        """The latest ``n`` changes still in the journal, oldest first.

        Raises:
            TypeError, ValueError: ``n`` is not an int >= 0.
        """
        return self._journal.recent(n)

    def flush_sink(self) -> None:
        """Ask the journal sink to flush (a failure is reported, not raised)."""
        if self._sink is not None:
            try:
                self._sink.flush()
            except Exception as exc:
                self._sink_failed("flush", exc)

    def close_sink(self) -> None:
        """Close the journal sink and stop using it (a failure is reported, not raised)."""
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                sink.close()
            except Exception as exc:
                self._report(
                    StateProblem(
                        StateProblemKind.SINK_FAILED,
                        f"the journal sink {type(sink).__name__} failed to close: "
                        f"{type(exc).__name__}",
                        None,
                        exc,
                    )
                )

    def problem_counts(self) -> dict[StateProblemKind, int]:
        """How many problems of each kind this State has reported so far."""
        return dict.fromkeys(StateProblemKind, 0) if self._counts is None else dict(self._counts)

    # -- redaction, snapshots, evidence ------------------------------------------------------

    def is_redacted(self, key: str) -> bool:
        """Whether ``key`` is redacted by :attr:`StateConfig.redact_keys`."""
        check_key(key)
        return self._redacted(key)

    def snapshot_items(self) -> dict[str, JsonValue]:
        """A deep copy of every key and value except the redacted keys.

        This is what persistence saves: redacted keys are not persisted.
        """
        redacted = self._redacted
        return {k: copy_json(v) for k, v in self._values.items() if not redacted(k)}

    def to_dict(self) -> dict[str, JsonValue]:
        """A deep copy of every key and value, redacted keys included.

        For persistence, use :meth:`snapshot_items`, which leaves the redacted keys out.
        """
        return {key: copy_json(value) for key, value in self._values.items()}

    def evidence(self, key: str) -> SlotEvidence:
        """What is known about exactly ``key``: value, provenance and latest change.

        The provenance comes from ``state_meta:{key}`` (written by extractors' promotions), the
        latest change from the journal (None once the ring has dropped it).

        Raises:
            TypeError, ValueError: ``key`` is not a non-empty string.
        """
        check_key(key)
        value = self._values.get(key, ABSENT)
        present = value is not ABSENT
        return build_evidence(
            key,
            present,
            copy_json(value) if present else None,  # type: ignore[arg-type]
            self._values.get(META_PREFIX + key),
            self._journal.last_for(key),
        )

    # -- deltas and watchers ---------------------------------------------------------------------

    def delta(self) -> StateDelta:
        """A new view whose writes are buffered until :meth:`StateDelta.commit`."""
        return StateDelta(self)

    def watch(
        self, key: str, action: Callable[[StateMutation], object], when: object = "changed"
    ) -> StateWatch:
        """Run ``action(mutation)`` after each change of ``key`` that ``when`` selects.

        Every change counts, whatever made it.  ``when`` is evaluated as the change is
        written; a match queues a firing (bounded by :attr:`StateConfig.watch_queue`; a firing
        that finds it full is dropped and reported), and the action runs later, in
        :meth:`run_watchers`.

        Args:
            key: an exact key, or a prefix pattern ending in ``*`` (``"user:*"``; ``"*"`` is
                every key).
            action: called with the :class:`~livehandle.StateMutation`; if it returns an
                awaitable (an ``async def`` action), that is awaited.
            when: a :class:`~livehandle.WatchPredicate`, one of ``"changed"``,
                ``"became_true"``, ``"became_false"``, or a callable ``(old, new) -> bool``
                (a missing value is None).

        Returns:
            The handle; :meth:`StateWatch.cancel` stops it.

        Raises:
            TypeError: ``action`` is not callable, or ``when`` is of no accepted kind.
            ValueError: ``key`` is empty, or ``when`` is an unknown name.
        """
        check_key(key)
        if not callable(action):
            raise TypeError(f"a watcher action must be callable, got {type(action).__name__}")
        return self._watches.add(key, as_predicate(when), action)

    @property
    def pending_watchers(self) -> int:
        """How many firings wait for :meth:`run_watchers`."""
        return self._watches.pending

    async def run_watchers(self, timeout: float | None = None) -> int:  # noqa: ASYNC109
        # (the timeout bounds each action, not the call)
        """Run the queued watcher actions, in the order they were queued, one at a time.

        Each action is bounded by ``timeout`` seconds (:attr:`StateConfig.watcher_timeout` by
        default): on expiry it is cancelled and reported.  An exception from an action is
        reported, never raised.  Firings queued by the actions' own writes run in this call
        too, after the earlier ones; at most ``watch_queue`` actions run per call, and any left
        stay queued (``on_pending`` is called again).  Cancelled watchers are skipped.  Call it
        from one task at a time (the control lane).

        Returns:
            How many actions were started.

        Raises:
            ValueError: ``timeout`` is not a finite number > 0.
            RuntimeError: it is already running (an action called it).
        """
        if timeout is None:
            limit = self._config.watcher_timeout
        else:
            limit = positive_seconds("timeout", timeout)
        return await self._watches.run(limit)

    # -- the rest ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Values may be private (user details, tokens): show only the keys.
        return f"State(keys={self.keys()!r}, version={self._cursor})"
