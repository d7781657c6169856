"""The finished turns of a conversation, as the transcript keeps them and extractors read them."""

from __future__ import annotations

import attrs

__all__ = ["SUMMARY_CHARS", "ToolCallSummary", "TranscriptTurn"]

#: The longest a :class:`ToolCallSummary`'s ``args`` or ``result`` text is kept (characters).
SUMMARY_CHARS = 200


def _summary_text(value: object) -> str:
    """``value`` (a string) cut to :data:`SUMMARY_CHARS`, its last character an ellipsis if cut."""
    if not isinstance(value, str):
        raise TypeError(f"a tool call summary is a string, got {type(value).__name__}")
    if len(value) <= SUMMARY_CHARS:
        return value
    return value[: SUMMARY_CHARS - 1] + "\u2026"


@attrs.frozen
class ToolCallSummary:
    """A tool call made during a turn, short enough to show an extractor.

    Attributes:
        name: the tool's name.
        args: the arguments as compact JSON text, cut to 200 characters (the last one ``…``
            when cut).
        result: what the model was answered, as compact JSON text, cut the same way.

    Raises:
        TypeError: a field is not a string.
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    args: str = attrs.field(converter=_summary_text)
    result: str = attrs.field(converter=_summary_text)


def _summaries(value: object) -> tuple[ToolCallSummary, ...]:
    items = tuple(value) if isinstance(value, list | tuple) else None
    if items is None or not all(isinstance(item, ToolCallSummary) for item in items):
        raise TypeError(f"tool_calls must be a sequence of ToolCallSummary, got {value!r}")
    return items


@attrs.frozen
class TranscriptTurn:
    """One finished exchange: what the user said or typed, and what the model said.

    Attributes:
        index: the turn's number in the session, from 1.
        user: the user's side: typed text, then the transcript of their speech.
        model: the model's side: the transcript of its speech, or its text.
        typed: the user's side was typed (not only spoken).
        interrupted: the model's output was cut short by a barge-in.
        tool_calls: the tool calls answered during the turn, oldest first (snapshots written
            before this field existed load with none).
    """

    index: int
    user: str
    model: str
    typed: bool = False
    interrupted: bool = False
    tool_calls: tuple[ToolCallSummary, ...] = attrs.field(default=(), converter=_summaries)
