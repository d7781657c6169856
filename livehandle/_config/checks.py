"""Validators and converters for the fields of :class:`~livehandle.LiveConfig`.

Each one fails with a ``ValueError`` that names the field and says what was expected.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from livehandle._wire import messages as m

if TYPE_CHECKING:
    import attrs

__all__ = [
    "activity_handling",
    "at_least",
    "callable_or_none",
    "check_model",
    "check_temperature",
    "end_sensitivity",
    "enum_or_none",
    "instance_or_none",
    "media_resolution",
    "one_of",
    "parse_modality",
    "positive_seconds",
    "response_modality",
    "start_sensitivity",
    "thinking_level",
    "transcription_mode",
    "turn_coverage",
    "voice_sample",
]

_E = TypeVar("_E", bound=enum.StrEnum)


def parse_modality(value: object) -> m.Modality:
    if isinstance(value, str):
        try:
            return m.Modality(value.upper())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in m.Modality)
    raise ValueError(f"response_modality: unknown modality {value!r}; expected one of {choices}")


#: The response modalities a Live session accepts; the server refuses IMAGE and VIDEO.
LIVE_MODALITIES = (m.Modality.TEXT, m.Modality.AUDIO)


def _live_modality(modality: m.Modality) -> m.Modality:
    if modality not in LIVE_MODALITIES:
        raise ValueError(
            f"response_modality: {modality.value} is not a Live response modality; a Live "
            "session answers with TEXT or AUDIO only (the server refuses anything else; send "
            "video or images as input with send_video/clientContent instead)"
        )
    return modality


def response_modality(value: m.Modality | str | Iterable[m.Modality | str]) -> m.Modality:
    """The one response modality named by ``value``: TEXT or AUDIO, in any case."""
    if isinstance(value, str):
        return _live_modality(parse_modality(value))
    if not isinstance(value, Iterable):
        raise ValueError(
            f"response_modality: expected a modality or a sequence of one, got {value!r}"
        )
    distinct: list[m.Modality] = []
    for item in value:
        modality = parse_modality(item)
        if modality not in distinct:
            distinct.append(modality)
    if not distinct:
        raise ValueError("response_modality: got an empty sequence; give exactly one modality")
    if len(distinct) > 1:
        names = [modality.value for modality in distinct]
        shown = ", ".join(names[:-1]) + " and " + names[-1]
        raise ValueError(
            f"response_modality: a Live session takes exactly one response modality; got {shown} "
            "(the Live API rejects more than one; use output_transcription for text beside audio)"
        )
    return _live_modality(distinct[0])


def enum_or_none(cls: type[_E], value: _E | str | None, name: str) -> _E | None:
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value.upper())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in cls)
    raise ValueError(f"{name}: unknown value {value!r}; expected one of {choices}")


def start_sensitivity(value: m.StartSensitivity | str | None) -> m.StartSensitivity | None:
    return enum_or_none(m.StartSensitivity, value, "start_sensitivity")


def end_sensitivity(value: m.EndSensitivity | str | None) -> m.EndSensitivity | None:
    return enum_or_none(m.EndSensitivity, value, "end_sensitivity")


def activity_handling(value: m.ActivityHandling | str | None) -> m.ActivityHandling | None:
    return enum_or_none(m.ActivityHandling, value, "activity_handling")


def turn_coverage(value: m.TurnCoverage | str | None) -> m.TurnCoverage | None:
    return enum_or_none(m.TurnCoverage, value, "turn_coverage")


def thinking_level(value: m.ThinkingLevel | str | None) -> m.ThinkingLevel | None:
    return enum_or_none(m.ThinkingLevel, value, "thinking_level")


def transcription_mode(value: m.TranscriptionMode | str | None) -> m.TranscriptionMode | None:
    return enum_or_none(m.TranscriptionMode, value, "transcription_mode")


def media_resolution(value: m.MediaResolution | str | None) -> m.MediaResolution | None:
    return enum_or_none(m.MediaResolution, value, "media_resolution")


def voice_sample(value: bytes | bytearray | memoryview | None) -> bytes | None:
    """A replicated voice's sample as bytes: bytes-like input is copied, an empty one refused."""
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(
            f"voice_sample: expected the audio sample as bytes, got {type(value).__name__}"
        )
    sample = bytes(value)
    if not sample:
        raise ValueError("voice_sample: the sample is empty; give the audio of the voice to use")
    return sample


def instance_or_none(cls: type[Any]) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, cls):
            owner = type(instance).__name__
            raise ValueError(
                f"{owner}.{attribute.name}: expected a {cls.__module__}.{cls.__name__} or None, "
                f"got {type(value).__name__}"
            )

    return check


def callable_or_none(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        owner = type(instance).__name__
        raise ValueError(
            f"{owner}.{attribute.name}: expected a function, got {type(value).__name__}"
        )


def check_model(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{attribute.name}: the model name is empty")


def at_least(minimum: int, unit: str = "") -> Any:
    suffix = f" {unit}" if unit else ""

    def check(_: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None and not value >= minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum}{suffix}, got {value!r}")

    return check


def positive_seconds(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (not value > 0 or math.isinf(value)):
        raise ValueError(
            f"{attribute.name} must be a positive finite number of seconds, got {value!r}"
        )


def check_temperature(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 2.0:
        raise ValueError(f"{attribute.name} must be between 0 and 2, got {value!r}")


def one_of(choices: tuple[str, ...], what: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            shown = ", ".join(repr(choice) for choice in choices)
            owner = type(instance).__name__
            raise ValueError(
                f"{owner}.{attribute.name}: unknown {what} {value!r}; expected one of {shown}"
            )

    return check
