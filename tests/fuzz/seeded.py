"""A fast maker of valid wire messages from a seed, for fuzzing at 10,000 examples per test.

:func:`tests.wire.strategies.for_class` builds a message with Hypothesis choice by choice, which
costs about 10 ms for the big kinds (``Setup``, ``ServerContent``): too slow when every example
needs one or more.  Here Hypothesis draws a seed and the kind, and :class:`random.Random` fills
every field (sub-millisecond).  The mutations applied afterwards are still drawn by Hypothesis, so
they shrink; a failing example shows its frame text in its notes.
"""

from __future__ import annotations

import enum
import random
from typing import Any, get_args, get_origin

import attrs

from livehandle._wire import messages as m
from tests.wire.strategies import SERVER_KEYS, snake, strip_optional

_TEXTS = ["", "a", "hello", "Grüße", "日本語", "x" * 40, "{user_text}", "models/gemini", "\u2028"]
_UNKNOWN_KINDS = ["futureMessage", "sessionNotice", "x", "serverMetrics"]


def _json(rng: random.Random, depth: int) -> Any:
    roll = rng.randrange(8 if depth < 3 else 5)
    if roll == 0:
        return None
    if roll == 1:
        return rng.random() < 0.5
    if roll == 2:
        return rng.randint(-(2**53), 2**53)
    if roll == 3:
        return rng.uniform(-1e6, 1e6)
    if roll == 4:
        return rng.choice(_TEXTS)
    if roll in (5, 6):
        return {rng.choice(_TEXTS): _json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def json_value(seed: int) -> Any:
    """A small arbitrary JSON value made from ``seed``."""
    return _json(random.Random(seed), 1)


def _value(rng: random.Random, tp: Any, depth: int) -> Any:
    if tp is str:
        return rng.choice(_TEXTS)
    if tp is bool:
        return rng.random() < 0.5
    if tp is int:
        return rng.randint(-(2**31), 2**31 - 1)
    if tp is float:
        return rng.choice([0.0, 1.5, -2.25, rng.uniform(-1e9, 1e9)])
    if tp is bytes:
        return rng.randbytes(rng.randrange(48))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return rng.choice(list(tp))
    if tp is dict or get_origin(tp) is dict:
        return {rng.choice(_TEXTS): _json(rng, depth + 1) for _ in range(rng.randrange(4))}
    if get_origin(tp) is tuple:
        return tuple(_value(rng, get_args(tp)[0], depth + 1) for _ in range(rng.randrange(3)))
    if attrs.has(tp):
        return instance(rng, tp, depth + 1)
    raise TypeError(f"no maker for {tp!r}")


def _field(rng: random.Random, field: attrs.Attribute[Any], depth: int) -> Any:
    inner, _ = strip_optional(field.type)
    if field.metadata.get(m.INT64):
        return rng.randint(-(2**63), 2**63 - 1)
    if field.metadata.get(m.DURATION):
        return rng.randint(-(10**12), 10**12) / 1e9  # whole nanoseconds, as on the wire
    return _value(rng, inner, depth)


def instance(rng: random.Random, cls: type, depth: int = 0) -> Any:
    """A valid instance of the wire class ``cls``; optional fields set about half the time."""
    if cls is m.RealtimeInput:  # exactly one member
        name = rng.choice(list(m.REALTIME_INPUT_FIELDS))
        field = attrs.fields_dict(cls)[name]
        return cls(**{name: _value(rng, strip_optional(field.type)[0], depth + 1)})
    if cls is m.UnknownServerMessage:
        known = {*SERVER_KEYS, "usageMetadata", *(snake(k) for k in SERVER_KEYS)}
        key = rng.choice([k for k in _UNKNOWN_KINDS if k not in known])
        return cls({key: _json(rng, 1)})
    attrs.resolve_types(cls)
    kwargs = {}
    chance = 0.6 if depth < 4 else 0.1  # the schema is finite, but keep messages small
    for field in attrs.fields(cls):
        if field.name == m.EXTRA:  # unknown members, now and then (a name no class models)
            if rng.random() < 0.1:
                kwargs[field.name] = {"futureField": _json(rng, depth + 1)}
            continue
        optional = strip_optional(field.type)[1] or field.default is not attrs.NOTHING
        if optional and rng.random() > chance:
            continue
        kwargs[field.name] = _field(rng, field, depth)
    return cls(**kwargs)


# -- scenarios ------------------------------------------------------------------------------------

_FAULTS = ["drop", "close", "malformed", "unknown_kind", "usage_only", "empty_content", "stall"]
_PATTERNS = ["weather", "^hi$", "a|b", "[0-9]+", "(?i)x", "book (a )?table"]
_KINDS = ["any", "text", "speech", "tool_result"]


def _step(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(6)
    if kind == 0:
        return {"say": rng.choice(_TEXTS)}
    if kind == 1:
        step: dict[str, Any] = {"audio_ms": rng.randint(1, 5000)}
        if rng.random() < 0.5:
            step["transcript"] = rng.choice(_TEXTS)
        return step
    if kind == 2:
        step = {"transcript": rng.choice(_TEXTS)}
        if rng.random() < 0.5:
            step["of_user"] = rng.random() < 0.5
        return step
    if kind == 3:
        calls = []
        for _ in range(rng.randint(1, 2)):
            call: dict[str, Any] = {"name": rng.choice(_TEXTS)}
            if rng.random() < 0.5:
                call["args"] = _json(rng, 2) if rng.random() < 0.2 else {"city": "Paris"}
            if rng.random() < 0.3:
                call["id"] = rng.choice(_TEXTS)
            calls.append(call)
        return {"call": calls}
    if kind == 4:
        return {"pause": rng.choice([0, 0.5, rng.uniform(0, 1e4)])}
    fault: dict[str, Any] = {"fault": rng.choice([*_FAULTS, "go_away"])}
    for key, value in (("code", 1011), ("reason", "x"), ("time_left", 5.0)):
        if rng.random() < 0.3:
            fault[key] = rng.randint(1000, 4999) if key == "code" else value
    return fault


def _steps(rng: random.Random) -> list[dict[str, Any]]:
    return [_step(rng) for _ in range(rng.randrange(4))]


def scenario(seed: int) -> dict[str, Any]:
    """A valid scenario as decoded JSON (what ``Scenario.from_dict`` reads), made from ``seed``."""
    rng = random.Random(seed)
    data: dict[str, Any] = {}
    if rng.random() < 0.7:
        rules = []
        for _ in range(rng.randrange(4)):
            rule: dict[str, Any] = {"reply": _steps(rng)}
            when = {}
            if rng.random() < 0.6:
                when["text"] = rng.choice(_PATTERNS)
            if rng.random() < 0.5:
                when["kind"] = rng.choice(_KINDS)
            if when or rng.random() < 0.5:
                rule["when"] = when
            if rng.random() < 0.3:
                rule["times"] = rng.randint(1, 5)
            rules.append(rule)
        data["rules"] = rules
    options: list[tuple[str, Any]] = [
        ("default", _steps(rng)),
        ("on_tool_result", _steps(rng)),
        ("setup_delay", rng.choice([0, 1.5, rng.uniform(0, 100)])),
        ("setup_complete", rng.random() < 0.8),
        ("go_away_after", rng.uniform(0, 600)),
        ("go_away_after_turns", rng.randint(1, 100)),
        ("go_away_time_left", rng.uniform(0, 50)),
        ("connection_lifetime", rng.uniform(50, 600)),
        ("silent_after_go_away", rng.random() < 0.5),
        ("handle_ttl", rng.uniform(1, 7200)),
        ("checkpoint_every_messages", rng.randint(1, 100)),
    ]
    data.update((key, value) for key, value in options if rng.random() < 0.3)
    return data
