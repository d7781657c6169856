"""SessionWriter: the typed send path of a live session (what ``handle.writer()`` returns).

Every method validates its input in the caller's task, encodes one client message and queues it on
the L0 session (lossless: it waits while the outbound queue is full).  Bad input raises
``ValueError`` and sends nothing.  Calls from one task keep their order on the wire.  The voice
runtime wraps this writer (deferred context delivery); internal sends always use the raw writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from livehandle._session import Session

__all__ = ["INPUT_AUDIO_MIME", "SessionWriter", "check_pcm16", "check_text", "check_video"]

INPUT_AUDIO_MIME = "audio/pcm;rate=16000"


def check_pcm16(data: object) -> bytes:
    """Return ``data`` as bytes if it is whole PCM16 samples, else raise ValueError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"audio must be PCM16 bytes, got {type(data).__name__}")
    pcm = bytes(data)
    if len(pcm) % 2:
        raise ValueError(
            f"PCM16 audio must have an even number of bytes (2 per sample), got {len(pcm)}"
        )
    return pcm


def check_text(value: object, what: str) -> str:
    """Return ``value`` if it is a non-empty string, else raise ValueError naming ``what``."""
    # Checked at run time too: callers are often untyped (a UI, a queue of user input).
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r:.40}")
    return value


def check_video(frame: object, mime_type: object) -> tuple[bytes, str]:
    """Return ``(frame, mime_type)`` for a valid video frame, else raise ValueError."""
    if not isinstance(frame, bytes | bytearray | memoryview) or not frame:
        raise ValueError(f"a video frame must be non-empty bytes, got {type(frame).__name__}")
    mime = check_text(mime_type, "mime_type")
    if not mime.startswith("image/"):
        raise ValueError(f"video frames must have an image/* MIME type, got {mime!r}")
    return bytes(frame), mime


def _user_turn(text: str) -> m.Content:
    return m.Content(parts=(m.Part(text=text),), role="user")


class SessionWriter:
    """Sends client messages on one session.

    Args:
        session: the L0 session to send on.
        instruction_message: builds the message that replaces the system instruction (the
            strategy depends on the backend and model; see ``LiveConfig.instruction_update``).
    """

    def __init__(
        self, session: Session, instruction_message: Callable[[str], m.ClientMessage]
    ) -> None:
        self._session = session
        self._instruction_message = instruction_message

    async def send_audio(self, pcm: bytes) -> None:
        """Send a chunk of 16 kHz mono PCM16 microphone audio (20-100 ms per chunk is best)."""
        await self._session.send_audio(check_pcm16(pcm), INPUT_AUDIO_MIME)

    async def send_text(self, text: str) -> None:
        """Send a typed user turn and ask the model to answer it."""
        turn = _user_turn(check_text(text, "text"))
        await self.send_client_content((turn,), turn_complete=True)

    async def send_client_content(self, turns: Sequence[m.Content], *, turn_complete: bool) -> None:
        """Append turns to the conversation; ``turn_complete`` asks the model to answer now."""
        await self._session.send(m.ClientContent(turns=tuple(turns), turn_complete=turn_complete))

    async def send_video(self, frame: bytes, mime_type: str = "image/jpeg") -> None:
        """Send one video frame (JPEG or PNG, about one per second)."""
        data, mime = check_video(frame, mime_type)
        await self._session.send(m.RealtimeInput(video=m.Blob(mime, data)))

    async def send_tool_response(self, responses: Sequence[m.FunctionResponse]) -> None:
        """Answer function calls (each response carries the call's id)."""
        answers = tuple(responses)
        if not answers or not all(isinstance(r, m.FunctionResponse) for r in answers):
            raise ValueError("send_tool_response needs one or more FunctionResponse objects")
        await self._session.send(m.ToolResponse(answers))

    async def update_instruction(self, instruction: str) -> None:
        """Replace the system instruction for the rest of the session."""
        text = check_text(instruction, "the new instruction")
        await self._session.send(self._instruction_message(text))

    async def signal_activity_start(self) -> None:
        """Mark the start of user activity (only meaningful with server VAD disabled)."""
        await self._session.send(m.RealtimeInput(activity_start=m.ActivityStart()))

    async def signal_activity_end(self) -> None:
        """Mark the end of user activity (only meaningful with server VAD disabled)."""
        await self._session.send(m.RealtimeInput(activity_end=m.ActivityEnd()))

    async def send_audio_stream_end(self) -> None:
        """Tell server VAD the microphone paused, so it ends a pending speech turn."""
        await self._session.send(m.RealtimeInput(audio_stream_end=True))
