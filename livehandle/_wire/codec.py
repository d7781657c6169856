"""JSON encoding and decoding of Gemini Live messages.

Four functions, one per direction and side::

    encode_client(msg) -> str            # what a client sends
    decode_server(data) -> ServerMessage  # what a client receives
    decode_client(data) -> ClientMessage  # what a server (the emulator) receives
    encode_server(msg) -> str            # what a server sends

Rules (wire-protocol.md §1.4): lowerCamelCase keys; ``None`` is omitted, never ``null``; ``bytes``
are standard base64; durations are ``"50s"`` strings; int64 fields are strings on output.  On input
the decoders also accept snake_case keys, URL-safe and unpadded base64, and int64 values as numbers
(google-genai sends all of these).  Unknown fields are ignored; an unknown server message kind
decodes to :class:`~livehandle.lowlevel.UnknownServerMessage`.

Anything malformed raises :class:`~livehandle.ProtocolError`, whose message names the wire
path of the bad value (``serverContent.modelTurn.parts[0].inlineData.data``) and shows a short
excerpt of the input.  Nothing else escapes these functions.

The translation is done by one :class:`cattrs.Converter` built at import time: it resolves a hook
per field type, and the hook factories registered here add the wire rules (camel/snake names,
strict primitives, field metadata for int64 and durations).
"""

from __future__ import annotations

import binascii
import enum
import json
import re
import types
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs

from livehandle._errors import ProtocolError
from livehandle._json import json_kind
from livehandle._wire import messages as m

__all__ = [
    "decode_client",
    "decode_server",
    "encode_client",
    "encode_realtime_audio",
    "encode_server",
    "to_camel",
]

_Hook = Callable[[Any], Any]
_StructureHook = Callable[[Any, Any], Any]

_EXCERPT_CHARS = 120


class _Invalid(Exception):
    """A decoding failure with the wire path where it happened (innermost segment last)."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def under(self, segment: str) -> _Invalid:
        return _Invalid(self.reason, (segment, *self.path))


def to_camel(name: str) -> str:
    """``snake_case`` -> ``lowerCamelCase`` (``mime_type`` -> ``mimeType``)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --------------------------------------------------------------------------------------------
# Leaf hooks: strict primitives, base64, int64, durations
# --------------------------------------------------------------------------------------------


def _structure_str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    raise _Invalid(f"expected a string, got {json_kind(value)}")


def _structure_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"expected a boolean, got {json_kind(value)}")


_INT_RE = re.compile(r"-?[0-9]+")


def _structure_int(value: Any, _: Any = None) -> int:
    # Proto3 JSON accepts integers as numbers or as decimal strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Invalid(f"expected an integer, got {json_kind(value)}")


def _structure_float(value: Any, _: Any = None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _Invalid(f"expected a number, got {json_kind(value)}")


def _structure_enum(value: Any, cls: type[enum.StrEnum]) -> enum.StrEnum:
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise _Invalid(f"{value!r:.60} is not one of {allowed}") from None
    raise _Invalid(f"expected a string, got {json_kind(value)}")


def _structure_object(value: Any, _: Any = None) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise _Invalid(f"expected an object, got {json_kind(value)}")


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _structure_bytes(value: Any, _: Any = None) -> bytes:
    if not isinstance(value, str):
        raise _Invalid(f"expected a base64 string, got {json_kind(value)}")
    text = value
    if "-" in text or "_" in text:
        text = text.translate(_URLSAFE_TO_STANDARD)
    if missing := -len(text) % 4:
        text += "=" * missing
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise _Invalid(f"invalid base64 ({exc})") from None


def _unstructure_bytes(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


_INT64_MAX = 2**63 - 1


def _structure_int64(value: Any) -> int:
    number = _structure_int(value)
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise _Invalid("integer out of int64 range")
    return number


def _unstructure_int64(value: int) -> str:
    return str(value)


_DURATION_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,9}))?s")


def _structure_duration(value: Any) -> float:
    if not isinstance(value, str):
        raise _Invalid(f'expected a duration string like "50s", got {json_kind(value)}')
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        raise _Invalid(f'expected a duration string like "50s" or "1.250s", got {value!r:.40}')
    sign, whole, frac = match.groups()
    nanos = int(whole) * 1_000_000_000 + int((frac or "").ljust(9, "0"))
    return (-nanos if sign else nanos) / 1e9


def _unstructure_duration(value: float) -> str:
    nanos = round(value * 1e9)
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), 1_000_000_000)
    if frac == 0:
        return f"{sign}{whole}s"
    # Proto3 canonical form: 3, 6 or 9 fractional digits.
    digits = f"{frac:09d}"
    for width in (3, 6):
        if digits[width:] == "0" * (9 - width):
            digits = digits[:width]
            break
    return f"{sign}{whole}.{digits}s"


# --------------------------------------------------------------------------------------------
# Hook factories: attrs classes and homogeneous tuples
# --------------------------------------------------------------------------------------------

#: Fields carried beside the union member at the top level of a server message.
_ENVELOPE_FIELDS = frozenset({"usage_metadata"})

#: Extra input names, beyond camelCase and snake_case (Vertex usage field names).
_EXTRA_INPUT_NAMES: dict[type, dict[str, str]] = {
    m.UsageMetadata: {
        "candidatesTokenCount": "response_token_count",
        "candidates_token_count": "response_token_count",
        "candidatesTokensDetails": "response_tokens_details",
        "candidates_tokens_details": "response_tokens_details",
    },
}


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


@attrs.frozen
class _FieldSpec:
    attr: str
    wire: str
    structure: _Hook
    unstructure: _Hook | None  # None: the value is already JSON-ready
    required: bool


def _field_specs(cls: type, converter: cattrs.Converter) -> list[_FieldSpec]:
    specs = []
    hints = attrs.resolve_types(cls)
    for field in attrs.fields(hints):
        if field.name in _ENVELOPE_FIELDS:
            continue
        inner, _ = _strip_optional(field.type)
        if field.metadata.get(m.INT64):
            structure: _Hook = _structure_int64
            unstructure: _Hook | None = _unstructure_int64
        elif field.metadata.get(m.DURATION):
            structure, unstructure = _structure_duration, _unstructure_duration
        else:
            hook = converter.get_structure_hook(inner)

            def structure(value: Any, _hook: Any = hook, _tp: Any = inner) -> Any:
                return _hook(value, _tp)

            unstructure = _json_ready_or_hook(inner, converter)
        wire = field.metadata.get(m.WIRE_NAME, to_camel(field.name))
        specs.append(
            _FieldSpec(field.name, wire, structure, unstructure, field.default is attrs.NOTHING)
        )
    return specs


_JSON_READY = (str, bool, int, float, dict)


def _json_ready_or_hook(tp: Any, converter: cattrs.Converter) -> _Hook | None:
    """None when values of ``tp`` can go to ``json.dumps`` as they are."""
    if isinstance(tp, type) and issubclass(tp, _JSON_READY):
        return None
    if get_origin(tp) is dict:
        return None
    if get_origin(tp) is tuple:
        (item,) = (a for a in get_args(tp) if a is not Ellipsis)
        if _json_ready_or_hook(_strip_optional(item)[0], converter) is None:
            return None
    return converter.get_unstructure_hook(tp)


def _make_class_structure(cls: type, converter: cattrs.Converter) -> _StructureHook:
    specs = _field_specs(cls, converter)
    by_name: dict[str, _FieldSpec] = {}
    for spec in specs:
        by_name[spec.wire] = spec
        by_name[spec.attr] = spec
    for alias, attr in _EXTRA_INPUT_NAMES.get(cls, {}).items():
        by_name[alias] = next(s for s in specs if s.attr == attr)
    required = [s for s in specs if s.required]
    name = cls.__name__

    def structure(value: Any, _: Any = None) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object for {name}, got {json_kind(value)}")
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            spec = by_name.get(key)
            if spec is None:
                continue  # unknown fields are ignored
            if item is None:
                continue  # tolerate explicit nulls on input; they mean "absent"
            try:
                kwargs[spec.attr] = spec.structure(item)
            except _Invalid as exc:
                raise exc.under(spec.wire) from None
            except (ValueError, TypeError) as exc:
                raise _Invalid(str(exc), (spec.wire,)) from None
        for spec in required:
            if spec.attr not in kwargs:
                raise _Invalid(f"missing required field {spec.wire!r}")
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise _Invalid(str(exc)) from None

    return structure


def _make_class_unstructure(cls: type, converter: cattrs.Converter) -> _Hook:
    plan = [(s.attr, s.wire, s.unstructure) for s in _field_specs(cls, converter)]

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, wire, hook in plan:
            value = getattr(obj, attr)
            if value is not None:
                out[wire] = value if hook is None else hook(value)
        return out

    return unstructure


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _make_tuple_structure(tp: Any, converter: cattrs.Converter) -> _StructureHook:
    item_type = get_args(tp)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any = None) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _Invalid(f"expected an array, got {json_kind(value)}")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(item_hook(item, item_type))
            except _Invalid as exc:
                raise exc.under(f"[{index}]") from None
            except (ValueError, TypeError) as exc:
                raise _Invalid(str(exc), (f"[{index}]",)) from None
        return tuple(items)

    return structure


def _make_tuple_unstructure(tp: Any, converter: cattrs.Converter) -> _Hook:
    item_hook = converter.get_unstructure_hook(get_args(tp)[0])

    def unstructure(value: tuple[Any, ...]) -> list[Any]:
        return [item_hook(item) for item in value]

    return unstructure


def _is_dict_type(tp: Any) -> bool:
    return tp is dict or get_origin(tp) is dict


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    for tp, hook in (
        (str, _structure_str),
        (bool, _structure_bool),
        (int, _structure_int),
        (float, _structure_float),
        (bytes, _structure_bytes),
    ):
        converter.register_structure_hook(tp, hook)
    # StrEnum precedes str in the MRO, so this wins over the strict str hook for enum fields.
    converter.register_structure_hook(enum.StrEnum, _structure_enum)
    converter.register_structure_hook_func(_is_dict_type, _structure_object)
    converter.register_unstructure_hook(bytes, _unstructure_bytes)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _make_tuple_structure)
    converter.register_unstructure_hook_factory(_is_homogeneous_tuple, _make_tuple_unstructure)
    converter.register_structure_hook_factory(attrs.has, _make_class_structure)
    converter.register_unstructure_hook_factory(attrs.has, _make_class_unstructure)
    return converter


_converter = _build_converter()

# --------------------------------------------------------------------------------------------
# Envelopes
# --------------------------------------------------------------------------------------------

_CLIENT_KINDS: dict[type, str] = {
    m.Setup: "setup",
    m.ClientContent: "clientContent",
    m.RealtimeInput: "realtimeInput",
    m.ToolResponse: "toolResponse",
    m.ContextUpdate: "contextUpdate",
}

_SERVER_KINDS: dict[type, str] = {
    m.SetupComplete: "setupComplete",
    m.ServerContent: "serverContent",
    m.ToolCall: "toolCall",
    m.ToolCallCancellation: "toolCallCancellation",
    m.GoAway: "goAway",
    m.SessionResumptionUpdate: "sessionResumptionUpdate",
    m.VoiceActivity: "voiceActivity",
    m.VoiceActivityDetectionSignal: "voiceActivityDetectionSignal",
}


def _input_names(kinds: dict[type, str]) -> dict[str, tuple[type, str, _StructureHook]]:
    table = {}
    for cls, key in kinds.items():
        entry = (cls, key, _converter.get_structure_hook(cls))
        table[key] = entry
        table[re.sub(r"([A-Z])", lambda g: "_" + g.group(1).lower(), key)] = entry
    return table


_CLIENT_BY_KEY = _input_names(_CLIENT_KINDS)
_SERVER_BY_KEY = _input_names(_SERVER_KINDS)
_USAGE_KEYS = ("usageMetadata", "usage_metadata")
_structure_usage = _converter.get_structure_hook(m.UsageMetadata)
_unstructure_usage = _converter.get_unstructure_hook(m.UsageMetadata)
_UNSTRUCTURE: dict[type, _Hook] = {
    cls: _converter.get_unstructure_hook(cls) for cls in (*_CLIENT_KINDS, *_SERVER_KINDS)
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _excerpt(data: bytes | str) -> str:
    text = data if isinstance(data, str) else data[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return repr(text)


def _load_object(data: bytes | str, side: str) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise ProtocolError(f"{side} message must be bytes or str, got {type(data).__name__}")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
        raise ProtocolError(
            f"{side} message is not valid JSON: {reason}; excerpt: {_excerpt(data)}"
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"{side} message must be a JSON object, got {json_kind(value)}; "
            f"excerpt: {_excerpt(data)}"
        )
    return value


def _fail(side: str, exc: _Invalid, data: bytes | str) -> ProtocolError:
    path = ""
    for segment in exc.path:
        path += segment if segment.startswith("[") else ("." if path else "") + segment
    where = f" at {path}" if path else ""
    return ProtocolError(f"invalid {side} message{where}: {exc.reason}; excerpt: {_excerpt(data)}")


def _dumps(payload: dict[str, Any], what: str) -> str:
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"cannot encode {what} as JSON: {exc}") from None


def _unstructure(msg: Any, kinds: dict[type, str], side: str) -> tuple[str, dict[str, Any]]:
    key = kinds.get(type(msg))
    if key is None:
        raise ProtocolError(f"not a {side} message: {type(msg).__name__}")
    try:
        return key, _UNSTRUCTURE[type(msg)](msg)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"cannot encode {type(msg).__name__}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def encode_client(msg: m.ClientMessage) -> str:
    """Encode a client message as the JSON text of one WebSocket text frame.

    Raises:
        ProtocolError: the message holds something JSON cannot carry (NaN, a non-JSON value in a
            free-form object), or is not a client message.
    """
    key, body = _unstructure(msg, _CLIENT_KINDS, "client")
    return _dumps({key: body}, type(msg).__name__)


def encode_realtime_audio(pcm: bytes, mime_type: str) -> str:
    """Encode ``realtimeInput.audio`` directly, without building or walking a message.

    The text is exactly what :func:`encode_client` gives for
    ``RealtimeInput(audio=Blob(mime_type, pcm))``.  For the hot path (a microphone frame every
    20-100 ms); ``mime_type`` is JSON-escaped.
    """
    prefix = _AUDIO_PREFIXES.get(mime_type)
    if prefix is None:
        mime = json.dumps(mime_type, ensure_ascii=False)
        prefix = '{"realtimeInput":{"audio":{"mimeType":' + mime + ',"data":"'
        if len(_AUDIO_PREFIXES) < 16:
            _AUDIO_PREFIXES[mime_type] = prefix
    return prefix + binascii.b2a_base64(pcm, newline=False).decode("ascii") + '"}}}'


_AUDIO_PREFIXES: dict[str, str] = {}


def decode_client(data: bytes | str) -> m.ClientMessage:
    """Decode one client frame (what the emulator receives); exactly one top-level key.

    Raises:
        ProtocolError: not JSON, not one known message kind, or a field is malformed.
    """
    obj = _load_object(data, "client")
    if len(obj) != 1:
        keys = ", ".join(sorted(obj)) or "none"
        raise ProtocolError(
            f"client message must have exactly one top-level key, got {keys}; "
            f"excerpt: {_excerpt(data)}"
        )
    ((key, body),) = obj.items()
    entry = _CLIENT_BY_KEY.get(key)
    if entry is None:
        raise ProtocolError(f"unknown client message kind {key!r}; excerpt: {_excerpt(data)}")
    cls, wire_key, hook = entry
    try:
        msg: m.ClientMessage = hook(body, cls)
    except _Invalid as exc:
        raise _fail("client", exc.under(wire_key), data) from None
    return msg


def decode_server(data: bytes | str) -> m.ServerMessage:
    """Decode one server frame (binary or text) into a server message.

    A frame with no known member decodes to :class:`~livehandle.lowlevel.EmptyServerMessage`
    when it is empty or carries only usage, else to
    :class:`~livehandle.lowlevel.UnknownServerMessage`.

    Raises:
        ProtocolError: not JSON, several union members, or a known member is malformed.
    """
    obj = _load_object(data, "server")
    found = [(key, _SERVER_BY_KEY[key]) for key in obj if key in _SERVER_BY_KEY]
    usage_key = next((k for k in _USAGE_KEYS if k in obj), None)
    try:
        usage = None if usage_key is None else _structure_usage(obj[usage_key], m.UsageMetadata)
    except _Invalid as exc:
        raise _fail("server", exc.under("usageMetadata"), data) from None
    if not found:
        others = [k for k in obj if k not in _USAGE_KEYS]
        if others:
            return m.UnknownServerMessage(obj)
        return m.EmptyServerMessage(usage)
    if len(found) > 1:
        keys = ", ".join(key for key, _ in found)
        raise ProtocolError(
            f"server message has several members ({keys}); expected one; excerpt: {_excerpt(data)}"
        )
    ((key, (cls, wire_key, hook)),) = found
    try:
        msg: m.ServerMessage = hook(obj[key], cls)
    except _Invalid as exc:
        raise _fail("server", exc.under(wire_key), data) from None
    if usage is not None:
        msg = attrs.evolve(msg, usage_metadata=usage)
    return msg


def encode_server(msg: m.ServerMessage) -> str:
    """Encode a server message (what the emulator sends), with usage beside the member.

    Raises:
        ProtocolError: the message cannot be represented as JSON.
    """
    if isinstance(msg, m.UnknownServerMessage):
        return _dumps(msg.raw, "UnknownServerMessage")
    payload: dict[str, Any] = {}
    if not isinstance(msg, m.EmptyServerMessage):
        key, body = _unstructure(msg, _SERVER_KINDS, "server")
        payload[key] = body
    if msg.usage_metadata is not None:
        payload["usageMetadata"] = _unstructure_usage(msg.usage_metadata)
    return _dumps(payload, type(msg).__name__)
