"""The real server's parse rules for client messages: unknown names anywhere are refused.

Gemini parses the client's JSON into its protobuf messages before it looks at anything else, and
a name that is not a field of the message it belongs to fails the whole request: the connection
closes with 1007 (wire-protocol.md §5.4: "malformed/unsupported setup or message (bad field ...)")
and a reason in the protobuf parser's words, one line per unknown name::

    Invalid JSON payload received. Unknown name "bogusField" at 'setup': Cannot find field.

The path names the message that holds the unknown name, in proto terms: snake_case field names
joined by dots, ``[i]`` after a repeated field, ``[i].value`` after a map entry (reports quoting
production errors, e.g. ``'tools[0].function_declarations[4].parameters.properties[13].value
.any_of[0].items'`` in ax-llm/ax#293, ``'tools[0].function_declarations[0].parameters'`` in
mem0ai/mem0#1820; issue 13 gives the ``'setup'`` root of the Live API).  Both the lowerCamelCase
and the snake_case spelling of a field are accepted (proto3 JSON, wire-protocol.md §1.4).

The codec is tolerant by design (a newer server's fields must not break a client), so the emulator
checks the raw JSON itself: it walks the ``setup`` object alongside the attrs classes of the wire
messages, so a field added to those classes is known here at once.  Free-form JSON (``Struct``
values, JSON Schema) is not walked, except function ``parameters`` and ``response``: they are the
API's own ``Schema`` message, an OpenAPI 3.0 subset whose keywords are listed in
:data:`SCHEMA_FIELDS`; JSON Schema keywords outside it (``additionalProperties``, ``$ref``,
``oneOf``, ``const`` ...) are unknown names there, as the production reports above show.
``parametersJsonSchema`` takes full JSON Schema and is not restricted.

The two backends parse into different protos (wire-protocol.md §8): Google AI has no
``explicitVadSignal`` in ``setup`` and no ``displayName`` on ``Blob``/``FileData``; Vertex has no
``willContinue`` on ``FunctionResponse``.  The wire classes model the union of both, so for one
backend the names in :data:`NOT_ON_BACKEND` are unknown names too, refused with the same parser
message.  (The SDKs refuse these names before sending, e.g. google-genai's "explicit_vad_signal
parameter is not supported in Gemini API", so no production close text for them is on record;
the parser's wording is the emulator's inference from the proto lacking the field.)

The same parse applies to every later client message (``clientContent``, ``realtimeInput``,
``toolResponse``, ``contextUpdate``), with the message's proto field as the root of the path
(``Unknown name "x" at 'client_content'``).  Audio arrives about 50 times a second, so those
messages are not parsed twice: :func:`needs_raw_check` looks at the decoded message first (the
codec keeps every unknown member in the ``extra`` mapping of the object that held it), and only a
message with some unknown member, or with a ``Schema``-valued field to check, has its raw JSON
walked by :func:`message_unknown_names_reason`.
"""

from __future__ import annotations

import functools
import json
import types
from typing import Any, Union, get_args, get_origin

import attrs

from livehandle._wire import messages as m
from livehandle._wire.codec import to_camel

__all__ = [
    "NOT_ON_BACKEND",
    "SCHEMA_FIELDS",
    "message_unknown_names_reason",
    "needs_raw_check",
    "unknown_names",
    "unknown_names_reason",
]

#: The fields of the API's ``Schema`` message (snake_case), as google-genai / @google/genai
#: declare ``types.Schema`` for the Gemini API and the generativelanguage ``Schema`` proto has
#: them: an OpenAPI 3.0 subset.  ``additionalProperties``, ``$ref``/``$defs``, ``oneOf``,
#: ``allOf``, ``not``, ``const``, ``$schema``, ``patternProperties``, ``exclusiveMinimum``,
#: ``multipleOf`` ... are not among them.
SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "max_items",
        "min_items",
        "properties",
        "required",
        "min_properties",
        "max_properties",
        "min_length",
        "max_length",
        "pattern",
        "example",
        "any_of",
        "property_ordering",
        "default",
        "minimum",
        "maximum",
    }
)
_SCHEMA_NAMES = {name: name for name in SCHEMA_FIELDS} | {
    to_camel(name): name for name in SCHEMA_FIELDS
}

#: Free-form fields that hold a ``Schema`` message, not arbitrary JSON.
_SCHEMA_VALUED = frozenset(
    {(m.FunctionDeclaration, "parameters"), (m.FunctionDeclaration, "response")}
)

#: Fields of the wire classes that one backend's proto does not have (wire-protocol.md §8 "Google
#: AI vs Vertex"): that backend's parser refuses them as unknown names.  ``sessionResumption
#: .transparent`` is not here: Google AI's proto has it and refuses it as an invalid argument
#: (see ``setup_problem``).  Keyed by the backend names of ``EmulatorConnection.backend``.
NOT_ON_BACKEND: dict[str, frozenset[tuple[type, str]]] = {
    "google_ai": frozenset(
        {
            (m.Setup, "explicit_vad_signal"),  # §8: explicitVadSignal "not allowed"
            (m.Blob, "display_name"),  # §8: Blob/FileData displayName "not allowed"
            (m.FileData, "display_name"),
        }
    ),
    "vertex": frozenset({(m.FunctionResponse, "will_continue")}),  # §8: "not supported"
}

#: Attributes of the wire classes that are not wire fields (the unknown members a message kept).
_NOT_WIRE = frozenset({"extra"})

_LINE = "Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."


def unknown_names(setup: object, backend: str | None = None) -> list[tuple[str, str]]:
    """Every name in the raw ``setup`` object that its message does not have, as ``(name, path)``.

    In document order (depth first).  Values of the wrong JSON type are left to the codec.
    ``backend`` (``"google_ai"``, ``"vertex"``) also refuses the names that backend's proto
    lacks (:data:`NOT_ON_BACKEND`); None knows every field of the wire classes.
    """
    found: list[tuple[str, str]] = []
    if isinstance(setup, dict):
        _walk_message(setup, m.Setup, "setup", found, backend)
    return found


def unknown_names_reason(setup: object, backend: str | None = None) -> str | None:
    """The real server's close reason for the unknown names in ``setup``, or None if none."""
    return _reason(unknown_names(setup, backend))


def _reason(found: list[tuple[str, str]]) -> str | None:
    if not found:
        return None
    return "\n".join(_LINE.format(name=name, path=path) for name, path in found)


#: The proto field of the client message envelope that holds each kind: the root of the path.
_ROOTS: dict[type, str] = {
    m.Setup: "setup",
    m.ClientContent: "client_content",
    m.RealtimeInput: "realtime_input",
    m.ToolResponse: "tool_response",
    m.ContextUpdate: "context_update",
}


def needs_raw_check(message: Any, backend: str | None = None) -> bool:
    """Whether the decoded ``message`` may hold a name the real server's parser refuses.

    True when some object in it kept unknown members in ``extra``, holds a ``Schema``-valued
    field (whose keywords only the raw JSON shows), or sets a field ``backend`` does not have
    (:data:`NOT_ON_BACKEND`).  Cheap: it reads the decoded objects only, never JSON (free-form
    values are not looked into).
    """
    if getattr(message, "extra", None):
        return True
    cls: type = type(message)
    if any(getattr(message, name) is not None for name in _hidden_of(cls, backend)):
        return True
    for name, repeated, schema in _nested_of(cls):
        value = getattr(message, name)
        if value is None:
            continue
        if schema:
            return True
        if repeated:
            if any(needs_raw_check(item, backend) for item in value):
                return True
        elif needs_raw_check(value, backend):
            return True
    return False


def message_unknown_names_reason(
    message: object, frame: bytes | str, backend: str | None = None
) -> str | None:
    """The real server's close reason for unknown names in one client frame, or None.

    ``message`` is what the codec decoded from ``frame``; ``backend`` as for
    :func:`unknown_names`.  The frame is parsed again only when :func:`needs_raw_check` says
    the message may hold an unknown name.
    """
    root = _ROOTS.get(type(message))
    if root is None or not needs_raw_check(message, backend):
        return None
    envelope = json.loads(frame)  # the codec parsed it already: one object with one member
    (raw,) = envelope.values()
    found: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        _walk_message(raw, type(message), root, found, backend)
    return _reason(found)


@attrs.frozen
class _Field:
    name: str  # snake_case: the proto path segment
    kind: type | None  # the attrs class of the value (or of each item), None for a leaf
    repeated: bool
    schema: bool  # the value is a Schema message


@functools.cache
def _fields_of(cls: type) -> dict[str, _Field]:
    """JSON name (camelCase, snake_case, explicit wire name) -> field, for one wire class."""
    table: dict[str, _Field] = {}
    for field in attrs.fields(attrs.resolve_types(cls)):
        if field.name in _NOT_WIRE:
            continue
        kind, repeated = _element_type(field.type)
        entry = _Field(
            name=field.name,
            kind=kind if attrs.has(kind) else None,
            repeated=repeated,
            schema=(cls, field.name) in _SCHEMA_VALUED,
        )
        for key in (field.name, to_camel(field.name), field.metadata.get(m.WIRE_NAME)):
            if key:
                table[key] = entry
    return table


@functools.cache
def _hidden_of(cls: type, backend: str | None) -> tuple[str, ...]:
    """The attributes of ``cls`` that ``backend``'s proto does not have (none for None)."""
    hidden = NOT_ON_BACKEND.get(backend or "", frozenset())
    return tuple(name for owner, name in hidden if owner is cls)


@functools.cache
def _backend_fields_of(cls: type, backend: str | None) -> dict[str, _Field]:
    """:func:`_fields_of` without the fields ``backend`` does not have."""
    hidden = _hidden_of(cls, backend)
    return {key: f for key, f in _fields_of(cls).items() if f.name not in hidden}


@functools.cache
def _nested_of(cls: type) -> tuple[tuple[str, bool, bool], ...]:
    """``(attribute, repeated, schema)`` per field of ``cls`` that holds messages or a Schema."""
    fields = {field.name: field for field in _fields_of(cls).values()}
    return tuple(
        (field.name, field.repeated, field.schema)
        for field in fields.values()
        if field.kind is not None or field.schema
    )


def _element_type(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> X; ``tuple[X, ...]`` -> (X, repeated)."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        inner = [a for a in get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return _element_type(inner[0])
        return None, False
    if origin is tuple:
        items = [a for a in get_args(tp) if a is not Ellipsis]
        if len(items) == 1:
            return _element_type(items[0])[0], True
    return tp, False


def _walk_message(
    obj: dict[str, Any],
    cls: type,
    path: str,
    found: list[tuple[str, str]],
    backend: str | None = None,
) -> None:
    fields = _backend_fields_of(cls, backend)
    for key, value in obj.items():
        field = fields.get(key)
        if field is None:
            found.append((key, path))
            continue
        here = f"{path}.{field.name}"
        if field.schema:
            if isinstance(value, dict):
                _walk_schema(value, here, found)
        elif field.kind is None:
            continue
        elif field.repeated:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        _walk_message(item, field.kind, f"{here}[{index}]", found, backend)
        elif isinstance(value, dict):
            _walk_message(value, field.kind, here, found, backend)


def _walk_schema(obj: dict[str, Any], path: str, found: list[tuple[str, str]]) -> None:
    for key, value in obj.items():
        name = _SCHEMA_NAMES.get(key)
        if name is None:
            found.append((key, path))
        elif name == "items" and isinstance(value, dict):
            _walk_schema(value, f"{path}.items", found)
        elif name == "any_of" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _walk_schema(item, f"{path}.any_of[{index}]", found)
        elif name == "properties" and isinstance(value, dict):
            # A proto map is a repeated entry message: the path names the entry and its value.
            for index, item in enumerate(value.values()):
                if isinstance(item, dict):
                    _walk_schema(item, f"{path}.properties[{index}].value", found)
