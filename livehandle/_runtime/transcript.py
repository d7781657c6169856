"""TranscriptBuffer: the conversation as turns, kept by the control lane.

Every transcription fragment of a turn is accumulated (none is lost to a later one), and a typed
turn is recorded as typed and never overwritten by transcription.  A turn ends at TurnComplete;
an interrupted turn is marked as such and keeps what the user heard.  The tool calls answered
during a turn are kept with it as short summaries (for extractors).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable

import attrs

from livehandle._extract.turns import SUMMARY_CHARS, ToolCallSummary, TranscriptTurn
from livehandle._logs import library_logger

__all__ = ["MAX_TOOL_CALLS_PER_TURN", "TranscriptBuffer", "TranscriptTurn"]

log = library_logger("livehandle.runtime")

#: The most tool-call summaries one turn keeps: past it, the oldest of the turn are dropped
#: (logged at DEBUG level), the newest being what extractors most need.
MAX_TOOL_CALLS_PER_TURN = 16


def _compact(value: object) -> str:
    """``value`` as short text: a string as it is, anything else as compact JSON (or its repr)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    # Cut before scrubbing, with room for a credential to be recognised whole.
    return text[: SUMMARY_CHARS * 4]


@attrs.define(eq=False)
class TranscriptBuffer:
    """The current turn being assembled plus the most recent finished turns (bounded).

    ``scrub`` (the endpoint's credential scrubber) is applied to each side of a turn once its
    fragments are joined: a credential echoed across two fragments is whole only there.
    """

    max_turns: int = 1000
    scrub: Callable[[str], str] | None = None
    # made at the first finished (or restored) turn: an idle session keeps no deque
    _turns: deque[TranscriptTurn] | None = attrs.field(init=False, default=None)
    # The turn's parts: empty tuples until their first item (an idle turn keeps no lists).
    _typed: list[str] | tuple[()] = attrs.field(init=False, default=())
    _spoken: list[str] | tuple[()] = attrs.field(init=False, default=())
    _model: list[str] | tuple[()] = attrs.field(init=False, default=())
    _interrupted: bool = attrs.field(init=False, default=False)
    # the newest 20
    _tool_calls: list[ToolCallSummary] | tuple[()] = attrs.field(init=False, default=())
    _count: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")

    def _kept(self) -> deque[TranscriptTurn]:
        if self._turns is None:
            self._turns = deque(maxlen=self.max_turns)
        return self._turns

    def add_typed(self, text: str) -> None:
        """The user typed ``text`` (recorded after it was sent)."""
        if isinstance(self._typed, list):
            self._typed.append(text)
        else:
            self._typed = [text]

    def add_user_speech(self, fragment: str) -> None:
        """A fragment of the transcript of the user's speech."""
        if isinstance(self._spoken, list):
            self._spoken.append(fragment)
        else:
            self._spoken = [fragment]

    def add_model_speech(self, fragment: str) -> None:
        """A fragment of the transcript (or text) of the model's output."""
        if isinstance(self._model, list):
            self._model.append(fragment)
        else:
            self._model = [fragment]

    def add_tool_call(self, name: str, args: object, result: object) -> None:
        """A tool call of this turn was answered: keep a summary of it with the turn.

        ``args`` and ``result`` (strings, or JSON-ready values written as compact JSON) are
        scrubbed and cut to 200 characters.  A turn keeps at most
        :data:`MAX_TOOL_CALLS_PER_TURN` summaries; past that the oldest are dropped.
        """
        calls = self._tool_calls
        if not isinstance(calls, list):
            calls = self._tool_calls = []
        if len(calls) == MAX_TOOL_CALLS_PER_TURN:
            log.debug(
                "turn %d made more than %d tool calls; the oldest summary is dropped",
                self._count + 1,
                MAX_TOOL_CALLS_PER_TURN,
            )
            del calls[0]
        calls.append(
            ToolCallSummary(name, self._scrubbed(_compact(args)), self._scrubbed(_compact(result)))
        )

    def mark_interrupted(self) -> None:
        """The model's output in this turn was cut short by a barge-in."""
        self._interrupted = True

    @property
    def user_text(self) -> str:
        """The user side of the turn so far: typed text, then speech."""
        parts = [" ".join(self._typed), "".join(self._spoken).strip()]
        return self._scrubbed(" ".join(part for part in parts if part))

    @property
    def model_text(self) -> str:
        """The model side of the turn so far."""
        return self._scrubbed("".join(self._model).strip())

    def _scrubbed(self, text: str) -> str:
        return text if self.scrub is None or not text else self.scrub(text)

    def finish_turn(self) -> TranscriptTurn:
        """Close the current turn, keep it, and start a new one."""
        turn = self.current_turn()
        self._count += 1
        self._kept().append(turn)
        self._typed = self._spoken = self._model = self._tool_calls = ()
        self._interrupted = False
        return turn

    def current_turn(self) -> TranscriptTurn:
        """The turn in progress as it stands (not kept): for a window that includes it."""
        return TranscriptTurn(
            self._count + 1,
            self.user_text,
            self.model_text,
            bool(self._typed),
            self._interrupted,
            tuple(self._tool_calls),
        )

    def restore(self, turns: list[TranscriptTurn] | tuple[TranscriptTurn, ...], count: int) -> None:
        """Start from saved ``turns`` (a restored session), ``count`` turns finished so far.

        Only the newest ``max_turns`` are kept, as always; the next turn is numbered
        ``count + 1``.

        Raises:
            ValueError: ``count`` is smaller than the number of turns given.
        """
        if count < len(turns):
            raise ValueError(f"turn count {count} is smaller than the {len(turns)} turns given")
        kept = self._kept()
        kept.clear()
        kept.extend(turns)
        self._count = count

    @property
    def count(self) -> int:
        """How many turns finished since the session began (not only those kept)."""
        return self._count

    def window(self, size: int, *, include_current: bool = False) -> list[TranscriptTurn]:
        """The last ``size`` finished turns, oldest first (an extractor's window).

        With ``include_current``, the turn in progress counts as the newest of them (for an
        extractor that runs when the model finishes generating, before the turn completes).

        Raises:
            ValueError: ``size`` is less than 1.
        """
        if size < 1:
            raise ValueError(f"a window holds at least 1 turn, got {size}")
        if include_current:
            finished = self.turns[-(size - 1) :] if size > 1 else []
            return [*finished, self.current_turn()]
        return self.turns[-size:]

    @property
    def turns(self) -> list[TranscriptTurn]:
        """The finished turns still kept, oldest first."""
        return [] if self._turns is None else list(self._turns)
