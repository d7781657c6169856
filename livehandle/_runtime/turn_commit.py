"""The turn-commit policy: VAD edges become committed turn signals, by audio time.

:class:`TurnCommitPolicy` holds an end of turn through short pauses and makes speech that starts
while the model talks sustain before it counts as a barge-in, so a backchannel ("mm-hm") never
interrupts.  It is pure and synchronous: it reads no clock, only the audio time its caller passes.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from livehandle._config.voice import TurnCommitConfig
from livehandle._runtime.vad import VadEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["TurnCommitPolicy", "TurnSignal"]

_SPEECH_START = VadEvent.SPEECH_START
_SPEECH_END = VadEvent.SPEECH_END


class TurnSignal(enum.Enum):
    """A turn signal committed by :class:`TurnCommitPolicy`.

    Attributes:
        ACTIVITY_START: the user took a free floor (send ``activityStart``).
        INTERRUPTION_START: the user's speech outlasted ``min_interruption_ms`` while the model
            was speaking, a deliberate barge-in (the ``activityStart`` of an interruption).
        ACTIVITY_END: the user's silence outlasted ``eot_hold_ms`` (send ``activityEnd``).
    """

    ACTIVITY_START = "activity_start"
    INTERRUPTION_START = "interruption_start"
    ACTIVITY_END = "activity_end"


class TurnCommitPolicy:
    """Turns VAD edges into committed turn signals, by audio time.

    Call :meth:`advance` once per audio chunk with the chunk's end time in milliseconds of audio
    (not wall time), the edges the detector found in it, and whether the model is speaking.
    Signals commit at that call and carry no time of their own.

    State machine (the original runtime's, see :meth:`advance`): ``turn_active`` (a start was
    committed and its end not yet), a pending end (time of the speech end being held) and a
    pending interruption (time of the speech start that must sustain).

    Args:
        config: the operating point; :meth:`TurnCommitConfig.responsive` when None.
    """

    __slots__ = ("_config", "_pending_end_at", "_pending_interruption_at", "_turn_active")

    def __init__(self, config: TurnCommitConfig | None = None) -> None:
        if config is None:
            config = TurnCommitConfig.responsive()
        elif not isinstance(config, TurnCommitConfig):
            raise ValueError(
                f"config must be a TurnCommitConfig or None, got {type(config).__name__}"
            )
        self._config = config
        self._turn_active = False
        self._pending_end_at: int | None = None
        self._pending_interruption_at: int | None = None

    @property
    def config(self) -> TurnCommitConfig:
        """The operating point."""
        return self._config

    @property
    def turn_active(self) -> bool:
        """Whether a start (activity or interruption) is committed and its end is not yet."""
        return self._turn_active

    def reset(self) -> None:
        """Forget the turn and anything pending (for a new session or after a reconnect)."""
        self._turn_active = False
        self._pending_end_at = None
        self._pending_interruption_at = None

    def advance(
        self, now_ms: int, edges: Sequence[VadEvent], model_speaking: bool
    ) -> list[TurnSignal]:
        """Apply the edges of the chunk ending at ``now_ms``, then commit what is due.

        For each edge, in order:

        * SPEECH_START cancels a pending end (the pause is bridged).  If a turn is active
          nothing more happens.  Otherwise, if the model is speaking and ``min_interruption_ms``
          is above 0, the start becomes a pending interruption at ``now_ms``; else
          INTERRUPTION_START (model speaking) or ACTIVITY_START is committed and the turn is
          active.
        * SPEECH_END discards a pending interruption (it was a backchannel); otherwise, if a turn
          is active, it becomes a pending end at ``now_ms``.

        Then a pending interruption at least ``min_interruption_ms`` old commits
        INTERRUPTION_START (turn active), and a pending end at least ``eot_hold_ms`` old commits
        ACTIVITY_END (turn over).  These checks also run after every edge, not only the last,
        so with :meth:`TurnCommitConfig.immediate` an end followed by a new start in the same
        chunk gives ACTIVITY_END then a start, one signal per edge (the original checked once
        per call and merged the two into a continuing turn).  With at most one edge per call
        the two are the same.

        Args:
            now_ms: audio time at the end of the chunk, in milliseconds; never decreasing.
            edges: the detector's edges in this chunk.
            model_speaking: whether the model holds the floor.

        Returns:
            The signals committed by this call, in order.
        """
        signals: list[TurnSignal] = []
        for edge in edges:
            if edge is _SPEECH_START:
                self._pending_end_at = None
                if self._turn_active:  # the pause is bridged; the turn goes on
                    pass
                elif model_speaking and self._config.min_interruption_ms > 0:
                    self._pending_interruption_at = now_ms
                elif model_speaking:
                    signals.append(TurnSignal.INTERRUPTION_START)
                    self._turn_active = True
                else:
                    signals.append(TurnSignal.ACTIVITY_START)
                    self._turn_active = True
            elif edge is _SPEECH_END:
                if self._pending_interruption_at is not None:
                    self._pending_interruption_at = None
                elif self._turn_active:
                    self._pending_end_at = now_ms
            else:
                raise ValueError(f"edges must hold VadEvent members, got {edge!r}")
            self._commit_due(now_ms, signals)
        self._commit_due(now_ms, signals)
        return signals

    def _commit_due(self, now_ms: int, signals: list[TurnSignal]) -> None:
        pending = self._pending_interruption_at
        if pending is not None and now_ms - pending >= self._config.min_interruption_ms:
            signals.append(TurnSignal.INTERRUPTION_START)
            self._turn_active = True
            self._pending_interruption_at = None
        pending = self._pending_end_at
        if pending is not None and now_ms - pending >= self._config.eot_hold_ms:
            signals.append(TurnSignal.ACTIVITY_END)
            self._turn_active = False
            self._pending_end_at = None
