"""What a turn extractor is (:class:`TurnExtractor`); when it runs (:class:`ExtractionTrigger`)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livehandle._extract.turns import TranscriptTurn

__all__ = ["ExtractionTrigger", "TriggerKind", "TurnExtractor"]


class TriggerKind(enum.Enum):
    """The moments an extractor can run at (see :class:`ExtractionTrigger`)."""

    EVERY_TURN = "every_turn"
    INTERVAL = "interval"
    AFTER_TOOL_CALL = "after_tool_call"
    GENERATION_COMPLETE = "generation_complete"


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class ExtractionTrigger:
    """When an extractor runs.

    Use the constants and :meth:`every`:

    * ``ExtractionTrigger.EVERY_TURN`` (the default): at every turn boundary;
    * ``ExtractionTrigger.every(n)``: at every ``n``-th turn boundary (turns ``n``, ``2n``, ...);
    * ``ExtractionTrigger.AFTER_TOOL_CALL``: at the first turn boundary after a tool call;
    * ``ExtractionTrigger.GENERATION_COMPLETE``: when the model finishes generating, before the
      turn is complete, with the turn in progress as the window's newest entry.

    Attributes:
        kind: which moment.
        interval: for ``INTERVAL``, every how many turns (1 for the other kinds).
    """

    kind: TriggerKind = attrs.field(validator=attrs.validators.instance_of(TriggerKind))
    interval: int = attrs.field(default=1, validator=_positive)

    EVERY_TURN: ClassVar[ExtractionTrigger]
    AFTER_TOOL_CALL: ClassVar[ExtractionTrigger]
    GENERATION_COMPLETE: ClassVar[ExtractionTrigger]

    @classmethod
    def every(cls, turns: int) -> ExtractionTrigger:
        """At every ``turns``-th turn boundary.

        Raises:
            TypeError: ``turns`` is not an int.
            ValueError: ``turns`` is less than 1.
        """
        return cls(TriggerKind.INTERVAL, turns)


ExtractionTrigger.EVERY_TURN = ExtractionTrigger(TriggerKind.EVERY_TURN)
ExtractionTrigger.AFTER_TOOL_CALL = ExtractionTrigger(TriggerKind.AFTER_TOOL_CALL)
ExtractionTrigger.GENERATION_COMPLETE = ExtractionTrigger(TriggerKind.GENERATION_COMPLETE)


@runtime_checkable
class TurnExtractor(Protocol):
    """Draws a value from the last turns of the conversation, at a turn boundary.

    The runtime runs every extractor whose :attr:`trigger` is due, concurrently, each bounded by
    a timeout; the result is stored in the session's state under :attr:`name` and published as
    ``LiveEvent.Extraction``.  Make one with :func:`~livehandle.extractor` from an async function,
    use ``LlmExtractor``, or write a class with these members.

    Optional members, read once when the session starts: ``promotions`` (a sequence of
    :class:`~livehandle.Promotion` rules, default none), ``timeout`` (seconds :meth:`extract`
    may take, default 10) and ``result_type`` (the type ``handle.extracted(name)`` gives the
    value in when no type is asked for; default: its JSON form).
    """

    @property
    def name(self) -> str:
        """The extractor's name: the state key its result is stored under."""
        ...

    @property
    def window(self) -> int:
        """How many of the last completed turns :meth:`extract` is given (at least 1)."""
        ...

    @property
    def trigger(self) -> ExtractionTrigger:
        """When it runs."""
        ...

    def should_extract(self, window: Sequence[TranscriptTurn]) -> bool:
        """Whether to run on this window (called only when the trigger is due)."""
        ...

    async def extract(self, window: Sequence[TranscriptTurn]) -> object:
        """The value drawn from ``window``: a JSON value or a typed object (attrs, dataclass)."""
        ...
