"""ExtractionRunner: which extractors are due at a moment, running them, applying their results.

The engine knows nothing of sessions or lanes: the turn pipeline asks :meth:`ExtractionRunner.due`
which extractors to run, hands them to :meth:`ExtractionRunner.run` with the transcript window
and the state, and publishes the events it returns, in order.

Guarantees of :meth:`~ExtractionRunner.run`:

* the extractors run concurrently, each bounded by its timeout (a stuck one is cancelled and
  reported as an ``ExtractionError``, it never holds up the others past its own timeout);
* whatever an extractor does (raise, time out, return a value of the wrong type) becomes an
  ``ExtractionError`` event; only cancellation from outside propagates;
* results are applied in registration order, whatever order they finish in, so the state and
  the events are the same from run to run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs
import trio

from livehandle._convert import JsonValue, StructureError, structure, to_json_value, type_name
from livehandle._errors import ExtractionFailed
from livehandle._events import LiveEvent
from livehandle._extract.decorator import DEFAULT_TIMEOUT
from livehandle._extract.promotion import Promotion, apply_promotions, check_promotions
from livehandle._extract.protocol import ExtractionTrigger, TriggerKind, TurnExtractor
from livehandle._extract.turns import TranscriptTurn

if TYPE_CHECKING:
    from livehandle._state import State

__all__ = ["ExtractionRunner"]

_T = TypeVar("_T")
WindowOf = Callable[[int], Sequence[TranscriptTurn]]
_MOMENTS = (TriggerKind.EVERY_TURN, TriggerKind.GENERATION_COMPLETE)


@attrs.frozen
class _Entry:
    """A registered extractor and the options the runner reads from it once."""

    extractor: TurnExtractor
    name: str
    window: int
    trigger: ExtractionTrigger
    promotions: tuple[Promotion, ...]
    timeout: float
    result_type: Any  # None when the extractor declares none


@attrs.frozen
class _Done:
    value: object


def _entry(item: object, default_timeout: float, index: int) -> _Entry:
    if not isinstance(item, TurnExtractor):
        raise TypeError(
            f"extractors[{index}]: expected a function decorated with @livehandle.extractor, a"
            f" livehandle.LlmExtractor or another TurnExtractor (name, window, trigger,"
            f" should_extract and async extract), got {type(item).__name__}, which is not a turn"
            " extractor"
        )
    # Read as plain objects: a hand-written class may not hold what its annotations say.
    name: object = item.name
    window: object = item.window
    trigger: object = item.trigger
    if not isinstance(name, str) or not name:
        raise ValueError(f"extractors[{index}]: the name must be a non-empty string")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"extractor {name!r}: window must be an int of at least 1")
    if not isinstance(trigger, ExtractionTrigger):
        raise TypeError(f"extractor {name!r}: trigger must be an ExtractionTrigger")
    timeout = getattr(item, "timeout", None)
    timeout = default_timeout if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"extractor {name!r}: timeout must be a positive number of seconds")
    promotions = check_promotions(name, tuple(getattr(item, "promotions", ()) or ()), None)
    return _Entry(
        item, name, window, trigger, promotions, float(timeout), getattr(item, "result_type", None)
    )


class ExtractionRunner:
    """Runs a session's turn extractors and keeps the latest value of each.

    Not thread-safe; use it from the Trio thread (the control lane).

    Args:
        extractors: the extractors, in registration order (the order results are applied in).
        default_timeout: seconds an extractor that declares no ``timeout`` may take.

    Raises:
        TypeError: an item is not a :class:`~livehandle.TurnExtractor`.
        ValueError: two extractors have the same name, or one has an invalid name, window,
            timeout or promotion.
    """

    __slots__ = ("_entries", "_latest")

    def __init__(
        self, extractors: Iterable[TurnExtractor] = (), *, default_timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if not (default_timeout > 0 and math.isfinite(default_timeout)):
            raise ValueError("default_timeout must be a positive, finite number of seconds")
        self._entries: dict[str, _Entry] = {}
        for index, item in enumerate(extractors):
            entry = _entry(item, default_timeout, index)
            if entry.name in self._entries:
                raise ValueError(f"extractors: two extractors are named {entry.name!r}")
            self._entries[entry.name] = entry
        self._latest: dict[str, JsonValue] = {}

    @property
    def extractors(self) -> list[TurnExtractor]:
        """The extractors, in registration order."""
        return [entry.extractor for entry in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ExtractionRunner(extractors={list(self._entries)!r})"

    # -- when ----------------------------------------------------------------------------------

    def due(
        self, kind: TriggerKind, turn_count: int, tool_called_since_last_boundary: bool = False
    ) -> list[TurnExtractor]:
        """The extractors to run now, in registration order.

        Args:
            kind: the moment: ``TriggerKind.EVERY_TURN`` for a turn boundary (a completed turn;
                every-turn, interval and after-tool-call extractors are considered) or
                ``TriggerKind.GENERATION_COMPLETE`` (only extractors with that trigger).
            turn_count: the number of the turn just completed, from 1 (an ``every(n)``
                extractor is due when it is a multiple of ``n``).
            tool_called_since_last_boundary: a tool call was answered since the previous turn
                boundary (after-tool-call extractors are due only then).

        Raises:
            ValueError: ``kind`` is not one of the two moments, or ``turn_count`` is negative.
        """
        if kind not in _MOMENTS:
            raise ValueError(
                f"due() takes TriggerKind.EVERY_TURN (a turn boundary) or"
                f" TriggerKind.GENERATION_COMPLETE, got {kind!r}"
            )
        count: object = turn_count  # checked as a plain object: callers may pass anything
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"turn_count must be a non-negative int, got {turn_count!r}")
        return [
            entry.extractor
            for entry in self._entries.values()
            if _is_due(entry.trigger, kind, turn_count, tool_called_since_last_boundary)
        ]

    # -- running -------------------------------------------------------------------------------

    async def run(
        self, due: Sequence[TurnExtractor], window_of: WindowOf, state: State
    ) -> list[LiveEvent]:
        r"""Run ``due`` (from :meth:`due`) on their windows; apply the results to ``state``.

        ``window_of(n)`` gives the last ``n`` turns.  An extractor whose window is empty, or
        whose ``should_extract`` says no, is skipped (no event).  The rest run concurrently,
        each within its timeout.  Then, in registration order, each result is stored (``state
        [name]``, its JSON form) and its promotions applied; a result of None means "nothing
        found" and changes nothing.

        Returns:
            The events to publish, in order: per extractor, ``Extraction`` then its
            ``StatePromotion``\ s, or one ``ExtractionError``.

        Raises:
            ValueError: an extractor in ``due`` is not registered with this runner.
        """
        chosen = {self._registered(item).name for item in due}
        entries = [entry for name, entry in self._entries.items() if name in chosen]
        slots: list[_Done | ExtractionFailed | None] = [None] * len(entries)
        jobs: list[tuple[int, _Entry, tuple[TranscriptTurn, ...]]] = []
        for index, entry in enumerate(entries):
            window = tuple(window_of(entry.window))
            if not window:
                continue
            try:
                wanted = entry.extractor.should_extract(window)
            except Exception as exc:
                slots[index] = _failure(entry.name, "should_extract raised", exc)
                continue
            if wanted:
                jobs.append((index, entry, window))
        if jobs:
            async with trio.open_nursery() as nursery:
                for index, entry, window in jobs:
                    nursery.start_soon(_run_one, entry, window, slots, index)
        events: list[LiveEvent] = []
        for entry, slot in zip(entries, slots, strict=True):
            if isinstance(slot, ExtractionFailed):
                events.append(LiveEvent.ExtractionError(entry.name, slot))
            elif isinstance(slot, _Done):
                events.extend(self._apply(entry, slot.value, state))
        return events

    def _registered(self, item: TurnExtractor) -> _Entry:
        name = getattr(item, "name", None)
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None or entry.extractor is not item:
            raise ValueError(f"{item!r} is not one of this runner's extractors")
        return entry

    def _apply(self, entry: _Entry, value: object, state: State) -> list[LiveEvent]:
        name = entry.name
        try:
            result = to_json_value(value, what=f"extractor {name!r} result")
        except (TypeError, ValueError) as exc:
            return [
                LiveEvent.ExtractionError(name, _failure(name, "its result has no JSON form:", exc))
            ]
        if result is None:
            return []
        try:
            state.set(name, result)
        except Exception as exc:
            return [
                LiveEvent.ExtractionError(
                    name, _failure(name, "the state refused its result:", exc)
                )
            ]
        self._latest[name] = result
        events: list[LiveEvent] = [LiveEvent.Extraction(name, to_json_value(result))]
        if entry.promotions:  # on a copy: a predicate cannot change what was stored
            events.extend(apply_promotions(name, entry.promotions, to_json_value(result), state))
        return events

    # -- results -------------------------------------------------------------------------------

    @overload
    def latest(self, name: str, type: None = None) -> Any: ...
    @overload
    def latest(self, name: str, type: type[_T]) -> _T | None: ...

    def latest(self, name: str, type: object = None) -> Any:
        """The latest value extractor ``name`` produced; None if it has produced none yet.

        With ``type``, the value is structured into it strictly (by the rules
        :meth:`State.get <livehandle.State.get>` reads by).  Without, it is given in the
        extractor's declared result type when it has one (``@extractor``), else as JSON.

        Raises:
            ValueError: no extractor is named ``name``; or the value has the right kind but a
                bad value for ``type``.
            TypeError: the value is of a kind ``type`` does not take.
        """
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(repr(known) for known in self._entries) or "none"
            raise ValueError(f"no extractor is named {name!r} (the extractors: {known})")
        if name not in self._latest:
            return None
        target = type if type is not None else entry.result_type
        value = to_json_value(self._latest[name])  # a fresh copy
        if target is None:
            return value
        try:
            return structure(value, target)
        except StructureError as exc:
            raise exc.error(f"extracted {name!r} cannot be read as {type_name(target)}") from None

    def restore(self, state: State) -> None:
        """Take each extractor's latest value from ``state`` (a restored session's state)."""
        for name in self._entries:
            if name not in state.keys(name):  # the key itself: never a derived: fallback
                continue
            value = state.get(name)
            if value is not None:
                self._latest[name] = value


def _is_due(trigger: ExtractionTrigger, kind: TriggerKind, turn: int, tool_called: bool) -> bool:
    if kind is TriggerKind.GENERATION_COMPLETE:
        return trigger.kind is TriggerKind.GENERATION_COMPLETE
    if trigger.kind is TriggerKind.EVERY_TURN:
        return True
    if trigger.kind is TriggerKind.INTERVAL:
        return turn >= 1 and turn % trigger.interval == 0
    if trigger.kind is TriggerKind.AFTER_TOOL_CALL:
        return tool_called
    return False


def _failure(name: str, what: str, exc: BaseException) -> ExtractionFailed:
    if isinstance(exc, ExtractionFailed) and exc.extractor == name:
        return exc
    detail = str(exc) or "(no message)"
    return ExtractionFailed(name, f"{what} {type(exc).__name__}: {detail}", exc)


async def _run_one(
    entry: _Entry,
    window: tuple[TranscriptTurn, ...],
    slots: list[_Done | ExtractionFailed | None],
    index: int,
) -> None:
    """Run one extractor within its timeout; put its outcome in ``slots[index]``."""
    outcome: _Done | ExtractionFailed | None = None
    with trio.move_on_after(entry.timeout) as scope:
        try:
            outcome = _Done(await entry.extractor.extract(window))
        except Exception as exc:
            outcome = _failure(entry.name, "raised", exc)
    if scope.cancelled_caught or outcome is None:
        cause = TimeoutError(f"no result within {entry.timeout:g} s")
        outcome = ExtractionFailed(
            entry.name, f"timed out after {entry.timeout:g} s", cause, timed_out=True
        )
    slots[index] = outcome
