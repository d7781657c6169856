"""Type hints to Live API parameter schemas: every supported kind, descriptions, and refusals."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict, Union

import attrs
import pytest

from livehandle._tools.schema import (
    docstring_summary,
    function_parameters,
    parameters_schema,
    record_fields,
    schema_for,
)


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


class Mood(enum.StrEnum):
    CALM = "calm"
    EAGER = "eager"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Item:
    """A line of an order.

    Attributes:
        sku: the product code,
            as printed on the shelf.
        quantity: how many.
    """

    sku: str
    quantity: int = 1
    size: Size | None = None


@attrs.frozen
class Order:
    items: list[Item]
    gift: Item | None
    note: Annotated[str, "free text for the courier"] = ""
    _internal: int = attrs.field(default=0, init=False)


@dataclasses.dataclass
class Address:
    street: str
    tags: list[str] = dataclasses.field(default_factory=list)
    floor: int = 0


class Contact(TypedDict):
    """Who to call."""

    name: str
    phone: NotRequired[Annotated[str, "international format"]]


class Filters(TypedDict, total=False):
    city: Required[str]
    max_price: float
    contact: Contact


@attrs.frozen
class Node:
    label: str
    children: list[Node]


@attrs.frozen
class Ping:
    pong: Pong | None


@attrs.frozen
class Pong:
    ping: Ping


@attrs.frozen
class Pair:
    first: Item
    second: Item


@attrs.frozen
class HasSet:
    ids: set[int]


# -- one type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [(str, "STRING"), (int, "INTEGER"), (float, "NUMBER"), (bool, "BOOLEAN")],
)
def test_primitives_map_to_upper_case_types(annotation, expected):
    assert schema_for(annotation) == {"type": expected}


def test_string_literal_is_a_string_enum():
    assert schema_for(Literal["C", "F"]) == {"type": "STRING", "enum": ["C", "F"]}


def test_literal_with_none_is_nullable():
    assert schema_for(Literal["a", None]) == {"type": "STRING", "enum": ["a"], "nullable": True}


@pytest.mark.parametrize("annotation", [Literal[1, 2], Literal["a", 1], Literal[True]])
def test_non_string_literal_is_rejected(annotation):
    with pytest.raises(TypeError, match="non-string value"):
        schema_for(annotation)


def test_enum_with_str_values_lists_the_values():
    assert schema_for(Size) == {"type": "STRING", "enum": ["small", "large"]}
    assert schema_for(Mood) == {"type": "STRING", "enum": ["calm", "eager"]}


def test_enum_with_int_values_is_rejected_naming_the_member():
    with pytest.raises(TypeError, match=r"Priority has the non-string value 1 \(LOW\)"):
        schema_for(Priority)


@pytest.mark.parametrize("annotation", [list[int], tuple[int, ...], Sequence[int]])
def test_homogeneous_sequences_are_arrays(annotation):
    assert schema_for(annotation) == {"type": "ARRAY", "items": {"type": "INTEGER"}}


def test_array_of_objects_nests_the_object_schema():
    schema = schema_for(list[Address])
    assert schema["type"] == "ARRAY"
    assert schema["items"]["properties"]["street"] == {"type": "STRING"}


def test_fixed_length_tuple_is_rejected():
    with pytest.raises(TypeError, match=r"fixed-length tuple"):
        schema_for(tuple[int, str])


@pytest.mark.parametrize("annotation", [list, dict, tuple])
def test_bare_containers_are_rejected(annotation):
    with pytest.raises(TypeError, match="says nothing about its items"):
        schema_for(annotation)


@pytest.mark.parametrize("annotation", [dict[str, int], Mapping[str, Item], dict[str, Any]])
def test_str_keyed_dicts_are_free_form_objects(annotation):
    assert schema_for(annotation) == {"type": "OBJECT"}


def test_dict_with_non_str_keys_is_rejected():
    with pytest.raises(TypeError, match="non-str keys"):
        schema_for(dict[int, str])


def test_dict_values_are_still_checked():
    with pytest.raises(TypeError, match=r"values: .*set"):
        schema_for(dict[str, set[int]])


@pytest.mark.parametrize("annotation", [Optional[int], int | None, Union[None, int]])  # noqa: UP007, UP045
def test_optional_adds_nullable(annotation):
    assert schema_for(annotation) == {"type": "INTEGER", "nullable": True}


@pytest.mark.parametrize("annotation", [int | str, Union[int, str, None], int | str | None])  # noqa: UP007
def test_unions_of_several_types_are_rejected(annotation):
    with pytest.raises(TypeError, match="several non-None types"):
        schema_for(annotation)


def test_annotated_text_becomes_the_description_whitespace_normalised():
    schema = schema_for(Annotated[str, "the city,\n   in English"])
    assert schema == {"type": "STRING", "description": "the city, in English"}


def test_annotated_non_string_metadata_is_ignored():
    assert schema_for(Annotated[int, 5, object()]) == {"type": "INTEGER"}


def test_annotated_inside_optional_and_list():
    assert schema_for(Annotated[str, "x"] | None) == {
        "type": "STRING",
        "description": "x",
        "nullable": True,
    }
    assert schema_for(list[Annotated[int, "a count"]]) == {
        "type": "ARRAY",
        "items": {"type": "INTEGER", "description": "a count"},
    }


def test_attrs_class_is_an_object_with_required_fields_and_docstring_descriptions():
    assert schema_for(Item) == {
        "type": "OBJECT",
        "description": "A line of an order.",
        "properties": {
            "sku": {"type": "STRING", "description": "the product code, as printed on the shelf."},
            "quantity": {"type": "INTEGER", "description": "how many."},
            "size": {"type": "STRING", "enum": ["small", "large"], "nullable": True},
        },
        "required": ["sku"],
    }


def test_nested_attrs_classes_recurse_and_init_false_fields_are_left_out():
    schema = schema_for(Order)
    assert list(schema["properties"]) == ["items", "gift", "note"]
    assert schema["required"] == ["items", "gift"]  # a nullable field without default is required
    assert schema["properties"]["items"]["items"] == schema_for(Item)
    assert schema["properties"]["gift"] == {**schema_for(Item), "nullable": True}
    assert schema["properties"]["note"] == {
        "type": "STRING",
        "description": "free text for the courier",
    }
    assert "description" not in schema  # Order has no docstring (nor an inherited one)


def test_dataclass_fields_with_default_or_factory_are_optional():
    assert schema_for(Address) == {
        "type": "OBJECT",
        "properties": {
            "street": {"type": "STRING"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "floor": {"type": "INTEGER"},
        },
        "required": ["street"],
    }


def test_typeddict_honours_not_required_under_postponed_annotations():
    assert schema_for(Contact) == {
        "type": "OBJECT",
        "description": "Who to call.",
        "properties": {
            "name": {"type": "STRING"},
            "phone": {"type": "STRING", "description": "international format"},
        },
        "required": ["name"],
    }


def test_total_false_typeddict_with_required_key_and_nested_typeddict():
    schema = schema_for(Filters)
    assert schema["required"] == ["city"]
    assert schema["properties"]["max_price"] == {"type": "NUMBER"}
    assert schema["properties"]["contact"] == schema_for(Contact)


def test_same_class_twice_is_not_mistaken_for_recursion():
    schema = schema_for(Pair)
    assert schema["properties"]["first"] == schema["properties"]["second"] == schema_for(Item)


@pytest.mark.parametrize("cls", [Node, Ping])
def test_recursive_classes_raise_type_error(cls):
    with pytest.raises(TypeError, match="contains itself; recursive types are not supported"):
        schema_for(cls)


def test_unsupported_field_type_names_the_field():
    with pytest.raises(TypeError, match=r"field HasSet\.ids: set\[int\] is not supported"):
        schema_for(HasSet)


@pytest.mark.parametrize("annotation", [Any, list[Any]])
def test_any_is_rejected(annotation):
    with pytest.raises(TypeError, match="typed Any; the model needs a concrete type"):
        schema_for(annotation)


def test_none_alone_is_rejected():
    with pytest.raises(TypeError, match="None alone"):
        schema_for(None)


# -- functions ------------------------------------------------------------------------------------


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: the city name,
            e.g. "Paris".
        unit (str): the temperature
            unit.

    Returns:
        The weather.
    """
    return {}


def test_parameters_schema_lists_properties_in_order_and_required_without_defaults():
    assert parameters_schema(get_weather) == {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "description": 'the city name, e.g. "Paris".'},
            "unit": {"type": "STRING", "enum": ["C", "F"], "description": "the temperature unit."},
        },
        "required": ["city"],
    }


def no_parameters() -> None:
    """Nothing to pass."""


def test_function_without_parameters_has_no_schema():
    assert parameters_schema(no_parameters) is None


def all_optional(limit: int = 10, *, verbose: bool = False) -> None:
    pass


def test_required_is_omitted_when_every_parameter_has_a_default():
    assert parameters_schema(all_optional) == {
        "type": "OBJECT",
        "properties": {"limit": {"type": "INTEGER"}, "verbose": {"type": "BOOLEAN"}},
    }


def annotated_wins(
    query: Annotated[str, "from the annotation"],
    page: int | None,
) -> None:
    """Search.

    Args:
        query: from the docstring.
        page: which page, or null for all.
        missing: documents nothing that exists.
    """


def test_annotated_description_wins_over_the_docstring():
    schema = parameters_schema(annotated_wins)
    assert schema is not None
    assert schema["properties"]["query"]["description"] == "from the annotation"
    assert schema["properties"]["page"] == {
        "type": "INTEGER",
        "nullable": True,
        "description": "which page, or null for all.",
    }
    assert schema["required"] == ["query", "page"]
    assert "missing" not in schema["properties"]


def book(order: Order, where: Address, filters: Filters) -> None:
    pass


def test_parameters_with_nested_records():
    schema = parameters_schema(book)
    assert schema is not None
    assert schema["properties"]["order"] == schema_for(Order)
    assert schema["properties"]["where"] == schema_for(Address)
    assert schema["properties"]["filters"] == schema_for(Filters)


def untyped(city, days: int) -> None:  # type: ignore[no-untyped-def]
    pass


def any_typed(payload: Any) -> None:
    pass


def var_positional(*cities: str) -> None:
    pass


def var_keyword(**options: str) -> None:
    pass


def positional_only(city: str, /) -> None:
    pass


def nested_bad(order: HasSet) -> None:
    pass


def unresolvable(city: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (untyped, r"untyped\(\): parameter 'city' has no type annotation"),
        (any_typed, r"any_typed\(\): parameter 'payload' is typed Any"),
        (var_positional, r"var_positional\(\): parameter \*cities is not supported"),
        (var_keyword, r"var_keyword\(\): parameter \*\*options is not supported"),
        (positional_only, r"positional_only\(\): parameter 'city' is positional-only"),
        (nested_bad, r"nested_bad\(\): parameter 'order', field HasSet\.ids: set\[int\]"),
        (unresolvable, r"unresolvable\(\): cannot resolve the type hints .*NoSuchType"),
    ],
)
def test_unsupported_parameters_raise_type_error_naming_function_and_parameter(fn, message):
    with pytest.raises(TypeError, match=message):
        parameters_schema(fn)


def test_function_parameters_resolve_hints_and_defaults():
    city, unit = function_parameters(get_weather)
    assert (city.name, city.annotation, city.required) == ("city", str, True)
    assert (unit.name, unit.annotation, unit.required, unit.default) == (
        "unit",
        Literal["C", "F"],
        False,
        "C",
    )


def test_record_fields_of_a_non_record_is_none():
    assert record_fields(str) is None
    assert record_fields(list[int]) is None


def test_record_fields_strip_typeddict_qualifiers():
    fields = {field.name: field for field in record_fields(Contact) or ()}
    assert fields["phone"].required is False
    assert fields["phone"].annotation == Annotated[str, "international format"]


# -- docstrings -----------------------------------------------------------------------------------


def long_summary() -> None:
    """Book a table
    at a restaurant,   for tonight.

    Keep it short.

    Raises:
        ValueError: never.
    """


def section_first() -> None:
    """Args:
    nothing: at all.
    """


def no_docstring() -> None:
    pass


def test_summary_is_text_before_the_first_section_on_one_line():
    assert docstring_summary(long_summary) == (
        "Book a table at a restaurant, for tonight. Keep it short."
    )
    assert docstring_summary(get_weather) == "Current weather for a city."


def test_summary_is_none_without_text():
    assert docstring_summary(no_docstring) is None
    assert docstring_summary(section_first) is None


def test_class_summary_is_not_inherited():
    assert docstring_summary(Order) is None
    assert docstring_summary(Item) == "A line of an order."
