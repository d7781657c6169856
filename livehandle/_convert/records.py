"""What the converter and the tool schemas read of a record: its ``__init__`` fields."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Annotated, Any, get_args, get_origin

import attrs

__all__ = [
    "RecordField",
    "field_keys",
    "is_typeddict",
    "qualified_required",
    "record_fields",
    "strip_qualifiers",
]

_EMPTY: Any = inspect.Parameter.empty
_QUALIFIERS: tuple[Any, ...] = (typing.Required, typing.NotRequired)


@attrs.frozen
class RecordField:
    """One field of an attrs class, dataclass or TypedDict, as JSON carries it.

    Attributes:
        key: the field's key in the JSON object (the attribute's name).
        arg: the ``__init__`` keyword that sets it (an attrs alias: ``x`` for ``_x``).
        annotation: the resolved type hint (``Annotated`` kept, ``Required``/``NotRequired``
            removed), or ``inspect.Parameter.empty`` when the field has none.
        required: whether the object must carry it (it has no default).
        default: the default (for attrs possibly an ``attrs.Factory``), or
            ``inspect.Parameter.empty``.
    """

    key: str
    arg: str
    annotation: Any
    required: bool
    default: Any = _EMPTY


# Bounded: the least recently used classes are forgotten (and looked up again when needed).
@functools.lru_cache(maxsize=512)
def record_fields(cls: object) -> tuple[RecordField, ...] | None:
    """The fields of an attrs class, dataclass or TypedDict; None for any other type.

    Only fields set by ``__init__`` count.  A TypedDict key is required when wrapped in
    ``Required``, optional when wrapped in ``NotRequired``, and otherwise as
    ``__required_keys__`` says (so the qualifiers work under postponed annotations, which
    Python 3.11 does not see through).

    Raises:
        TypeError: a field's type hint cannot be resolved.
    """
    if not isinstance(cls, type):
        return None
    if attrs.has(cls):
        hints = _attrs_hints(cls)
        return tuple(
            RecordField(
                field.name,
                field.alias or field.name,
                strip_qualifiers(hints.get(field.name, _EMPTY)),
                field.default is attrs.NOTHING,
                _EMPTY if field.default is attrs.NOTHING else field.default,
            )
            for field in attrs.fields(cls)
            if field.init
        )
    if dataclasses.is_dataclass(cls):
        hints = _type_hints(cls)
        return tuple(
            RecordField(
                field.name,
                field.name,
                strip_qualifiers(hints.get(field.name, _EMPTY)),
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING,
                _EMPTY if field.default is dataclasses.MISSING else field.default,
            )
            for field in dataclasses.fields(cls)
            if field.init
        )
    if is_typeddict(cls):
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        return tuple(
            RecordField(
                key, key, strip_qualifiers(hint), qualified_required(hint, key in required_keys)
            )
            for key, hint in _type_hints(cls).items()
        )
    return None


def is_typeddict(tp: object) -> bool:
    # Duck-typed so that typing_extensions.TypedDict classes count too.
    return (
        isinstance(tp, type)
        and issubclass(tp, dict)
        and hasattr(tp, "__required_keys__")
        and hasattr(tp, "__optional_keys__")
    )


def _attrs_hints(cls: type) -> dict[str, Any]:
    # Through attrs, which resolves once and keeps the result on the fields: a class whose
    # ``__module__`` was changed after it was defined (as the public namespaces do) still works.
    try:
        resolved = attrs.resolve_types(cls, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{cls.__qualname__}: cannot resolve the type hints ({exc})") from exc
    return {f.name: f.type for f in attrs.fields(resolved) if f.type is not None}


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{cls.__qualname__}: cannot resolve the type hints ({exc})") from exc


def qualified_required(hint: Any, default: bool) -> bool:
    """``Required`` / ``NotRequired`` around ``hint`` (also inside ``Annotated``), else default."""
    origin = get_origin(hint)
    if origin is typing.Required:
        return True
    if origin is typing.NotRequired:
        return False
    if origin is Annotated:
        return qualified_required(get_args(hint)[0], default)
    return default


def strip_qualifiers(hint: Any) -> Any:
    """``hint`` without ``Required``/``NotRequired`` (also inside ``Annotated``)."""
    origin = get_origin(hint)
    if origin in _QUALIFIERS:
        return strip_qualifiers(get_args(hint)[0])
    if origin is Annotated:
        base, *metadata = get_args(hint)
        stripped = strip_qualifiers(base)
        if stripped is not base:
            return Annotated[(stripped, *metadata)]
    return hint


def field_keys(cls: type) -> list[str] | None:
    """The attribute names an attrs class's or dataclass's ``__init__`` sets; None otherwise."""
    if attrs.has(cls):
        return [field.name for field in attrs.fields(cls) if field.init]
    if dataclasses.is_dataclass(cls):
        return [field.name for field in dataclasses.fields(cls) if field.init]
    return None
