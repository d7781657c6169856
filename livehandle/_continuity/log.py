"""The replay log: every client message the server may not have, in wire order.

A resumption handle names a checkpoint the server took at a turn or tool boundary.  Resuming from
it restores the conversation as it was then, so what the client sent after the checkpoint must be
sent again on the new connection.  :class:`ReplayLog` keeps those messages:

* a message *queued* on the current connection gets its number there (1 for the first message
  after ``setup``), in the order the connection accepted it, which is the order on the wire;
* a resumable checkpoint trims the log.  With Vertex transparent resumption the server says which
  message it consumed last (``lastConsumedClientMessageIndex``) and the log drops exactly those.
  Without it, the log drops what the connection had written when the checkpoint arrived, except
  the newest ``settle`` seconds of microphone audio among them, which may still have been on its
  way to the server (audio is sent at real pace, so its duration measures how recent it is);
* when the connection is lost, what is left goes out again on the next one, in order.  Audio whose
  fate cannot be known (written in the settle window) is not replayed: it is counted as lost.
  Text, tool responses and instructions are always replayed.

Nothing here runs per written batch: the connection counts what it wrote, and a checkpoint reads
that count.  Bounds: audio held is limited (``audio_limit`` bytes); beyond it the oldest audio is
dropped and counted (lost for certain if it was never sent; lost only if a resume follows if it
was already on the wire).  Other messages are never dropped: :meth:`ReplayLog.message_room`
tells the sender whether it may add one more without waiting.  Everything is synchronous, so in
Trio each call is atomic with respect to other tasks.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from livehandle._wire import messages as m

__all__ = ["AUDIO", "INDEX", "MESSAGE", "TEXT", "Entry", "ReplayLog", "new_entry"]

#: One client message, as a plain tuple (a microphone frame costs one tuple, no object):
#: its JSON text, its decoded form (None for audio), its audio size in bytes, and its number on
#: the connection it was queued on (0 while it waits for a connection).
Entry: TypeAlias = "tuple[str, m.ClientMessage | None, int, int]"
TEXT: Final = 0
MESSAGE: Final = 1
AUDIO: Final = 2
INDEX: Final = 3


def new_entry(text: str, message: m.ClientMessage | None, audio_bytes: int = 0) -> Entry:
    """A message not queued on any connection yet (its number is 0)."""
    return (text, message, audio_bytes, 0)


class ReplayLog:
    """Client messages since the newest resumable checkpoint, and those waiting for a connection.

    Args:
        audio_limit: the most audio bytes held (replayable and waiting together).
        message_limit: the most non-audio messages waiting for a connection.
        settle_bytes: how much of the newest written audio may still have been on its way when
            a checkpoint arrived (used when the server reports no consumed index).
    """

    def __init__(self, *, audio_limit: int, message_limit: int, settle_bytes: int) -> None:
        self._audio_limit = audio_limit
        self._message_limit = message_limit
        self._settle_bytes = settle_bytes
        self._entries: deque[Entry] = deque()
        self._queued = 0  # entries at the left that are queued on the current connection
        #: Messages held for a connection (after the queued ones); 0 when a send may go straight
        #: out.  A plain attribute: the microphone's hot path reads it for every frame.
        self.waiting = 0
        self._next_index = 1
        self._checkpoint_index = 1  # the number the first message after the newest checkpoint got
        self._heard_at = 0  # messages written when the server was last heard from
        self._heard_since_checkpoint = False
        self._uncertain = 0  # numbers up to this were written before the newest checkpoint came
        self._audio = 0
        self._waiting_messages = 0
        self._sending: Entry | None = None  # being handed to a connection: never evicted
        self._at_risk = (
            0  # audio evicted after it was sent: lost if a resume comes before a checkpoint
        )
        self._lost = 0  # audio lost for certain, not yet reported
        #: Audio bytes dropped before they were ever sent (the buffer was full), in total.
        self.dropped_audio_bytes = 0
        #: Audio bytes reported lost in total (dropped, at risk at a resume, or of unknown fate).
        self.lost_audio_bytes = 0

    def __len__(self) -> int:
        """Messages held: sent but not covered by a checkpoint, or waiting for a connection."""
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"<ReplayLog held={len(self._entries)} queued={self._queued} "
            f"audio_bytes={self._audio} waiting_messages={self._waiting_messages}>"
        )

    @property
    def audio_bytes(self) -> int:
        """Audio bytes held."""
        return self._audio

    @property
    def all_queued(self) -> bool:
        """True when nothing waits for the current connection (a new send may go straight out)."""
        return not self.waiting

    def sent_since_checkpoint(self) -> bool:
        """True when something was queued or held since the newest checkpoint arrived."""
        return self._next_index > self._checkpoint_index or self.waiting > 0

    def at_safe_point(self) -> bool:
        """True when nothing was sent or heard since the newest checkpoint arrived."""
        return not self._heard_since_checkpoint and not self.sent_since_checkpoint()

    def message_room(self) -> bool:
        """True when one more non-audio message may wait for a connection."""
        return self._waiting_messages < self._message_limit

    # -- the current connection -----------------------------------------------------------------

    def add_queued(self, entry: Entry) -> None:
        """Record a message the current connection has just accepted (after every held one)."""
        text, message, audio_bytes, _ = entry
        self._entries.append((text, message, audio_bytes, self._next_index))
        self._next_index += 1
        self._queued += 1
        self._add_audio(audio_bytes)

    def add_queued_audio(self, text: str, audio_bytes: int) -> None:
        """:meth:`add_queued` for a microphone frame: the hot path, one tuple and no call."""
        index = self._next_index
        self._next_index = index + 1
        entries = self._entries
        entries.append((text, None, audio_bytes, index))
        self._queued += 1
        audio = self._audio + audio_bytes
        self._audio = audio
        if audio > self._audio_limit:
            oldest = entries[0]
            # The usual case when full: the oldest is a queued frame (not this one): it goes.
            oldest_bytes = oldest[AUDIO]
            if oldest_bytes and self._queued > 1 and oldest is not self._sending:
                entries.popleft()
                self._queued -= 1
                self._audio = audio = audio - oldest_bytes
                self._at_risk += oldest_bytes
            if audio > self._audio_limit:
                self._evict_until_within_limit()

    def add_waiting(self, entry: Entry) -> None:
        """Hold a message for the next connection."""
        if entry[INDEX]:
            entry = (entry[TEXT], entry[MESSAGE], entry[AUDIO], 0)
        self._entries.append(entry)
        self.waiting += 1
        if entry[MESSAGE] is not None:
            self._waiting_messages += 1
        self._add_audio(entry[AUDIO])

    def next_waiting(self) -> Entry | None:
        """The oldest message waiting for the current connection, now being handed to it."""
        if self._queued == len(self._entries):
            self._sending = None
            return None
        self._sending = self._entries[self._queued]
        return self._sending

    def mark_queued(self, entry: Entry) -> None:
        """The current connection accepted ``entry`` (the one :meth:`next_waiting` returned)."""
        if self._queued >= len(self._entries) or self._entries[self._queued] is not entry:
            raise RuntimeError("mark_queued: not the oldest waiting entry")
        self._sending = None
        self._entries[self._queued] = (entry[TEXT], entry[MESSAGE], entry[AUDIO], self._next_index)
        self._next_index += 1
        self._queued += 1
        self.waiting -= 1
        if entry[MESSAGE] is not None:
            self._waiting_messages -= 1

    def heard(self, written: int) -> None:
        """The server sent something (not a checkpoint) when the connection had written ``written``.

        A message that asks for a reply (a typed turn, a tool answer) is consumed before the
        server says anything about it, and checkpoints come only after the server has answered.
        So a message written after the server was last heard from, before a checkpoint arrived,
        may have reached the server after it took that checkpoint.
        """
        self._heard_at = written
        self._heard_since_checkpoint = True

    def checkpoint(self, written: int, consumed: int | None = None) -> int:
        """A resumable checkpoint arrived: drop what it covers; return how many.

        Args:
            written: how many messages the current connection had written when it arrived.
            consumed: the server's ``lastConsumedClientMessageIndex`` for this connection (Vertex
                transparent resumption), or None to judge by what was written.
        """
        self._checkpoint_index = self._next_index
        self._heard_since_checkpoint = False
        if consumed is not None:
            covered = covered_audio = consumed
            self._uncertain = 0
        else:
            # Audio written before the checkpoint arrived is covered, except the newest, which
            # may still have been on its way.  Other messages are covered if the server spoke
            # after they were written; those written later stay, to be sent again (never lost).
            covered = min(written, self._heard_at)
            # A checkpoint that comes before the server has said anything on this connection
            # (the one sent as it opens) was taken before it read any of this connection's
            # messages: it covers none of them.
            covered_audio = written if self._heard_at else 0
            recent = 0
            for _, _, audio_bytes, index in reversed(self._entries):
                if recent >= self._settle_bytes:
                    break
                if 0 < index <= written and audio_bytes:
                    recent += audio_bytes
                    covered_audio = index - 1
            self._uncertain = written if self._heard_at else 0
        kept: deque[Entry] = deque()
        dropped = 0
        for position, held in enumerate(self._entries):
            if position < self._queued and held[INDEX] <= (
                covered_audio if held[AUDIO] else covered
            ):
                self._audio -= held[AUDIO]
                dropped += 1
            else:
                kept.append(held)
        self._entries = kept
        self._queued -= dropped
        self._at_risk = 0
        return dropped

    # -- between connections --------------------------------------------------------------------

    def connection_lost(self) -> None:
        """The current connection is gone: everything held waits for the next one.

        Audio written before the newest checkpoint arrived but not covered by it is of unknown
        fate: it is dropped and counted as lost, never replayed (it may have been consumed).
        """
        lost = self._at_risk
        keep: deque[Entry] = deque()
        for held in self._entries:
            text, message, audio_bytes, index = held
            if index and index <= self._uncertain and audio_bytes:
                lost += audio_bytes
                self._audio -= audio_bytes
                continue
            if index:
                if message is not None:
                    self._waiting_messages += 1
                held = (text, message, audio_bytes, 0)
            keep.append(held)
        self._entries = keep
        self._queued = 0
        self.waiting = len(keep)
        self._next_index = self._checkpoint_index = 1
        self._heard_at = 0
        self._uncertain = 0
        self._at_risk = 0
        self._lost += lost

    def take_lost(self) -> int:
        """Audio bytes lost since the last call (to report with the resume); resets the count."""
        lost, self._lost = self._lost, 0
        self.lost_audio_bytes += lost
        return lost

    def drain(self) -> int:
        """Drop everything held (the session ended for good); return the undelivered count.

        Messages already queued on the last connection went out with it; those still waiting
        for a connection are the ones that can no longer be delivered.
        """
        waiting = list(self._entries)[self._queued :]
        for held in waiting:
            self.dropped_audio_bytes += held[AUDIO]
        self._entries.clear()
        self._queued = self._audio = self._waiting_messages = self.waiting = 0
        return len(waiting)

    def held(self) -> list[Entry]:
        """A copy of what is held, oldest first (queued ones, then waiting ones): for tests."""
        return list(self._entries)

    # -- bounds ---------------------------------------------------------------------------------

    def _add_audio(self, audio_bytes: int) -> None:
        if not audio_bytes:
            return
        self._audio += audio_bytes
        if self._audio > self._audio_limit:
            self._evict_until_within_limit()

    def _evict_until_within_limit(self) -> None:
        entries = self._entries
        while self._audio > self._audio_limit:
            oldest = entries[0] if entries else None
            if (
                oldest is not None
                and oldest[AUDIO]
                and oldest is not self._sending
                and self._queued  # usual case: the oldest is a queued frame
            ):
                entries.popleft()
                self._audio -= oldest[AUDIO]
                self._queued -= 1
                self._at_risk += oldest[AUDIO]
            elif not self._evict_oldest_audio():
                return

    def _evict_oldest_audio(self) -> bool:
        position = next(
            (
                i
                for i, held in enumerate(self._entries)
                if held[AUDIO] and held is not self._sending
            ),
            None,
        )
        if position is None:
            return False
        held = self._entries[position]
        del self._entries[position]
        self._audio -= held[AUDIO]
        if position < self._queued:
            self._queued -= 1
            self._at_risk += held[AUDIO]  # on the wire already: lost only if we resume
        else:
            self.waiting -= 1
            self.dropped_audio_bytes += held[AUDIO]
            self._lost += held[AUDIO]
        return True
