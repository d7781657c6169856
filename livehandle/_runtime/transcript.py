"""TranscriptBuffer: the conversation as turns, kept by the control lane.

Every transcription fragment of a turn is accumulated (none is lost to a later one), and a typed
turn is recorded as typed and never overwritten by transcription.  A turn ends at TurnComplete;
an interrupted turn is marked as such and keeps what the user heard.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import attrs

from livehandle._extract.turns import TranscriptTurn

__all__ = ["TranscriptBuffer", "TranscriptTurn"]


@attrs.define(eq=False)
class TranscriptBuffer:
    """The current turn being assembled plus the most recent finished turns (bounded).

    ``scrub`` (the endpoint's credential scrubber) is applied to each side of a turn once its
    fragments are joined: a credential echoed across two fragments is whole only there.
    """

    max_turns: int = 1000
    scrub: Callable[[str], str] | None = None
    _turns: deque[TranscriptTurn] = attrs.field(init=False)
    _typed: list[str] = attrs.field(init=False, factory=list)
    _spoken: list[str] = attrs.field(init=False, factory=list)
    _model: list[str] = attrs.field(init=False, factory=list)
    _interrupted: bool = attrs.field(init=False, default=False)
    _count: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        self._turns = deque(maxlen=self.max_turns)

    def add_typed(self, text: str) -> None:
        """The user typed ``text`` (recorded after it was sent)."""
        self._typed.append(text)

    def add_user_speech(self, fragment: str) -> None:
        """A fragment of the transcript of the user's speech."""
        self._spoken.append(fragment)

    def add_model_speech(self, fragment: str) -> None:
        """A fragment of the transcript (or text) of the model's output."""
        self._model.append(fragment)

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
        self._count += 1
        turn = TranscriptTurn(
            self._count, self.user_text, self.model_text, bool(self._typed), self._interrupted
        )
        self._turns.append(turn)
        self._typed.clear()
        self._spoken.clear()
        self._model.clear()
        self._interrupted = False
        return turn

    def restore(self, turns: list[TranscriptTurn] | tuple[TranscriptTurn, ...], count: int) -> None:
        """Start from saved ``turns`` (a restored session), ``count`` turns finished so far.

        Only the newest ``max_turns`` are kept, as always; the next turn is numbered
        ``count + 1``.

        Raises:
            ValueError: ``count`` is smaller than the number of turns given.
        """
        if count < len(turns):
            raise ValueError(f"turn count {count} is smaller than the {len(turns)} turns given")
        self._turns.clear()
        self._turns.extend(turns)
        self._count = count

    @property
    def count(self) -> int:
        """How many turns finished since the session began (not only those kept)."""
        return self._count

    @property
    def turns(self) -> list[TranscriptTurn]:
        """The finished turns still kept, oldest first."""
        return list(self._turns)
