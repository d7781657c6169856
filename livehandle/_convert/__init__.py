"""The one strict converter between JSON values and typed Python values.

:class:`~livehandle.State` and function tools (:func:`~livehandle.tool`) read and write JSON only
through this module, so what one accepts the other accepts, and what one refuses the other refuses
with the same kind of error.  It works in two directions:

* :func:`to_json_value` turns a Python value into a new, plain JSON value (attrs classes and
  dataclasses become objects of their ``__init__`` fields, enums their values, tuples arrays),
  checking on the way that everything in it has a JSON form;
* :func:`structure` turns a JSON value into an annotated type, strictly, and reports every problem
  it finds with its path, in a :exc:`StructureError` the caller turns into its own error.

The rules, the same for every caller:

**TypeError or ValueError.**  A *TypeError* means a value of the wrong kind: its JSON kind (null,
boolean, number, string, array, object) is not one the target type takes (a string for an
``int``, an array for a ``dict``, a boolean for a ``float``), or, towards JSON, a Python object has
no JSON form at all (bytes, a set, a datetime, a dict key that is not a string).  A *ValueError*
means the kind is right but the value is not: a number with a fraction for an ``int``, a
non-finite number, a string that is no member of an enum or value of a Literal, an array of the
wrong length for a fixed tuple, an object missing a required field or carrying an unknown one, a
container that contains itself, an int too long to write, arrays and objects nested too deep.
When a conversion finds several problems, every one is listed; the error is a TypeError if any of
them is, else a ValueError.

**Numbers.**  JSON has a single number type.  An ``int`` accepts a number with an integral value:
``3`` and ``3.0`` both give ``3``, and ``3.5`` is a ValueError.  Encoders (models included) write
``3.0`` for integers, and accepting it loses nothing, whereas truncating ``3.5`` would lose data
silently.  A ``float`` accepts any finite number and gives a ``float``.  Booleans are never
numbers and numbers never booleans; nothing is ever parsed from a string (``"7"`` is not an int).
An int with more digits than :func:`sys.get_int_max_str_digits` allows (4300 by default) is a
ValueError both ways, also where the target is ``Any``: ``json.dumps`` could not write it, so it
is refused where it is converted, not later when the value is sent or saved.

**Enums and Literals** are matched by value, with the number rule above (an int-valued member
matches ``1`` and ``1.0``, a str-valued one an equal string, a boolean only a boolean).  An enum
gives back its member (also for ``StrEnum`` and ``IntEnum``, never the bare value); a Literal the
allowed value.  A value of a kind no member has is a TypeError; of the right kind but no member,
a ValueError.

**Containers.**  ``list[X]``, ``Sequence[X]``, ``tuple[X, ...]``, ``set[X]`` and
``frozenset[X]`` take JSON arrays only (a string is not an array of characters, an object not an
array of its keys); ``tuple[X, Y]`` takes arrays of exactly that length.  ``dict[K, V]`` and
``Mapping[K, V]`` take objects, their keys structured as ``K``.

**Records.**  attrs classes, dataclasses and TypedDicts take objects keyed by their field names
(the fields their ``__init__`` sets).  A missing required field and an unknown field are problems;
a missing optional field gets its default.

**Depth.**  Arrays and objects (records and dicts included) nest at most ``MAX_DEPTH`` (100)
deep, the outermost being level 1; a value nested deeper is a ValueError at the path of the first
array or object too deep, both ways and whatever the target type (``Any`` included).  Conversion
recurses on each level; the limit keeps it well inside Python's recursion limit, so a deeply
nested value never escapes as a RecursionError.

**Unions.**  ``X | None`` takes null or an ``X``.  Any other union takes the first member type, in
the order written, that the value fits.  ``Any`` (and a type variable) takes the value as it is.

**Paths.**  Each problem names where it is, relative to the value converted: ``.name`` for a field
or key, ``[2]`` for an array item, ``['odd key']`` for a key that is not an identifier.  The
caller names the root (``$`` for state, the argument's name for tools).
"""

from __future__ import annotations

from livehandle._convert.decode import (
    MAX_SHOWN_PROBLEMS as MAX_SHOWN_PROBLEMS,
    Problem as Problem,
    StructureError as StructureError,
    structure as structure,
)
from livehandle._convert.encode import (
    MAX_DEPTH as MAX_DEPTH,
    JsonValue as JsonValue,
    segment as segment,
    shorten as shorten,
    to_json_value as to_json_value,
    type_name as type_name,
)
from livehandle._convert.records import (
    RecordField as RecordField,
    is_typeddict as is_typeddict,
    qualified_required as qualified_required,
    record_fields as record_fields,
    strip_qualifiers as strip_qualifiers,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_SHOWN_PROBLEMS",
    "JsonValue",
    "Problem",
    "RecordField",
    "StructureError",
    "is_typeddict",
    "qualified_required",
    "record_fields",
    "segment",
    "shorten",
    "strip_qualifiers",
    "structure",
    "to_json_value",
    "type_name",
]
