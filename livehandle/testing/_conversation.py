"""What the emulated model remembers, and the checkpoints that resumption handles name.

A :class:`Conversation` is the model's memory on whichever connection is attached to it now.  A
:class:`Checkpoint` is a frozen copy of that memory, taken only at a turn or tool boundary (or, in
Vertex transparent mode, at a quiet point); each ``sessionResumptionUpdate`` with a new handle
names exactly one.  Resuming restores the conversation from the checkpoint, so whatever the old
connection consumed after it is gone, as on the real server (wire-protocol.md §3.6: "resuming from
an older handle then loses data").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import attrs

from livehandle._wire import messages as m
from livehandle.testing._scenario import Step, UserTurn

__all__ = [
    "Checkpoint",
    "Conversation",
    "PendingReply",
    "Stop",
    "prompt_tokens",
    "stopping",
    "text_of",
    "text_tokens",
]

#: Input token rates (wire-protocol.md §3.7: audio about 25 tokens/s, video about 258 tokens/s,
#: one frame a second at most, §5.1).  Text is estimated at 4 characters a token.
AUDIO_TOKENS_PER_SECOND = 25
VIDEO_TOKENS_PER_FRAME = 258
MIC_BYTES_PER_SECOND = 32000  # 16 kHz, 16-bit mono (wire-protocol.md §5.1)
BASE_PROMPT_TOKENS = 8


@attrs.frozen
class PendingReply:
    """The rest of a reply that waits at a tool boundary (kept in a checkpoint, private)."""

    turn: UserTurn
    rest: tuple[Step, ...]  # the steps after the CallTools step
    said: tuple[str, ...]
    values: tuple[tuple[str, str], ...]
    blocking: tuple[m.FunctionCall, ...]  # the calls the reply waits for


@attrs.frozen
class Checkpoint:
    """A frozen copy of what the model remembered when a resumable handle was issued.

    Taken after ``turnComplete`` (a turn boundary), right after a ``toolCall`` the model waits for
    (a tool boundary), at the start of every connection that asked for resumption, and, in Vertex
    transparent mode with :attr:`Scenario.checkpoint_every_messages`, at quiet points.  Never
    while the model is generating.

    Attributes:
        handle: the resumption handle that names this checkpoint.
        conversation: the :attr:`Conversation.id` it belongs to.
        connection: the index of the connection that took it
            (in :attr:`~livehandle.testing.LiveEmulator.connections`).
        taken_at: Trio time when it was taken.
        consumed_index: the index of the last client message included, counting the messages
            after ``setup`` on the connection that took it from 1 (``setup`` itself is 0; 0 means
            none of that connection's messages).  This is what Vertex transparent mode reports
            as ``lastConsumedClientMessageIndex``; it equals a position in that connection's
            :attr:`~livehandle.testing.EmulatorConnection.received`.
        instruction, history, instructions, turns, audio_bytes, video_frames, heard_tokens,
            answered: the :class:`Conversation` attributes of the same names, as they were.
        rule_uses: how often each scenario rule had been used, as ``(rule index, uses)`` pairs.
        tool_calls: the calls the model had issued and still waited for; a connection resuming
            from this checkpoint issues them again, with the same ids.
    """

    handle: str
    conversation: int
    connection: int
    taken_at: float
    consumed_index: int
    instruction: str
    history: tuple[tuple[str, str], ...]
    instructions: tuple[str, ...]
    rule_uses: tuple[tuple[int, int], ...]
    turns: int
    audio_bytes: int
    answered: tuple[UserTurn, ...]
    tool_calls: tuple[m.FunctionCall, ...] = ()
    reply: PendingReply | None = attrs.field(default=None, repr=False)
    video_frames: int = 0
    heard_tokens: int = 0


def _closed() -> bool:
    return False


@attrs.define(eq=False)
class Conversation:
    """What the model remembers, in one lineage of connections (fresh, then resumed).

    One object per conversation, shared by every connection that resumes it; a resume restores
    its memory from the checkpoint the handle names (so its counters are those of the lineage
    that leads to the current connection, not a sum over every connection).

    Attributes:
        id: 1, 2, ... in the order conversations were started.
        instruction: the system instruction in force.
        history: ``(role, text)`` entries: user and model turns, tool results.
        instructions: every instruction set so far, in order.
        rule_uses: scenario rule index -> times used.
        turns: replies finished (answered or interrupted).
        audio_bytes: bytes of client audio (``realtimeInput`` audio) the model consumed.  A
            resume restarts from the checkpoint's count, so after a lossless resume it counts
            every byte exactly once.
        video_frames: ``realtimeInput`` video frames the model consumed (counted the same way).
        heard_tokens: the text-token estimate of the speech transcripts in :attr:`history`
            (the usage counts speech as AUDIO tokens, so these are not TEXT tokens).
        answered: the user turns answered to the end (``turnComplete`` not after
            ``interrupted``), in order; e.g. ``[t.text for t in answered if t.kind == "text"]``.
        handles: resumption handles minted so far (never rewound).
        connection: the index of the connection attached now (or last), in
            :attr:`~livehandle.testing.LiveEmulator.connections`.
    """

    id: int
    instruction: str = ""
    history: list[tuple[str, str]] = attrs.field(factory=list)
    instructions: list[str] = attrs.field(factory=list)
    rule_uses: dict[int, int] = attrs.field(factory=dict)
    turns: int = 0
    audio_bytes: int = 0
    video_frames: int = 0
    heard_tokens: int = 0
    answered: list[UserTurn] = attrs.field(factory=list)
    handles: int = 0
    connection: int | None = None
    pending: PendingReply | None = attrs.field(default=None, repr=False)
    resumed_calls: tuple[m.FunctionCall, ...] = attrs.field(default=(), repr=False)
    _is_open: Callable[[], bool] = attrs.field(default=_closed, repr=False, alias="_is_open")

    @property
    def attached(self) -> bool:
        """A connection of this conversation is still open (the emulator has not seen it end)."""
        return self._is_open()

    def attach(self, connection: int, is_open: Callable[[], bool]) -> None:
        """Hand the conversation to ``connection`` (used by the engine)."""
        self.connection = connection
        self._is_open = is_open

    def set_instruction(self, text: str) -> None:
        self.instruction = text
        self.instructions.append(text)

    def snapshot(
        self, handle: str, connection: int, at: float, consumed: int, **tools: Any
    ) -> Checkpoint:
        """A :class:`Checkpoint` of the memory now (``tools``: tool_calls, reply)."""
        return Checkpoint(
            handle=handle,
            conversation=self.id,
            connection=connection,
            taken_at=at,
            consumed_index=consumed,
            instruction=self.instruction,
            history=tuple(self.history),
            instructions=tuple(self.instructions),
            rule_uses=tuple(sorted(self.rule_uses.items())),
            turns=self.turns,
            audio_bytes=self.audio_bytes,
            video_frames=self.video_frames,
            heard_tokens=self.heard_tokens,
            answered=tuple(self.answered),
            **tools,
        )

    def restore(self, checkpoint: Checkpoint) -> None:
        """Become what ``checkpoint`` remembers (a resume); later memory is lost."""
        self.instruction = checkpoint.instruction
        self.history = list(checkpoint.history)
        self.instructions = list(checkpoint.instructions)
        self.rule_uses = dict(checkpoint.rule_uses)
        self.turns = checkpoint.turns
        self.audio_bytes = checkpoint.audio_bytes
        self.video_frames = checkpoint.video_frames
        self.heard_tokens = checkpoint.heard_tokens
        self.answered = list(checkpoint.answered)
        self.pending = checkpoint.reply
        self.resumed_calls = checkpoint.tool_calls


class Stop(Exception):
    """The connection is gone (closed, dropped); stop the current reply."""


def stopping() -> contextlib.suppress:
    """Where a closed connection simply ends the work at hand."""
    return contextlib.suppress(Stop)


def text_of(content: m.Content | None) -> str:
    if content is None:
        return ""
    return "".join(part.text for part in content.parts if part.text)


def text_tokens(text: str) -> int:
    """The emulator's token estimate for one piece of text."""
    return len(text) // 4 + 1


def prompt_tokens(conversation: Conversation) -> dict[str, int]:
    """The prompt's tokens per modality, as ``usageMetadata.promptTokensDetails`` reports them.

    TEXT for the instruction and the typed turns, tool results and model replies in the
    history; AUDIO for the speech the model heard (all realtime audio it consumed); VIDEO for
    realtime video frames.  Modalities with no tokens are left out.
    """
    text = BASE_PROMPT_TOKENS + len(conversation.instruction) // 4
    text += sum(text_tokens(entry) for _, entry in conversation.history)
    text -= conversation.heard_tokens
    counts = {
        "TEXT": text,
        "AUDIO": conversation.audio_bytes * AUDIO_TOKENS_PER_SECOND // MIC_BYTES_PER_SECOND,
        "VIDEO": conversation.video_frames * VIDEO_TOKENS_PER_FRAME,
    }
    return {modality: count for modality, count in counts.items() if count > 0}
