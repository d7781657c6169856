"""Client messages after ``setup`` (§2.2-§2.5), and the union of every client message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from livehandle._wire.common import (
    Blob,
    Content,
    FileData,
    JsonObject,
    Scheduling,
    extra_field,
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
    "FunctionResponsePart",
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
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ActivityStart:
    """Marks the start of user activity (only with automatic activity detection disabled)."""

    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ActivityEnd:
    """Marks the end of user activity (only with automatic activity detection disabled)."""

    extra: Mapping[str, Any] = extra_field()


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
    extra: Mapping[str, Any] = extra_field()

    def __attrs_post_init__(self) -> None:
        present = [name for name in REALTIME_INPUT_FIELDS if getattr(self, name) is not None]
        if len(present) != 1:
            shown = ", ".join(present) if present else "none"
            raise ValueError(
                f"realtimeInput must carry exactly one of audio, video, text, activityStart, "
                f"activityEnd, audioStreamEnd; got {shown}"
            )


@attrs.frozen
class FunctionResponsePart:
    """Media in a function result (multimodal tool results): inline bytes or a file URI."""

    inline_data: Blob | None = None
    file_data: FileData | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class FunctionResponse:
    """The answer to one function call (§2.4).

    ``response`` is ``{"output": ...}`` for results and ``{"error": ...}`` for failures by
    convention.  ``parts`` carries media beside it (multimodal tool results).  ``scheduling``
    and ``will_continue`` matter only for NON_BLOCKING functions.  An omitted ``name`` or
    ``response`` decodes as ``""`` / ``{}`` (proto3 JSON leaves empty values out).
    """

    name: str = ""
    response: JsonObject = attrs.field(factory=dict)
    id: str | None = None
    scheduling: Scheduling | None = None
    will_continue: bool | None = None
    parts: tuple[FunctionResponsePart, ...] | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ToolResponse:
    """Answers to one or more function calls (``{}`` decodes to none)."""

    function_responses: tuple[FunctionResponse, ...] = ()
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ToolsUpdate:
    """The wrapped tool list of a context update; an empty tuple clears every tool."""

    tools: tuple[Tool, ...] = ()
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ContextUpdate:
    """Mid-session replacement of the system instruction and/or tools (newest models, §2.5)."""

    system_instruction: Content | None = None
    tools: ToolsUpdate | None = None
    extra: Mapping[str, Any] = extra_field()


ClientMessage: TypeAlias = Setup | ClientContent | RealtimeInput | ToolResponse | ContextUpdate
