"""How a session that outlives its connection reconnects: :class:`ResumePolicy`.

With ``LiveConfig(auto_resume=True)`` one :class:`~livehandle.LiveHandle` lives across any number
of connections; this policy bounds the reconnect attempts and the input buffered meanwhile.
Every check runs when a value is built and fails with a ``ValueError`` that names the field.
"""

from __future__ import annotations

import random

import attrs

from livehandle._fields import fraction, int_at_least, non_negative

__all__ = ["ResumePolicy"]


@attrs.frozen(kw_only=True)
class ResumePolicy:
    """Bounds of automatic resumption (used when ``LiveConfig.auto_resume`` is on).

    Attributes:
        max_attempts: connection attempts in a row that may fail before the session ends with
            :class:`~livehandle.ResumeFailed` (the count starts again after each success).
        backoff_initial: seconds to wait before the second attempt; the first one after a drop
            or a goAway is made at once.
        backoff_max: the longest wait between attempts (the wait doubles up to it).
        jitter: the fraction by which each wait is randomly shortened or lengthened, so that
            many sessions dropped together do not reconnect in step.
        go_away_margin: after a ``goAway``, switch connections at the latest this many seconds
            before its ``timeLeft`` runs out, even without a safe point (the server may go
            silent after a ``goAway``).
        buffer_audio_ms: the most microphone audio held for the next connection: audio sent
            during a gap, and audio not yet covered by a resumable checkpoint (on Google AI
            checkpoints come at turn and tool boundaries, so a long stretch without a turn
            fills it; about 1.3 MB per 30 s).  Beyond it the oldest audio is dropped and
            counted in ``Resumed.lost_audio_ms``.
        buffer_messages: the most other messages (text, tool responses, instructions) waiting
            for the next connection; a send beyond it waits.  They are never dropped.
        settle: how much of the newest microphone audio (in seconds of audio; it is sent at
            real pace) may still have been on its way to the server when a resumable checkpoint
            arrived (Google AI reports no consumed-message index).  If the connection is lost
            later, that audio is of unknown fate: it is not replayed and is counted in
            ``Resumed.lost_audio_ms``.  Other messages count as covered by a checkpoint only if
            the server spoke after they were written (a typed turn or a tool answer is consumed
            before the server replies to it); the rest are sent again, never dropped.  With
            ``transparent_resumption`` (Vertex) the server's consumed index decides exactly and
            this is not used.

    Raises:
        ValueError: naming the field, for a value out of its range.
    """

    max_attempts: int = attrs.field(default=6, validator=int_at_least(1))
    backoff_initial: float = attrs.field(default=0.5, validator=non_negative)
    backoff_max: float = attrs.field(default=8.0, validator=non_negative)
    jitter: float = attrs.field(default=0.25, validator=fraction)
    go_away_margin: float = attrs.field(default=5.0, validator=non_negative)
    buffer_audio_ms: int = attrs.field(default=30_000, validator=int_at_least(1))
    buffer_messages: int = attrs.field(default=256, validator=int_at_least(1))
    settle: float = attrs.field(default=0.3, validator=non_negative)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 for the first: no wait)."""
        if attempt <= 1:
            return 0.0
        base = min(float(self.backoff_initial) * 2.0 ** (attempt - 2), float(self.backoff_max))
        spread: float = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1.0 + spread))
