"""Hypothesis strategies that build any wire message from its attrs field types."""

from __future__ import annotations

import enum
import types
from typing import Any, Union, get_args, get_origin

import attrs
from hypothesis import strategies as st

from livehandle._wire import messages as m
from livehandle._wire.codec import to_camel

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)

# Unknown members kept in ``extra``: names no class models ("x-" is never a wire name).
extra_members = st.dictionaries(
    st.text("abc", max_size=3).map(lambda name: "x-" + name), json_values, max_size=2
)

# Durations are whole nanoseconds on the wire; build them that way so they round-trip exactly.
durations = st.integers(-(10**12), 10**12).map(lambda nanos: nanos / 1e9)


def strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    if tp is str:
        return st.text(max_size=12)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**31), 2**31 - 1)
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is bytes:
        return st.binary(max_size=48)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if tp is dict or get_origin(tp) is dict:
        return json_objects
    if get_origin(tp) is tuple:
        return st.lists(for_type(get_args(tp)[0]), max_size=2).map(tuple)
    if attrs.has(tp):
        return for_class(tp)
    raise TypeError(f"no strategy for {tp!r}")


def for_field(field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    inner, optional = strip_optional(field.type)
    if field.metadata.get(m.INT64):
        base: st.SearchStrategy[Any] = st.integers(-(2**63), 2**63 - 1)
    elif field.metadata.get(m.DURATION):
        base = durations
    else:
        base = for_type(inner)
    return st.none() | base if optional else base


def for_class(cls: type) -> st.SearchStrategy[Any]:
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    if cls is m.RealtimeInput:
        return st.one_of(
            [
                for_type(strip_optional(fields[name].type)[0]).map(
                    lambda v, n=name: m.RealtimeInput(**{n: v})
                )
                for name in m.REALTIME_INPUT_FIELDS
            ]
        )
    if cls is m.UnknownServerMessage:
        known = set(SERVER_KEYS) | {"usageMetadata", "usage_metadata"}
        known |= {snake(k) for k in SERVER_KEYS}
        keys = st.text(min_size=1, max_size=8).filter(lambda k: k not in known)
        return st.dictionaries(keys, json_values, min_size=1, max_size=3).map(
            m.UnknownServerMessage
        )
    return st.builds(
        cls,
        **{name: extra_members if name == m.EXTRA else for_field(f) for name, f in fields.items()},
    )


def snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


CLIENT_KEYS = {
    "setup": m.Setup,
    "clientContent": m.ClientContent,
    "realtimeInput": m.RealtimeInput,
    "toolResponse": m.ToolResponse,
    "contextUpdate": m.ContextUpdate,
}
SERVER_KEYS = {
    "setupComplete": m.SetupComplete,
    "serverContent": m.ServerContent,
    "toolCall": m.ToolCall,
    "toolCallCancellation": m.ToolCallCancellation,
    "goAway": m.GoAway,
    "sessionResumptionUpdate": m.SessionResumptionUpdate,
    "voiceActivity": m.VoiceActivity,
    "voiceActivityDetectionSignal": m.VoiceActivityDetectionSignal,
}
CLIENT_CLASSES = tuple(CLIENT_KEYS.values())
SERVER_CLASSES = (*SERVER_KEYS.values(), m.EmptyServerMessage, m.UnknownServerMessage)


def wire_name(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get(m.WIRE_NAME, to_camel(field.name)))
