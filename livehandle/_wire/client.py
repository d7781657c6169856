"""Client messages after ``setup`` (§2.2-§2.5), and the union of every client message."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from livehandle._wire.common import (
    Blob,
    Content,
    JsonObject,
    Scheduling,
)
from livehandle._wire.setup import (
    Setup,
    Tool,
)

__all__ = [
    "REALTIME_INPUT_FIELDS",
    "ActivityEnd",
    "ActivityStart",
    "ClientContent",
    "ClientMessage",
    "ContextUpdate",
    "FunctionResponse",
    "RealtimeInput",
    "ToolResponse",
    "ToolsUpdate",
]

# --------------------------------------------------------------------------------------------
# Other client messages (§2.2-§2.5)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class ClientContent:
    """Turns appended to the history; ``turn_complete=True`` asks the model to answer now."""

    turns: tuple[Content, ...] | None = None
    turn_complete: bool | None = None


@attrs.frozen
class ActivityStart:
    """Marks the start of user activity (only with automatic activity detection disabled)."""


@attrs.frozen
class ActivityEnd:
    """Marks the end of user activity (only with automatic activity detection disabled)."""


REALTIME_INPUT_FIELDS = (
    "audio",
    "video",
    "text",
    "activity_start",
    "activity_end",
    "audio_stream_end",
    "media_chunks",
)


@attrs.frozen
class RealtimeInput:
    """Realtime input carrying exactly one of its fields (§2.3).

    ``media_chunks`` is the deprecated form; it is accepted on input only for compatibility.

    Raises:
        ValueError: when zero or several fields are set.
    """

    audio: Blob | None = None
    video: Blob | None = None
    text: str | None = None
    activity_start: ActivityStart | None = None
    activity_end: ActivityEnd | None = None
    audio_stream_end: bool | None = None
    media_chunks: tuple[Blob, ...] | None = None

    def __attrs_post_init__(self) -> None:
        present = [name for name in REALTIME_INPUT_FIELDS if getattr(self, name) is not None]
        if len(present) != 1:
            shown = ", ".join(present) if present else "none"
            raise ValueError(
                f"realtimeInput must carry exactly one of audio, video, text, activityStart, "
                f"activityEnd, audioStreamEnd; got {shown}"
            )


@attrs.frozen
class FunctionResponse:
    """The answer to one function call (§2.4).

    ``response`` is ``{"output": ...}`` for results and ``{"error": ...}`` for failures by
    convention.  ``scheduling`` and ``will_continue`` matter only for NON_BLOCKING functions.
    """

    name: str
    response: JsonObject
    id: str | None = None
    scheduling: Scheduling | None = None
    will_continue: bool | None = None


@attrs.frozen
class ToolResponse:
    """Answers to one or more function calls."""

    function_responses: tuple[FunctionResponse, ...]


@attrs.frozen
class ToolsUpdate:
    """The wrapped tool list of a context update; an empty tuple clears every tool."""

    tools: tuple[Tool, ...]


@attrs.frozen
class ContextUpdate:
    """Mid-session replacement of the system instruction and/or tools (newest models, §2.5)."""

    system_instruction: Content | None = None
    tools: ToolsUpdate | None = None


ClientMessage: TypeAlias = Setup | ClientContent | RealtimeInput | ToolResponse | ContextUpdate
