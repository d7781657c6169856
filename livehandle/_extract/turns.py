"""The finished turns of a conversation, as the transcript keeps them and extractors read them."""

from __future__ import annotations

import attrs

__all__ = ["TranscriptTurn"]


@attrs.frozen
class TranscriptTurn:
    """One finished exchange: what the user said or typed, and what the model said.

    Attributes:
        index: the turn's number in the session, from 1.
        user: the user's side: typed text, then the transcript of their speech.
        model: the model's side: the transcript of its speech, or its text.
        typed: the user's side was typed (not only spoken).
        interrupted: the model's output was cut short by a barge-in.
    """

    index: int
    user: str
    model: str
    typed: bool = False
    interrupted: bool = False
