"""Python type hints turned into the ``parameters`` schema of a Live API function declaration.

The Live API describes a function's parameters with an OpenAPI-subset schema object whose types are
spelled in upper case (``"STRING"``, ``"INTEGER"``, ``"NUMBER"``, ``"BOOLEAN"``, ``"ARRAY"``,
``"OBJECT"``).  :func:`parameters_schema` builds that object from a function's signature, its type
hints and its Google-style docstring; :func:`schema_for` does it for one type.

Supported types:

===============================================  ===================================================
Python                                           schema
===============================================  ===================================================
``str`` / ``int`` / ``float`` / ``bool``         ``STRING`` / ``INTEGER`` / ``NUMBER`` / ``BOOLEAN``
``Literal["a", "b"]``                            ``STRING`` with ``enum`` (string values only)
an ``Enum`` with ``str`` values                  ``STRING`` with ``enum`` of the member values
``list[X]``, ``tuple[X, ...]``, ``Sequence[X]``  ``ARRAY`` with ``items``
``dict[str, X]``, ``Mapping[str, X]``            ``OBJECT``, free-form (X may be ``Any``)
``X | None``, ``Optional[X]``                    X's schema with ``"nullable": True``
``Annotated[X, "text"]``                         X's schema with ``"description": "text"``
attrs classes, dataclasses, ``TypedDict``        ``OBJECT`` with ``properties`` and ``required``
===============================================  ===================================================

Everything else raises :exc:`TypeError` naming where the type was found:

* ``Any`` and missing annotations: the model needs a type.  (``dict[str, Any]`` is allowed: a
  free-form ``OBJECT`` cannot describe its values anyway.)
* unions of several non-None types: the subset has no ``anyOf`` we rely on.
* Literals of non-strings: ``enum`` is defined for ``STRING`` only, and declaring ``Literal[1, 2]``
  as ``INTEGER`` with string ``enum`` values would invite the model to send strings the function
  does not take.  Use a Literal of strings or a str-valued Enum.
* enums with non-string values, fixed-length tuples, dicts whose keys are not ``str``, bare
  ``list``/``dict`` (no item type), and classes that contain themselves (recursive schemas).

Descriptions come from ``Annotated`` string metadata first, then from the ``Args:`` section of a
function's docstring (or the ``Attributes:`` section of a class's); an attrs class, dataclass or
TypedDict with a docstring gives its summary as the description of its object schema.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import inspect
import re
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import attrs

from livehandle._convert import record_fields as converter_fields, strip_qualifiers

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Parameter",
    "docstring_summary",
    "function_parameters",
    "parameters_schema",
    "record_fields",
    "schema_for",
]

_EMPTY: Any = inspect.Parameter.empty
_NONE_TYPE = type(None)
_ARRAY_ORIGINS: tuple[Any, ...] = (list, collections.abc.Sequence)
_MAPPING_ORIGINS: tuple[Any, ...] = (dict, collections.abc.Mapping)
_QUALIFIERS: tuple[Any, ...] = (typing.Required, typing.NotRequired)


@attrs.frozen
class Parameter:
    """One named value a tool takes: a function parameter, or a field of a class it takes.

    Attributes:
        name: the parameter's name, which is also its key in the model's JSON arguments.
        annotation: the resolved type hint (``Annotated`` kept, ``Required``/``NotRequired``
            removed), or ``inspect.Parameter.empty`` when the parameter has none.
        required: whether the model must send it (it has no default).
        default: the default value, or ``inspect.Parameter.empty``.  For an attrs field this is
            what attrs holds (possibly an ``attrs.Factory``).
    """

    name: str
    annotation: Any
    required: bool
    default: Any = _EMPTY


# -- introspection --------------------------------------------------------------------------------


def function_parameters(fn: Callable[..., Any]) -> tuple[Parameter, ...]:
    """The parameters of ``fn`` as a tool takes them, in signature order, with resolved hints.

    A tool is called with keyword arguments only (the model sends a JSON object), so
    ``*args``, ``**kwargs`` and positional-only parameters are refused.

    Raises:
        TypeError: the signature cannot be read, a type hint cannot be resolved, or a parameter
            cannot be passed by name; the message names the function and the parameter.
    """
    where = _callable_name(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: cannot read the signature ({exc})") from exc
    hints = _type_hints(_hint_source(fn), where)
    params: list[Parameter] = []
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(
                f"{where}: parameter *{param.name} is not supported; a tool takes named"
                " parameters only (the model sends a JSON object of arguments)"
            )
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise TypeError(
                f"{where}: parameter **{param.name} is not supported; declare each argument the"
                " model may send as a named parameter"
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"{where}: parameter {param.name!r} is positional-only; a tool is called with"
                " keyword arguments"
            )
        annotation = hints.get(param.name, _EMPTY)
        params.append(
            Parameter(
                param.name,
                strip_qualifiers(annotation),
                param.default is _EMPTY,
                param.default,
            )
        )
    return tuple(params)


def record_fields(cls: object) -> tuple[Parameter, ...] | None:
    """The fields of an attrs class, dataclass or ``TypedDict`` (None for any other type).

    The same fields, with the same required-ness, as the converter structures (only those set by
    ``__init__``; a ``TypedDict`` key's ``Required``/``NotRequired`` honoured even under
    postponed annotations), each named by its key in the JSON object.

    Raises:
        TypeError: a field's type hint cannot be resolved.
    """
    fields = converter_fields(cls)
    if fields is None:
        return None
    return tuple(
        Parameter(field.key, field.annotation, field.required, field.default) for field in fields
    )


def docstring_summary(obj: object) -> str | None:
    """The description in ``obj``'s docstring: its text before the first section, on one line.

    Sections are Google-style headers on a line of their own (``Args:``, ``Returns:``,
    ``Raises:``...).  Runs of whitespace (line breaks included) become single spaces.  None when
    there is no docstring or it starts with a section.
    """
    return _parse_docstring(_own_doc(obj))[0]


# -- schemas --------------------------------------------------------------------------------------


def schema_for(annotation: Any) -> dict[str, Any]:
    """The Live API schema (a JSON-ready dict) for one type; see the module docs for the table.

    Raises:
        TypeError: the type, or a type inside it, is not supported; the message says where.
    """
    return _schema(annotation, _type_name(annotation), ())


def parameters_schema(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """The ``parameters`` schema of a function declaration for ``fn``; None if it takes none.

    The result is an ``OBJECT`` whose ``properties`` are the parameters in signature order and
    whose ``required`` lists those without a default (omitted when empty, as on the wire).  Each
    property's ``description`` comes from ``Annotated`` metadata or else from the ``Args:``
    section of ``fn``'s docstring.

    Raises:
        TypeError: a parameter has no annotation, is typed ``Any`` or has an unsupported type,
            or ``fn`` takes ``*args``/``**kwargs``; the message names the function and parameter.
    """
    params = function_parameters(fn)
    if not params:
        return None
    where = _callable_name(fn)
    _, arg_docs = _parse_docstring(_own_doc(fn))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in params:
        properties[param.name] = _property_schema(
            param.annotation, f"{where}: parameter {param.name!r}", (), arg_docs.get(param.name)
        )
        if param.required:
            required.append(param.name)
    schema: dict[str, Any] = {"type": "OBJECT", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _property_schema(
    annotation: Any, where: str, stack: tuple[type, ...], doc: str | None
) -> dict[str, Any]:
    """The schema of one named property, with its docstring description unless typed over."""
    if annotation is _EMPTY:
        raise TypeError(
            f"{where} has no type annotation; the model needs a type for every argument"
        )
    schema = _schema(annotation, where, stack)
    if doc and not _has_annotated_description(annotation):
        schema["description"] = doc
    return schema


def _schema(tp: Any, where: str, stack: tuple[type, ...]) -> dict[str, Any]:
    """Build the schema of ``tp``; ``where`` says where it was found, for error messages."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *metadata = get_args(tp)
        schema = _schema(base, where, stack)
        text = next((item for item in metadata if isinstance(item, str)), None)
        if text is not None and text.strip():
            schema["description"] = _normalise(text)
        return schema
    if origin in _QUALIFIERS:
        return _schema(get_args(tp)[0], where, stack)
    if tp is Any:
        raise TypeError(f"{where} is typed Any; the model needs a concrete type")
    if isinstance(tp, str | typing.ForwardRef):
        raise TypeError(f"{where}: the forward reference {tp!r} could not be resolved")
    if origin is Union or origin is types.UnionType:
        return _union_schema(tp, where, stack)
    if origin is Literal:
        return _literal_schema(tp, where)
    if tp is None or tp is _NONE_TYPE:
        raise TypeError(f"{where}: None alone is not a type the model can send; use X | None")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema(tp, where)
    if tp is bool:  # before int: bool is an int subclass
        return {"type": "BOOLEAN"}
    if tp is int:
        return {"type": "INTEGER"}
    if tp is float:
        return {"type": "NUMBER"}
    if tp is str:
        return {"type": "STRING"}
    if origin is tuple:
        args = get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(
                f"{where}: fixed-length tuple {_type_name(tp)} is not supported; use"
                " tuple[X, ...] or list[X]"
            )
        return {"type": "ARRAY", "items": _schema(args[0], f"{where}, items", stack)}
    if origin in _ARRAY_ORIGINS:
        (item,) = get_args(tp)
        return {"type": "ARRAY", "items": _schema(item, f"{where}, items", stack)}
    if origin in _MAPPING_ORIGINS:
        key, value = get_args(tp)
        if key is not str:
            raise TypeError(f"{where}: {_type_name(tp)} has non-str keys; JSON keys are strings")
        # A free-form OBJECT cannot describe its values, so dict[str, Any] is allowed; any other
        # value type is still checked, so that it can be structured.
        if value is not Any:
            _schema(value, f"{where}, values", stack)
        return {"type": "OBJECT"}
    if tp in (list, tuple, dict, collections.abc.Sequence, collections.abc.Mapping):
        raise TypeError(
            f"{where}: bare {_type_name(tp)} says nothing about its items; give them a type"
            " (list[str], dict[str, int]...)"
        )
    if isinstance(tp, type):
        fields = record_fields(tp)
        if fields is not None:
            return _record_schema(tp, fields, where, stack)
    raise TypeError(
        f"{where}: {_type_name(tp)} is not supported (use str, int, float, bool, a Literal of"
        " strings, a str-valued Enum, list[X], tuple[X, ...], Sequence[X], dict[str, X],"
        " X | None, Annotated[X, 'description'], an attrs class, a dataclass or a TypedDict)"
    )


def _union_schema(tp: Any, where: str, stack: tuple[type, ...]) -> dict[str, Any]:
    args = get_args(tp)
    members = [arg for arg in args if arg is not _NONE_TYPE]
    if len(members) != 1:
        raise TypeError(
            f"{where}: the union {_type_name(tp)} has several non-None types; the Live API"
            " schema cannot express it (use one type, optionally with | None)"
        )
    schema = _schema(members[0], where, stack)
    if len(members) != len(args):
        schema["nullable"] = True
    return schema


def _literal_schema(tp: Any, where: str) -> dict[str, Any]:
    values = get_args(tp)
    strings: list[str] = []
    nullable = False
    for value in values:
        if value is None:
            nullable = True
        elif isinstance(value, str):
            if value not in strings:
                strings.append(value)
        else:
            raise TypeError(
                f"{where}: {_type_name(tp)} has the non-string value {value!r}; the Live API"
                " schema's enum lists strings only (use a Literal of strings or a str-valued Enum)"
            )
    if not strings:
        raise TypeError(f"{where}: {_type_name(tp)} has no string values")
    schema: dict[str, Any] = {"type": "STRING", "enum": strings}
    if nullable:
        schema["nullable"] = True
    return schema


def _enum_schema(cls: type[enum.Enum], where: str) -> dict[str, Any]:
    values: list[str] = []
    for member in cls:
        if not isinstance(member.value, str):
            raise TypeError(
                f"{where}: enum {cls.__qualname__} has the non-string value {member.value!r}"
                f" ({member.name}); the Live API schema's enum lists strings only"
            )
        values.append(member.value)
    if not values:
        raise TypeError(f"{where}: enum {cls.__qualname__} has no members")
    return {"type": "STRING", "enum": values}


def _record_schema(
    cls: type, fields: tuple[Parameter, ...], where: str, stack: tuple[type, ...]
) -> dict[str, Any]:
    if cls in stack:
        raise TypeError(
            f"{where}: {cls.__qualname__} contains itself; recursive types are not supported"
        )
    summary, field_docs = _parse_docstring(_own_doc(cls))
    inner = (*stack, cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields:
        properties[field.name] = _property_schema(
            field.annotation,
            f"{where}, field {cls.__qualname__}.{field.name}",
            inner,
            field_docs.get(field.name),
        )
        if field.required:
            required.append(field.name)
    schema: dict[str, Any] = {"type": "OBJECT"}
    if summary:
        schema["description"] = summary
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


def _has_annotated_description(tp: Any) -> bool:
    """Whether ``tp`` carries its own description (``Annotated`` text), also under ``| None``."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *metadata = get_args(tp)
        if any(isinstance(item, str) and item.strip() for item in metadata):
            return True
        return _has_annotated_description(base)
    if origin in _QUALIFIERS:
        return _has_annotated_description(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        members = [arg for arg in get_args(tp) if arg is not _NONE_TYPE]
        return len(members) == 1 and _has_annotated_description(members[0])
    return False


# -- helpers --------------------------------------------------------------------------------------


def _type_hints(obj: Any, where: str) -> dict[str, Any]:
    try:
        return get_type_hints(obj, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{where}: cannot resolve the type hints ({exc})") from exc


def _hint_source(fn: Callable[..., Any]) -> Any:
    """The object whose annotations describe ``fn``'s parameters."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.isroutine(target):
        return target
    if isinstance(target, type):
        return vars(target).get("__init__", target)
    return type(target).__call__


def _callable_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"{name}()" if isinstance(name, str) else repr(fn)


def _type_name(tp: object) -> str:
    # Classes by their bare name; generic aliases and unions (list[int], int | None) as written.
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def _own_doc(obj: object) -> str | None:
    """``obj``'s own docstring (never one inherited from a base class, unlike inspect.getdoc)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return None
    if (
        isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and doc.startswith(f"{obj.__name__}(")
    ):
        return None  # the signature dataclasses write when the class has no docstring
    return doc


def _normalise(text: str) -> str:
    return " ".join(text.split())


# Google-style section headers (the napoleon set), alone on their line.
_SECTION = re.compile(
    r"(?i)(args|arguments|parameters|params|keyword args|keyword arguments|other parameters"
    r"|attributes|returns?|yields?|raises|exceptions?|warns|examples?|notes?|warnings?|see also"
    r"|todo|references|methods)\s*:"
)
_PARAM_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "other parameters",
        "attributes",
    }
)
# "name: text", "name (type): text", "*args: text".
_ENTRY = re.compile(r"\*{0,2}(?P<name>\w+)\s*(?:\([^)]*\))?\s*:(?P<text>.*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _parse_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """Split a Google-style docstring into its summary and its parameter/attribute entries."""
    if not doc:
        return None, {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    entries: dict[str, str] = {}
    index = 0
    while index < len(lines) and not _SECTION.fullmatch(lines[index].strip()):
        summary.append(lines[index])
        index += 1
    while index < len(lines):
        header = lines[index]
        match = _SECTION.fullmatch(header.strip())
        index += 1
        if match is None:
            continue
        header_indent = _indent(header)
        body: list[str] = []
        while index < len(lines) and (
            not lines[index].strip() or _indent(lines[index]) > header_indent
        ):
            body.append(lines[index])
            index += 1
        if match.group(1).lower() in _PARAM_SECTIONS:
            entries.update(_parse_entries(body))
    text = _normalise("\n".join(summary))
    return text or None, entries


def _parse_entries(body: list[str]) -> dict[str, str]:
    """``name: text`` entries of one section; more-indented lines continue the previous entry."""
    entries: dict[str, list[str]] = {}
    entry_indent: int | None = None
    current: list[str] | None = None
    for line in body:
        if not line.strip():
            continue
        indent = _indent(line)
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY.fullmatch(line.strip()) if indent <= entry_indent else None
        if match is not None:
            current = entries.setdefault(match.group("name"), [])
            current.append(match.group("text"))
        elif current is not None:
            current.append(line)
    return {name: text for name, parts in entries.items() if (text := _normalise(" ".join(parts)))}
