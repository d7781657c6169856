"""The codec's hook machinery: one :class:`cattrs.Converter` that knows the wire rules.

Hook factories registered here build, once per class, a structure and an unstructure function
from the attrs fields: camelCase wire names (snake_case accepted on input), strict primitives
(:mod:`livehandle._wire.leaves`), int64 and duration field metadata, and the ``extra`` mapping
that keeps unknown members.  Decoding a member the class models costs one dict lookup;
an unknown member costs one more lookup (and a log line the first time its name is seen).
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs

from livehandle._json import json_kind
from livehandle._wire import messages as m
from livehandle._wire.common import (
    DURATION,
    EXTRA,
    INT64,
    WIRE_NAME,
    ExtraMembers,
    ThinkingLevel,
)
from livehandle._wire.leaves import (
    Invalid,
    structure_bool,
    structure_bytes,
    structure_duration,
    structure_enum,
    structure_float,
    structure_int,
    structure_int64,
    structure_object,
    structure_str,
    to_camel,
    unstructure_bytes,
    unstructure_duration,
    unstructure_int64,
)
from livehandle._wire.unknown import note

__all__ = ["Hook", "StructureHook", "converter", "strip_optional"]

Hook = Callable[[Any], Any]
StructureHook = Callable[[Any, Any], Any]

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


def strip_optional(tp: Any) -> tuple[Any, bool]:
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
    structure: Hook
    unstructure: Hook | None  # None: the value is already JSON-ready
    required: bool


def _field_specs(cls: type, converter: cattrs.Converter) -> list[_FieldSpec]:
    specs = []
    hints = attrs.resolve_types(cls)
    for field in attrs.fields(hints):
        if field.name in _ENVELOPE_FIELDS or field.name == EXTRA:
            continue
        inner, _ = strip_optional(field.type)
        if field.metadata.get(INT64):
            structure: Hook = structure_int64
            unstructure: Hook | None = unstructure_int64
        elif field.metadata.get(DURATION):
            structure, unstructure = structure_duration, unstructure_duration
        else:
            hook = converter.get_structure_hook(inner)

            def structure(value: Any, _hook: Any = hook, _tp: Any = inner) -> Any:
                return _hook(value, _tp)

            unstructure = _json_ready_or_hook(inner, converter)
        wire = field.metadata.get(WIRE_NAME, to_camel(field.name))
        specs.append(
            _FieldSpec(field.name, wire, structure, unstructure, field.default is attrs.NOTHING)
        )
    return specs


_JSON_READY = (str, bool, int, float, dict)


def _json_ready_or_hook(tp: Any, converter: cattrs.Converter) -> Hook | None:
    """None when values of ``tp`` can go to ``json.dumps`` as they are."""
    if isinstance(tp, type) and issubclass(tp, _JSON_READY):
        return None
    if get_origin(tp) is dict:
        return None
    if get_origin(tp) is tuple:
        (item,) = (a for a in get_args(tp) if a is not Ellipsis)
        if _json_ready_or_hook(strip_optional(item)[0], converter) is None:
            return None
    return converter.get_unstructure_hook(tp)


def _make_class_structure(cls: type, converter: cattrs.Converter) -> StructureHook:
    specs = _field_specs(cls, converter)
    by_name: dict[str, _FieldSpec] = {}
    for spec in specs:
        by_name[spec.wire] = spec
        by_name[spec.attr] = spec
    for alias, attr in _EXTRA_INPUT_NAMES.get(cls, {}).items():
        by_name[alias] = next(s for s in specs if s.attr == attr)
    required = [s for s in specs if s.required]
    keeps_extra = any(f.name == EXTRA for f in attrs.fields(cls))
    name = cls.__name__

    def structure(value: Any, _: Any = None) -> Any:
        if not isinstance(value, dict):
            raise Invalid(f"expected an object for {name}, got {json_kind(value)}")
        kwargs: dict[str, Any] = {}
        unknown: dict[str, Any] | None = None
        for key, item in value.items():
            spec = by_name.get(key)
            if spec is None:
                # Kept, not dropped: the message's ``extra`` carries it, and it is logged once.
                if unknown is None:
                    unknown = {}
                unknown[key] = item
                continue
            if item is None:
                continue  # tolerate explicit nulls on input; they mean "absent"
            try:
                kwargs[spec.attr] = spec.structure(item)
            except Invalid as exc:
                raise exc.under(spec.wire) from None
            except (ValueError, TypeError) as exc:
                raise Invalid(str(exc), (spec.wire,)) from None
        for spec in required:
            if spec.attr not in kwargs:
                raise Invalid(f"missing required field {spec.wire!r}")
        if unknown is not None:
            for key in unknown:
                note(name, key)
            if keeps_extra:
                kwargs[EXTRA] = ExtraMembers(unknown)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise Invalid(str(exc)) from None

    return structure


_MODELLED: dict[type, frozenset[str]] = {}


def modelled_names(cls: type, using: cattrs.Converter | None = None) -> frozenset[str]:
    """Every name the decoder reads into a field of ``cls``, aliases too.

    ``extra`` may hold none of them: it would decode into the field, not back into ``extra``.
    """
    known = _MODELLED.get(cls)
    if known is None:
        specs = _field_specs(cls, using if using is not None else converter)
        known = _MODELLED[cls] = (
            frozenset(s.wire for s in specs)
            | frozenset(s.attr for s in specs)
            | frozenset(_EXTRA_INPUT_NAMES.get(cls, {}))
        )
    return known


def _make_class_unstructure(cls: type, converter: cattrs.Converter) -> Hook:
    specs = _field_specs(cls, converter)
    plan = [(s.attr, s.wire, s.unstructure) for s in specs]
    modelled = modelled_names(cls, converter)
    keeps_extra = any(f.name == EXTRA for f in attrs.fields(cls))
    name = cls.__name__

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, wire, hook in plan:
            value = getattr(obj, attr)
            if value is not None:
                out[wire] = value if hook is None else hook(value)
        if keeps_extra and obj.extra:
            for key, value in obj.extra.items():
                if key in modelled:
                    # It would decode into the field, not back into extra: refuse, never guess.
                    raise ValueError(f"{name}.extra repeats the modelled member {key!r}")
                out[key] = value
        return out

    return unstructure


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _make_tuple_structure(tp: Any, converter: cattrs.Converter) -> StructureHook:
    item_type = get_args(tp)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any = None) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Invalid(f"expected an array, got {json_kind(value)}")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(item_hook(item, item_type))
            except Invalid as exc:
                raise exc.under(f"[{index}]") from None
            except (ValueError, TypeError) as exc:
                raise Invalid(str(exc), (f"[{index}]",)) from None
        return tuple(items)

    return structure


def _make_tuple_unstructure(tp: Any, converter: cattrs.Converter) -> Hook:
    item_hook = converter.get_unstructure_hook(get_args(tp)[0])

    def unstructure(value: tuple[Any, ...]) -> list[Any]:
        return [item_hook(item) for item in value]

    return unstructure


def _is_dict_type(tp: Any) -> bool:
    return tp is dict or get_origin(tp) is dict


def _structure_thinking_level(value: Any, _: Any = None) -> ThinkingLevel:
    if isinstance(value, str):
        value = value.upper()
    return structure_enum(value, ThinkingLevel)  # type: ignore[return-value]


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    for tp, hook in (
        (str, structure_str),
        (bool, structure_bool),
        (int, structure_int),
        (float, structure_float),
        (bytes, structure_bytes),
    ):
        converter.register_structure_hook(tp, hook)
    # StrEnum precedes str in the MRO, so this wins over the strict str hook for enum fields.
    converter.register_structure_hook(enum.StrEnum, structure_enum)
    # The docs once spelled levels lower case; the API's enum is upper case.  Accept both.
    converter.register_structure_hook(ThinkingLevel, _structure_thinking_level)
    converter.register_structure_hook_func(_is_dict_type, structure_object)
    converter.register_unstructure_hook(bytes, unstructure_bytes)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _make_tuple_structure)
    converter.register_unstructure_hook_factory(_is_homogeneous_tuple, _make_tuple_unstructure)
    converter.register_structure_hook_factory(attrs.has, _make_class_structure)
    converter.register_unstructure_hook_factory(attrs.has, _make_class_unstructure)
    return converter


converter = _build_converter()
