"""What a connection's engine and responder need from the emulator that serves them.

:class:`EmulatorHost` is the only way the per-connection parts reach the emulator: the
:class:`~livehandle.testing.LiveEmulator` implements it, and the engine and responder are written
against it, so neither imports the emulator (no back-pointers, no import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from livehandle._wire import messages as m
    from livehandle.testing._conversation import Checkpoint, Conversation
    from livehandle.testing._record import EmulatorConnection
    from livehandle.testing._scenario import Scenario

__all__ = ["EmulatorHost"]


class EmulatorHost(Protocol):
    """The emulator-wide settings and state shared by every connection."""

    @property
    def scenario(self) -> Scenario:
        """How the model behaves."""
        ...

    @property
    def binary_frames(self) -> bool:
        """Send server JSON in binary frames (True) or text frames."""
        ...

    @property
    def realtime(self) -> bool:
        """Pace model audio at the speed it would play."""
        ...

    @property
    def chunk_ms(self) -> int:
        """The duration of each model audio chunk."""
        ...

    def take_transcript(self) -> str | None:
        """The next queued transcript for a speech turn, if any."""
        ...

    def new_conversation(self) -> Conversation:
        """Start a fresh conversation."""
        ...

    def new_handle(self, conversation: Conversation) -> str:
        """Mint a resumption handle for ``conversation``."""
        ...

    def keep(self, checkpoint: Checkpoint) -> None:
        """Make ``checkpoint`` resumable by its handle."""
        ...

    def resume(self, handle: str) -> Conversation | tuple[int, str]:
        """The conversation restored from ``handle``, or ``(code, reason)`` refusing it."""
        ...

    def declarations(self, setup: m.Setup | None) -> dict[str, str]:
        """Function name -> behaviour (``BLOCKING``/``NON_BLOCKING``) from a setup's tools."""
        ...

    @property
    def strict_activity_audio(self) -> bool:
        """Audio before the first activityStart (server VAD off) closes the connection."""
        ...

    def check_setup(
        self, record: EmulatorConnection, setup: m.Setup, raw: object
    ) -> tuple[int, str] | None:
        """Why this setup is refused, as ``(code, reason)``, or None (``raw``: its JSON object)."""
        ...
