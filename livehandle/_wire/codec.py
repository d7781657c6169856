"""JSON encoding and decoding of Gemini Live messages.

Four functions, one per direction and side::

    encode_client(msg) -> str            # what a client sends
    decode_server(data) -> ServerMessage  # what a client receives
    decode_client(data) -> ClientMessage  # what a server (the emulator) receives
    encode_server(msg) -> str            # what a server sends

Rules (wire-protocol.md §1.4): lowerCamelCase keys; ``None`` is omitted, never ``null``; ``bytes``
are standard base64; durations are ``"50s"`` strings; int64 fields are strings on output.  On input
the decoders also accept snake_case keys, URL-safe and unpadded base64, and int64 values as numbers
(google-genai sends all of these).  A member that proto3 JSON leaves out when it is empty (a
string, bytes, a list, an unspecified enum) decodes to the field's default; a member of the wrong
JSON type is still an error.  Unknown members are kept in the message's ``extra`` mapping (and
written back out by the encoders); each unknown name is logged once at DEBUG with its wire path.
An unknown server message kind decodes to :class:`~livehandle.lowlevel.UnknownServerMessage`.

Anything malformed raises :class:`~livehandle.ProtocolError`, whose message names the wire
path of the bad value (``serverContent.modelTurn.parts[0].inlineData.data``) and shows a short
excerpt of the input.  Nothing else escapes these functions.

The translation is done by one :class:`cattrs.Converter` built at import time
(:mod:`livehandle._wire.hooks`); this module holds the envelopes and the public functions.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from typing import Any, cast

import attrs

from livehandle._errors import ProtocolError
from livehandle._json import json_kind
from livehandle._wire import messages as m
from livehandle._wire.hooks import Hook, StructureHook, converter, modelled_names
from livehandle._wire.leaves import Invalid, structure_bytes, to_camel
from livehandle._wire.unknown import flush, note

__all__ = [
    "decode_client",
    "decode_server",
    "encode_client",
    "encode_realtime_audio",
    "encode_server",
    "to_camel",
]

_EXCERPT_CHARS = 120

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


def _input_names(kinds: dict[type, str]) -> dict[str, tuple[type, str, StructureHook]]:
    table = {}
    for cls, key in kinds.items():
        entry = (cls, key, converter.get_structure_hook(cls))
        table[key] = entry
        table[re.sub(r"([A-Z])", lambda g: "_" + g.group(1).lower(), key)] = entry
    return table


_CLIENT_BY_KEY = _input_names(_CLIENT_KINDS)
_SERVER_BY_KEY = _input_names(_SERVER_KINDS)
_USAGE_KEYS = ("usageMetadata", "usage_metadata")
_structure_usage = converter.get_structure_hook(m.UsageMetadata)
_unstructure_usage = converter.get_unstructure_hook(m.UsageMetadata)
_UNSTRUCTURE: dict[type, Hook] = {
    cls: converter.get_unstructure_hook(cls) for cls in (*_CLIENT_KINDS, *_SERVER_KINDS)
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one beyond a float's range (``1e400``) is refused, not inf."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


# One decoder for every frame (json.loads builds a new one per call when given hooks).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _excerpt(data: bytes | str) -> str:
    text = data if isinstance(data, str) else data[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return repr(text)


#: One JSON escape: a surrogate pair, a lone high or low surrogate, or any other escape (so
#: that an escaped backslash is skipped whole).
_ESCAPE_RE = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|u[dD][c-fC-F][0-9a-fA-F]{2}|.)",
    re.DOTALL,
)


def _lone_to_replacement(match: re.Match[str]) -> str:
    escape = match.group()
    if len(escape) == 6 and escape[2] in "dD":  # a surrogate escape that is not half a pair
        return "\\ufffd"
    return escape


def _whole_unicode(text: str) -> str:
    r"""``text`` with every lone surrogate (escaped or not) replaced by U+FFFD.

    JSON may spell a surrogate alone (``"\ud800"``); such a string is not Unicode text, cannot
    be written to a UTF-8 frame again, and would fail far from here.  The common case (ASCII, no
    surrogate escape) costs two or three C-level searches.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if "\\" in text and ("\\ud" in text or "\\uD" in text):
        text = _ESCAPE_RE.sub(_lone_to_replacement, text)
    return text


def _load_object(data: bytes | str, side: str) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise ProtocolError(f"{side} message must be bytes or str, got {type(data).__name__}")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        value = _DECODER.decode(_whole_unicode(text))
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


def _fail(side: str, exc: Invalid, data: bytes | str) -> ProtocolError:
    path = ""
    for segment in exc.path:
        path += segment if segment.startswith("[") else ("." if path else "") + segment
    where = f" at {path}" if path else ""
    return ProtocolError(f"invalid {side} message{where}: {exc.reason}; excerpt: {_excerpt(data)}")


def _dumps(payload: dict[str, Any], what: str) -> str:
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"cannot encode {what} as JSON: {exc}") from None
    if not text.isascii():
        # A text frame is UTF-8: a lone surrogate ("\ud800") cannot travel, and would otherwise
        # fail in the writer, far from the send that put it there.
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise ProtocolError(
                f"cannot encode {what}: {bad!r} is not valid Unicode text (a lone surrogate)"
            ) from None
    return text


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
    except Invalid as exc:
        raise _fail("client", exc.under(wire_key), data) from None
    finally:
        flush(wire_key, body)
    return msg


def _model_audio_chunk(obj: dict[str, Any]) -> m.ServerContent | None:
    """The most frequent server message, decoded without the generic hooks, or None.

    ``{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": m, "data": d}}]}}}``
    (with an optional ``role``), exactly: one chunk of model audio, some 25 per second of speech.
    Anything else, or anything malformed, is left to the generic path, which decodes the same
    message into the same value (``tests/wire/test_fast_chunk.py`` checks that they agree) and
    reports problems.
    """
    if len(obj) != 1:
        return None
    content = obj.get("serverContent")
    if type(content) is not dict or len(content) != 1:
        return None
    turn = content.get("modelTurn")
    if type(turn) is not dict:
        return None
    parts = turn.get("parts")
    role = turn.get("role")
    if type(parts) is not list or len(parts) != 1 or len(turn) != (1 if role is None else 2):
        return None
    if role is not None and type(role) is not str:
        return None
    part = parts[0]
    if type(part) is not dict or len(part) != 1:
        return None
    blob = part.get("inlineData")
    if type(blob) is not dict or len(blob) != 2:
        return None
    mime, encoded = blob.get("mimeType"), blob.get("data")
    if type(mime) is not str or type(encoded) is not str:
        return None
    try:
        payload = structure_bytes(encoded)
    except Invalid:
        return None  # the generic path reports it, with the path to the bad field
    return m.ServerContent(
        model_turn=m.Content(parts=(m.Part(inline_data=m.Blob(mime, payload)),), role=role)
    )


def decode_server(data: bytes | str) -> m.ServerMessage:
    """Decode one server frame (binary or text) into a server message.

    A frame with no known member decodes to :class:`~livehandle.lowlevel.EmptyServerMessage`
    when it is empty or carries only usage, else to
    :class:`~livehandle.lowlevel.UnknownServerMessage`.  Members beside the kind that are not
    modelled are kept in the message's ``extra`` with the kind's own unknown members (and logged
    once per name at DEBUG), so a newer envelope field is never dropped without a trace.

    Raises:
        ProtocolError: not JSON, several union members, or a known member is malformed.
    """
    obj = _load_object(data, "server")
    chunk = _model_audio_chunk(obj)
    if chunk is not None:
        return chunk
    found = [(key, _SERVER_BY_KEY[key]) for key in obj if key in _SERVER_BY_KEY]
    usage_key = next((k for k in _USAGE_KEYS if k in obj), None)
    try:
        usage = None if usage_key is None else _structure_usage(obj[usage_key], m.UsageMetadata)
    except Invalid as exc:
        raise _fail("server", exc.under("usageMetadata"), data) from None
    finally:
        if usage_key is not None:
            flush("usageMetadata", obj[usage_key])
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
    except Invalid as exc:
        raise _fail("server", exc.under(wire_key), data) from None
    finally:
        flush(wire_key, obj[key])
    beside = [k for k in obj if k != key and k not in _USAGE_KEYS]
    if beside:
        msg = _keep_beside(msg, {k: obj[k] for k in beside})
    if usage is not None:
        msg = attrs.evolve(msg, usage_metadata=usage)
    return msg


def _keep_beside(msg: m.ServerMessage, members: dict[str, Any]) -> m.ServerMessage:
    """Keep the envelope's unknown members (beside the kind) in the message's ``extra``.

    The envelope and its kind are one object here (as ``usage_metadata`` is), so its unknown
    members join the kind's own; a name found at both levels keeps the kind's value.  A name the
    kind models (``type`` beside ``voiceActivity``) cannot live in ``extra``: it is logged only.
    """
    for name in members:
        note("ServerMessage", name)
    flush("message", members)
    if isinstance(msg, m.EmptyServerMessage | m.UnknownServerMessage):  # no kind: never here
        return msg
    modelled = modelled_names(type(msg))
    beside = {name: value for name, value in members.items() if name not in modelled}
    if not beside:
        return msg
    kept: m.ServerMessage = attrs.evolve(cast("Any", msg), extra={**beside, **msg.extra})
    return kept


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
