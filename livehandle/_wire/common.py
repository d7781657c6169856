"""Wire data shared by both directions: field markers, enumerations and conversation content.

Field references are wire-protocol.md §2 (client) and §3 (server).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import attrs

__all__ = [
    "DURATION",
    "EXTRA",
    "INT64",
    "NO_EXTRA",
    "WIRE_NAME",
    "ActivityHandling",
    "Behavior",
    "Blob",
    "CodeExecutionResult",
    "Content",
    "EndSensitivity",
    "ExecutableCode",
    "ExtraMembers",
    "FileData",
    "JsonObject",
    "MediaResolution",
    "Modality",
    "Part",
    "Scheduling",
    "StartSensitivity",
    "ThinkingLevel",
    "TranscriptionMode",
    "TurnCoverage",
    "duration_field",
    "extra_field",
    "int64_field",
]

#: A free-form JSON object (function arguments and responses, schemas).
JsonObject: TypeAlias = dict[str, Any]

# Field metadata keys read by the codec.
INT64 = "livehandle.int64"
DURATION = "livehandle.duration"
WIRE_NAME = "livehandle.wire_name"


#: The attribute that keeps the JSON members a class does not model (see :func:`extra_field`).
EXTRA = "extra"


class ExtraMembers(Mapping[str, Any]):
    """A read-only mapping of wire name to JSON value: the members the decoder did not know.

    Equal to any mapping with the same items; not hashable (it holds JSON values); picklable.
    The values are the decoded JSON, shared with the mapping's creator, so treat them as
    read-only too.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ExtraMembers({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ExtraMembers, (self._items,))

    __hash__ = None  # type: ignore[assignment]


NO_EXTRA = ExtraMembers()


def _to_extra(value: Mapping[str, Any] | None) -> ExtraMembers:
    if isinstance(value, ExtraMembers):
        return value
    if value is None:
        return NO_EXTRA
    if not isinstance(value, Mapping):
        raise TypeError(f"extra: expected a mapping of wire name to JSON value, got {value!r:.60}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"extra: wire names are strings, got {key!r:.60}")
    return ExtraMembers(value) if value else NO_EXTRA


def extra_field() -> Any:
    """The ``extra`` field every wire class ends with.

    It holds the JSON members the decoder did not recognise (wire name -> JSON value, empty by
    default), and the encoder writes them back out unchanged, so a decode/encode round trip
    keeps what a newer server or client sent.  It takes part in equality but not in the hash,
    and it is left out of ``repr`` (each unknown name is logged once at DEBUG instead).
    """
    return attrs.field(default=NO_EXTRA, converter=_to_extra, hash=False, repr=False, kw_only=True)


def int64_field() -> Any:
    """An optional int64 field: a JSON string on output, a string or number on input."""
    return attrs.field(default=None, metadata={INT64: True})


def duration_field() -> Any:
    """An optional duration field: float seconds in Python, a string such as ``50s`` on the wire."""
    return attrs.field(default=None, metadata={DURATION: True})


# --------------------------------------------------------------------------------------------
# Enumerations (client side; the server side keeps open-ended enums as plain strings)
# --------------------------------------------------------------------------------------------


class Modality(enum.StrEnum):
    """Response modality; a Live session uses exactly one."""

    TEXT = "TEXT"
    AUDIO = "AUDIO"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"


class MediaResolution(enum.StrEnum):
    """Token budget per video frame."""

    MEDIA_RESOLUTION_UNSPECIFIED = "MEDIA_RESOLUTION_UNSPECIFIED"
    MEDIA_RESOLUTION_LOW = "MEDIA_RESOLUTION_LOW"
    MEDIA_RESOLUTION_MEDIUM = "MEDIA_RESOLUTION_MEDIUM"
    MEDIA_RESOLUTION_HIGH = "MEDIA_RESOLUTION_HIGH"


class StartSensitivity(enum.StrEnum):
    """How readily server VAD commits the start of speech."""

    START_SENSITIVITY_UNSPECIFIED = "START_SENSITIVITY_UNSPECIFIED"
    START_SENSITIVITY_HIGH = "START_SENSITIVITY_HIGH"
    START_SENSITIVITY_LOW = "START_SENSITIVITY_LOW"


class EndSensitivity(enum.StrEnum):
    """How readily server VAD commits the end of speech."""

    END_SENSITIVITY_UNSPECIFIED = "END_SENSITIVITY_UNSPECIFIED"
    END_SENSITIVITY_HIGH = "END_SENSITIVITY_HIGH"
    END_SENSITIVITY_LOW = "END_SENSITIVITY_LOW"


class ActivityHandling(enum.StrEnum):
    """Whether user activity interrupts the model (barge-in)."""

    ACTIVITY_HANDLING_UNSPECIFIED = "ACTIVITY_HANDLING_UNSPECIFIED"
    START_OF_ACTIVITY_INTERRUPTS = "START_OF_ACTIVITY_INTERRUPTS"
    NO_INTERRUPTION = "NO_INTERRUPTION"


class TurnCoverage(enum.StrEnum):
    """Which realtime input belongs to a user turn."""

    TURN_COVERAGE_UNSPECIFIED = "TURN_COVERAGE_UNSPECIFIED"
    TURN_INCLUDES_ONLY_ACTIVITY = "TURN_INCLUDES_ONLY_ACTIVITY"
    TURN_INCLUDES_ALL_INPUT = "TURN_INCLUDES_ALL_INPUT"
    TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO = "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"


class ThinkingLevel(enum.StrEnum):
    """How much a model that takes a level (3.1) thinks; upper case on the wire."""

    THINKING_LEVEL_UNSPECIFIED = "THINKING_LEVEL_UNSPECIFIED"
    MINIMAL = "MINIMAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class TranscriptionMode(enum.StrEnum):
    """How audio is transcribed: cleaned up (``SMART``) or word for word (``VERBATIM``)."""

    MODE_UNSPECIFIED = "MODE_UNSPECIFIED"
    SMART = "SMART"
    VERBATIM = "VERBATIM"


class Behavior(enum.StrEnum):
    """Function behaviour: BLOCKING pauses the model until the response; NON_BLOCKING does not."""

    UNSPECIFIED = "UNSPECIFIED"
    BLOCKING = "BLOCKING"
    NON_BLOCKING = "NON_BLOCKING"


class Scheduling(enum.StrEnum):
    """When the model acts on a NON_BLOCKING function response."""

    SCHEDULING_UNSPECIFIED = "SCHEDULING_UNSPECIFIED"
    SILENT = "SILENT"
    WHEN_IDLE = "WHEN_IDLE"
    INTERRUPT = "INTERRUPT"


# --------------------------------------------------------------------------------------------
# Content (shared by both directions)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Blob:
    """Inline media: ``{"mimeType": ..., "data": <base64>}``.

    proto3 JSON omits an empty MIME type or empty data, so both default to empty.
    """

    mime_type: str = ""
    data: bytes = b""
    display_name: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class FileData:
    """A reference to media by URI (an omitted URI decodes as ``""``)."""

    file_uri: str = ""
    mime_type: str | None = None
    display_name: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ExecutableCode:
    """Code the model generated for the code-execution tool (omitted code decodes as ``""``)."""

    code: str = ""
    language: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class CodeExecutionResult:
    """The result of running :class:`ExecutableCode`."""

    outcome: str | None = None
    output: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class Part:
    """One part of a :class:`Content`; normally exactly one field is set.

    ``thought_signature`` (opaque bytes, base64 on the wire) comes with thinking models' parts
    and is sent back as it is.  Parts this version does not model (``functionCall``, ...) keep
    their members in ``extra``.
    """

    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    thought: bool | None = None
    executable_code: ExecutableCode | None = None
    code_execution_result: CodeExecutionResult | None = None
    thought_signature: bytes | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class Content:
    """A turn: a role (``user``, ``model``; Vertex also ``system``) and its parts."""

    parts: tuple[Part, ...] = ()
    role: str | None = None
    extra: Mapping[str, Any] = extra_field()
