"""SessionWriter: the one typed send path of a live session (what ``handle.writer()`` returns).

Every public method checks its input once, in the caller's task, encodes one client message and
queues it on the L0 session (lossless: it waits while the outbound queue is full).  A wrong type
raises ``TypeError``, a bad value ``ValueError``; either way nothing is sent.  Calls from one task
keep their order on the wire.

Input the runtime has already checked at the public boundary (``LiveHandle.send_audio`` checks the
PCM before the input VAD sees it) goes through the unchecked ``_send_*`` methods, so no chunk is
checked twice.  Those methods are also where a successful send is recorded in the session's
telemetry, whichever public path sent it: nothing is recorded for a send that failed or was
cancelled.  :class:`~livehandle.lowlevel.DeferredWriter` overrides them to flush deferred context
first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import trio

from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._session.port import SessionPort

__all__ = [
    "INPUT_AUDIO_MIME",
    "SessionWriter",
    "check_pcm16",
    "check_text",
    "check_tool_responses",
    "check_video",
]

INPUT_AUDIO_MIME = "audio/pcm;rate=16000"


def check_pcm16(data: object) -> bytes:
    """Return ``data`` as bytes if it is whole PCM16 samples.

    Raises:
        TypeError: not bytes, bytearray or memoryview.
        ValueError: an odd number of bytes (PCM16 has 2 bytes per sample).
    """
    if isinstance(data, bytes):
        pcm = data  # the microphone's hot path: no copy
    elif isinstance(data, bytearray | memoryview):
        pcm = bytes(data)
    else:
        raise TypeError(f"audio must be PCM16 bytes, got {type(data).__name__}")
    if len(pcm) % 2:
        raise ValueError(
            f"PCM16 audio must have an even number of bytes (2 per sample), got {len(pcm)}"
        )
    return pcm


def check_text(value: object, what: str) -> str:
    """Return ``value`` if it is a non-empty string.

    Checked at run time too: callers are often untyped (a UI, a queue of user input).

    Raises:
        TypeError: not a str (the message names ``what``).
        ValueError: the empty string.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a non-empty string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must be a non-empty string, got ''")
    return value


def check_video(frame: object, mime_type: object) -> tuple[bytes, str]:
    """Return ``(frame, mime_type)`` for a valid video frame.

    Raises:
        TypeError: the frame is not bytes-like, or the MIME type is not a str.
        ValueError: an empty frame, or a MIME type that is empty or not ``image/*``.
    """
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise TypeError(f"a video frame must be non-empty bytes, got {type(frame).__name__}")
    if not frame:
        raise ValueError("a video frame must be non-empty bytes, got an empty one")
    mime = check_text(mime_type, "mime_type")
    if not mime.startswith("image/"):
        raise ValueError(f"video frames must have an image/* MIME type, got {mime!r}")
    return bytes(frame), mime


def check_tool_responses(responses: object) -> tuple[m.FunctionResponse, ...]:
    """Return ``responses`` as a tuple of one or more ``FunctionResponse`` objects.

    Raises:
        TypeError: not an iterable of ``FunctionResponse``.
        ValueError: no responses at all.
    """
    if isinstance(responses, m.FunctionResponse) or not isinstance(responses, Iterable):
        raise TypeError(
            "send_tool_response takes a sequence of FunctionResponse objects, "
            f"got {type(responses).__name__}"
        )
    answers = tuple(responses)
    wrong = [type(r).__name__ for r in answers if not isinstance(r, m.FunctionResponse)]
    if wrong:
        raise TypeError(f"send_tool_response takes FunctionResponse objects, got {wrong[0]}")
    if not answers:
        raise ValueError("send_tool_response needs one or more FunctionResponse objects")
    return answers


def _user_turn(text: str) -> m.Content:
    return m.Content(parts=(m.Part(text=text),), role="user")


class SessionWriter:
    """Sends client messages on one session.

    Args:
        session: the L0 session to send on.
        instruction_message: builds the message that replaces the system instruction (the
            strategy depends on the backend and model; see ``LiveConfig.instruction_update``).
        telemetry: where successful user sends are counted (audio bytes in, typed turns);
            None to count nothing.
    """

    def __init__(
        self,
        session: SessionPort,
        instruction_message: Callable[[str], m.ClientMessage],
        *,
        telemetry: SessionTelemetry | None = None,
    ) -> None:
        self._session = session
        self._instruction_message = instruction_message
        self._telemetry = telemetry
        self._activity_open = False  # an activityStart went out and its activityEnd did not

    # -- user input ---------------------------------------------------------------------------

    async def send_audio(self, pcm: bytes) -> None:
        """Send a chunk of 16 kHz mono PCM16 microphone audio (20-100 ms per chunk is best).

        Raises:
            TypeError: not bytes-like.
            ValueError: an odd number of bytes.
            SessionClosed: the session has ended.
        """
        await self._send_audio(check_pcm16(pcm))

    async def send_text(self, text: str) -> None:
        """Send a typed user turn and ask the model to answer it.

        Raises:
            TypeError: not a str.
            ValueError: the empty string.
            SessionClosed: the session has ended.
        """
        await self._send_text(check_text(text, "text"))

    async def send_video(self, frame: bytes, mime_type: str = "image/jpeg") -> None:
        """Send one video frame (JPEG or PNG, about one per second).

        Raises:
            TypeError: the frame is not bytes-like or the MIME type not a str.
            ValueError: an empty frame, or a MIME type that is not ``image/*``.
            SessionClosed: the session has ended.
        """
        await self._send_video(*check_video(frame, mime_type))

    # -- everything else ----------------------------------------------------------------------

    async def send_client_content(self, turns: Sequence[m.Content], *, turn_complete: bool) -> None:
        """Append turns to the conversation; ``turn_complete`` asks the model to answer now."""
        await self._session.send(m.ClientContent(turns=tuple(turns), turn_complete=turn_complete))

    async def send_tool_response(self, responses: Sequence[m.FunctionResponse]) -> None:
        """Answer function calls (each response carries the call's id).

        Raises:
            TypeError: an item is not a ``FunctionResponse``.
            ValueError: no responses.
        """
        await self._session.send(m.ToolResponse(check_tool_responses(responses)))

    async def update_instruction(self, instruction: str) -> None:
        """Replace the system instruction for the rest of the session.

        Raises:
            TypeError: not a str.
            ValueError: the empty string.
        """
        text = check_text(instruction, "the new instruction")
        await self._session.send(self._instruction_message(text))

    @property
    def activity_open(self) -> bool:
        """True between an ``activityStart`` this writer sent and the ``activityEnd`` after it."""
        return self._activity_open

    async def signal_activity_start(self) -> None:
        """Mark the start of user activity (only meaningful with server VAD disabled).

        Once per edge: while an activity is open a second start sends nothing, whoever asks
        (the voice runtime, an effect, or the application through ``handle.writer()``).
        """
        await self._mark_activity(start=True)

    async def signal_activity_end(self) -> None:
        """Mark the end of user activity; nothing is sent when no activity is open."""
        await self._mark_activity(start=False)

    async def _mark_activity(self, *, start: bool) -> None:
        if self._activity_open is start:
            await trio.lowlevel.checkpoint()  # a public async method is always a checkpoint
            return
        self._activity_open = start  # first, so that a concurrent caller does not repeat it
        mark = (
            m.RealtimeInput(activity_start=m.ActivityStart())
            if start
            else m.RealtimeInput(activity_end=m.ActivityEnd())
        )
        try:
            await self._session.send(mark)
        except BaseException:
            self._activity_open = not start  # not sent (cancelled, or the session ended)
            raise

    async def send_audio_stream_end(self) -> None:
        """Tell server VAD the microphone paused, so it ends a pending speech turn."""
        await self._session.send(m.RealtimeInput(audio_stream_end=True))

    # -- checked input: the runtime's entry points --------------------------------------------
    # The caller has checked the input (the public methods above, or the handle).  Telemetry is
    # recorded here, after the session accepted the message, so it is recorded once per send.

    async def _send_audio(self, pcm: bytes) -> None:
        await self._session.send_audio(pcm, INPUT_AUDIO_MIME)
        if self._telemetry is not None:
            self._telemetry.record_audio_in(len(pcm))

    async def _send_text(self, text: str) -> None:
        await self._session.send(m.ClientContent(turns=(_user_turn(text),), turn_complete=True))
        if self._telemetry is not None:
            self._telemetry.record_text_send()

    async def _send_video(self, frame: bytes, mime_type: str) -> None:
        await self._session.send(m.RealtimeInput(video=m.Blob(mime_type, frame)))
