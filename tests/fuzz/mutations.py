"""Strategies that take a valid JSON message and break it the ways real and hostile peers do.

A message is generated valid (any wire class, filled from a seed by :mod:`tests.fuzz.seeded`, or
one of a recorded session's), turned into its JSON tree, then mutated up to three times: a key
dropped, a value of another JSON type, unknown keys, snake_case or oddly cased keys, explicit
nulls, deep nesting, numbers no float or int64 holds, invalid base64, a second message kind, odd
strings.  Last, the text itself may be cut, spliced or given invalid UTF-8, and it goes out as a
text or a binary frame.

Values JSON cannot hold as Python objects (``1e400``, a 5000-digit integer, 10,000 nested arrays)
are :class:`Raw` text spliced in by :func:`dumps`.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import attrs
from hypothesis import strategies as st

from livehandle.lowlevel import encode_client, encode_server
from tests.fuzz import seeded
from tests.wire.strategies import (
    CLIENT_CLASSES,
    CLIENT_KEYS,
    SERVER_CLASSES,
    SERVER_KEYS,
    snake,
)


@attrs.frozen
class Raw:
    """JSON text put into the output as it is (a number or nesting Python cannot build)."""

    text: str


def dumps(value: Any) -> str:
    """JSON text of ``value``, with every :class:`Raw` spliced in verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


# -- the parts of a tree ----------------------------------------------------------------------

Slot = tuple[Any, Any]  # (container, key or index) of one value in the tree


def slots(tree: Any) -> list[Slot]:
    """Every place in ``tree`` that holds a value, outermost first."""
    found: list[Slot] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            keys: Any = list(node)
        elif isinstance(node, list):
            keys = range(len(node))
        else:
            continue
        for key in keys:
            found.append((node, key))
            stack.append(node[key])
    return found


def containers(tree: Any, kind: type) -> list[Any]:
    """Every dict (or list) in ``tree``, ``tree`` itself included."""
    out = [tree] if isinstance(tree, kind) else []
    out += [node[key] for node, key in slots(tree) if isinstance(node[key], kind)]
    return out


# -- hostile values ---------------------------------------------------------------------------

HUGE_NUMBERS = [
    "1e400",  # json.loads makes it inf
    "-1e400",
    "1e-400",  # underflows to 0.0
    "9223372036854775808",  # int64 max + 1
    "-9223372036854775809",
    "18446744073709551616",  # 2**64
    "1" + "0" * 40,
    "9" * 5000,  # beyond Python's int-from-string digit limit
    "1.5e308",
    "-0",
    "0.1e999999",
]
BAD_BASE64 = ["!!!!", "a", "ab=c", "YQ=", "YQ===", "====", "a b", "é", "YWJj\n", "-_-_-", "\u0000"]
ODD_STRINGS = [
    "",
    "\ud800",  # a lone surrogate, legal as a JSON escape
    "\u0000",
    "a" * 10_000,
    "99999999999999999999999999999999999999999999999999s",  # beyond proto3's duration range
    "9" * 400 + "s",  # a duration no float holds
    "-1s",
    "1.0000000001s",
    "1e400s",
    "NaN",
    "Infinity",
    "TEXT",
    "AUDIO",
    "VIDEO",
]
ODD_VALUES = [None, True, False, 0, -1, 1.5, [], {}, [None], {"": None}]
WIRE_NAMES = sorted({*CLIENT_KEYS, *SERVER_KEYS, "usageMetadata", "parts", "data", "text", "id"})


def nested(depth: int, *, objects: bool) -> Raw:
    if objects:
        return Raw('{"a":' * depth + "1" + "}" * depth)
    return Raw("[" * depth + "]" * depth)


hostile_values: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(HUGE_NUMBERS).map(Raw),
    st.sampled_from(BAD_BASE64),
    st.sampled_from(ODD_STRINGS),
    st.sampled_from(ODD_VALUES).map(copy.deepcopy),  # later mutations must not edit the constant
    st.builds(nested, st.sampled_from([2, 50, 500, 990, 5000]), objects=st.booleans()),
    st.builds(seeded.json_value, st.integers(0, 2**32)),
)
unknown_keys = st.one_of(
    st.sampled_from(WIRE_NAMES),
    st.sampled_from(["bogusField", "extra", "__class__", "", "functionCall", "thoughtSignature"]),
    st.text(max_size=10),
)


# -- mutations --------------------------------------------------------------------------------
# Choices inside a mutation are drawn as an index: a new ``st.sampled_from(...)`` per call costs
# more than the whole mutation (Hypothesis validates every strategy it is given).

_INDEX_CACHE: dict[int, st.SearchStrategy[int]] = {}
_DIGITS = st.integers(0, 9)
_COUNTS = st.integers(0, 3)


def index(draw: Any, size: int) -> int:
    """An index in ``range(size)`` (``size`` > 0), drawn so that it shrinks towards 0."""
    strategy = _INDEX_CACHE.get(size)
    if strategy is None:
        strategy = st.integers(0, size - 1)
        if size <= 256:  # the cache stays small; long texts build their strategy each time
            _INDEX_CACHE[size] = strategy
    return int(draw(strategy))


def pick(draw: Any, items: Any) -> Any:
    """One of ``items`` (a non-empty sequence)."""
    return items[index(draw, len(items))]


def _drop_key(draw: Any, tree: Any) -> None:
    objects = [d for d in containers(tree, dict) if d]
    if objects:
        obj = pick(draw, objects)
        del obj[pick(draw, sorted(obj))]


def _replace_value(draw: Any, tree: Any) -> None:
    places = slots(tree)
    if places:
        node, key = pick(draw, places)
        node[key] = draw(hostile_values)


def _insert_key(draw: Any, tree: Any) -> None:
    obj = pick(draw, containers(tree, dict) or [tree])
    if isinstance(obj, dict):
        obj[draw(unknown_keys)] = draw(hostile_values)


def _rename_key(draw: Any, tree: Any) -> None:
    objects = [d for d in containers(tree, dict) if d]
    if not objects:
        return
    obj = pick(draw, objects)
    key = pick(draw, sorted(obj))
    style = pick(draw, ["snake", "upper-first", "kebab", "upper", "space"])
    new = {
        "snake": snake(key),
        "upper-first": key[:1].upper() + key[1:],
        "kebab": snake(key).replace("_", "-"),
        "upper": key.upper(),
        "space": f" {key}",
    }[style]
    obj[new] = obj.pop(key)


def _bad_base64(draw: Any, tree: Any) -> None:
    places = [(n, k) for n, k in slots(tree) if isinstance(n[k], str)]
    if places:
        node, key = pick(draw, places)
        node[key] = pick(draw, BAD_BASE64)


def _wrap(draw: Any, tree: Any) -> None:
    """A value put one level deeper (in a list, or an object), or a list unwrapped."""
    places = slots(tree)
    if places:
        node, key = pick(draw, places)
        value = node[key]
        if isinstance(value, list) and value and draw(st.booleans()):
            node[key] = value[0]
        else:
            node[key] = pick(draw, [[value], {"value": value}, [value, value]])


MUTATIONS = [_drop_key, _replace_value, _insert_key, _rename_key, _bad_base64, _wrap]


@st.composite
def mutated_tree(draw: Any, valid: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid message tree changed up to three times (one in four unchanged: valid input too)."""
    tree = copy.deepcopy(draw(valid))
    for _ in range(draw(_COUNTS)):
        pick(draw, MUTATIONS)(draw, tree)
    return tree


def _cut_text(draw: Any, text: str) -> str:
    at = index(draw, len(text) + 1)
    return pick(
        draw,
        [
            text[:at],
            text[:at] + text[at + 1 :],
            text[:at] + pick(draw, ['"', "{", "]", ",", "\\", "\x00"]) + text[at:],
            text + text,
        ],
    )


@st.composite
def frames(draw: Any, valid: st.SearchStrategy[dict[str, Any]]) -> bytes | str:
    """One frame: a mutated message's JSON, sometimes cut, as text or bytes (maybe not UTF-8)."""
    text = dumps(draw(mutated_tree(valid)))
    if draw(_DIGITS) == 0:
        text = _cut_text(draw, text)
    if draw(st.booleans()):
        return text
    data = text.encode("utf-8", "surrogatepass")
    if draw(_DIGITS) == 0:
        at = index(draw, len(data) + 1)
        data = data[:at] + pick(draw, [b"\xff", b"\xc3", b"\xed\xa0\x80"]) + data[at:]
    return data


def _server_tree(msg: Any) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads(encode_server(msg))
    return tree


def _client_tree(msg: Any) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads(encode_client(msg))
    return tree


def _two_kinds(trees: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for tree in trees:
        merged.update(tree)
    return merged


def _seeded(classes: tuple[type, ...], to_tree: Any) -> st.SearchStrategy[dict[str, Any]]:
    def make(kind: type, seed: int) -> dict[str, Any]:
        tree: dict[str, Any] = to_tree(seeded.instance(random.Random(seed), kind))
        return tree

    return st.builds(make, st.sampled_from(classes), st.integers(0, 2**32))


def _corpus(direction: str) -> list[dict[str, Any]]:
    lines = EXAMPLE_SESSION.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r["msg"] for r in records if r["dir"] == direction]


def _valid(
    classes: tuple[type, ...], to_tree: Any, direction: str
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid trees: seeded ones of every kind, and the messages of a recorded session.

    Not :func:`tests.wire.strategies.for_class`: building a message choice by choice costs
    about 10 ms, which would make up most of a 10,000-example run (the round-trip tests in
    ``tests/wire`` use it).  ``one_of`` picks its branches evenly, so the seeded branch is listed
    thrice; one frame in five carries two kinds.
    """
    fast = _seeded(classes, to_tree)
    recorded = st.sampled_from(_corpus(direction)).map(copy.deepcopy)
    one = st.one_of(fast, fast, fast, recorded)
    two = st.lists(one, min_size=2, max_size=2).map(_two_kinds)
    return st.one_of(one, one, one, one, two)


EXAMPLE_SESSION = Path(__file__).parent.parent / "wire" / "example_session.jsonl"
#: Valid server messages as JSON trees (now and then two kinds in one frame).
valid_server_trees = _valid(SERVER_CLASSES, _server_tree, "s2c")
#: Valid client messages as JSON trees (now and then two kinds in one frame).
valid_client_trees = _valid(CLIENT_CLASSES, _client_tree, "c2s")
