"""Guards: serialisable predicates over a session's State and a flow's marking.

A :class:`Guard` is built from atoms (``is_set``, ``eq``, ``called_ok``, ``done``...) and the
combinators ``all_of``, ``any_of`` and ``not_`` (also ``&``, ``|`` and ``~``), made by the
factories in ``factories``.  Every guard says whether it holds (:meth:`Guard.holds`), describes
itself in prose (:meth:`Guard.describe`) and explains an evaluation as a tree
(:meth:`Guard.trace`).  Guards without a custom callable inside round-trip through JSON
(:meth:`Guard.to_json`, :meth:`Guard.from_json`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs

from livehandle._convert import to_json_value

__all__ = [
    "AllOf",
    "Always",
    "AnyOf",
    "CalledOk",
    "Captured",
    "Custom",
    "Done",
    "Eq",
    "Guard",
    "GuardContext",
    "GuardLike",
    "GuardTrace",
    "IsSet",
    "IsTrue",
    "Not",
    "StateReader",
    "check_keys",
    "check_name",
    "guard_of",
    "json_equal",
]


class StateReader(Protocol):
    """What flows read state through: :class:`~livehandle.State` satisfies it."""

    def get(self, key: str) -> Any:
        """The value at ``key``, or None when it is absent."""
        ...  # pragma: no cover


class GuardContext(Protocol):
    """What a guard reads when it is evaluated: the State and the flow's marking."""

    @property
    def state(self) -> StateReader:
        """The session's state."""
        ...  # pragma: no cover

    def is_done(self, step: str) -> bool:
        """Whether the step ``step`` is done."""
        ...  # pragma: no cover

    def tool_ok(self, tool: str) -> int:
        """How many times the tool ``tool`` has succeeded."""
        ...  # pragma: no cover

    def guard_failed(self, guard: Guard, error: Exception) -> None:
        """Called when a custom guard raised ``error`` (the guard then does not hold)."""
        ...  # pragma: no cover


@attrs.frozen
class GuardTrace:
    """One evaluation of a guard, as a tree: what holds and what does not.

    Attributes:
        description: the guard's prose (:meth:`Guard.describe`).
        holds: whether it held.
        children: the traces of its parts (a combinator's), in order.
    """

    description: str
    holds: bool
    children: tuple[GuardTrace, ...] = ()

    def __str__(self) -> str:
        """An indented tree, one line per node: ``[x] 'city' must be set`` or ``[ ] ...``."""
        return "\n".join(self._lines(0))

    def _lines(self, depth: int) -> list[str]:
        mark = "x" if self.holds else " "
        lines = [f"{'  ' * depth}[{mark}] {self.description}"]
        for child in self.children:
            lines.extend(child._lines(depth + 1))
        return lines


def json_equal(a: object, b: object) -> bool:
    """JSON equality: numbers compare by value, but a bool never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Guard:
    """A predicate over a session's State and a flow's marking (done steps, tool successes).

    Build guards with the factories (:func:`~livehandle.is_set`, :func:`~livehandle.eq`,
    :func:`~livehandle.all_of`...) and combine them with ``&`` (all), ``|`` (any) and ``~``
    (not).  A plain callable ``fn(state) -> bool`` is accepted wherever a guard is, as
    :func:`~livehandle.custom` wraps it.  Guards are immutable.
    """

    __slots__ = ()

    def holds(self, ctx: GuardContext) -> bool:
        """Whether the guard holds in ``ctx`` (a custom guard that raises does not hold)."""
        raise NotImplementedError  # pragma: no cover

    def describe(self) -> str:
        """The guard in prose, e.g. ``'city' must be set``."""
        raise NotImplementedError  # pragma: no cover

    def trace(self, ctx: GuardContext) -> GuardTrace:
        """Evaluate the guard in ``ctx`` and say, part by part, what holds."""
        return GuardTrace(self.describe(), self.holds(ctx))

    def to_json(self) -> dict[str, Any]:
        """The guard as a JSON object that :meth:`from_json` reads back.

        Raises:
            TypeError: the guard is, or contains, a custom guard (a callable has no JSON form).
        """
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Guard:
        """Rebuild a guard from :meth:`to_json`'s output.

        Raises:
            ValueError: ``data`` is not a guard's JSON form; the message says what is wrong.
        """
        return _from_json(data, "$")

    def steps(self) -> frozenset[str]:
        """The step ids named by ``done(...)`` inside the guard."""
        return frozenset()

    def tools(self) -> frozenset[str]:
        """The tool names named by ``called_ok(...)`` inside the guard."""
        return frozenset()

    def __and__(self, other: GuardLike) -> Guard:
        parts = self.parts if isinstance(self, AllOf) else (self,)
        return AllOf((*parts, guard_of(other)))

    def __or__(self, other: GuardLike) -> Guard:
        parts = self.parts if isinstance(self, AnyOf) else (self,)
        return AnyOf((*parts, guard_of(other)))

    def __rand__(self, other: GuardLike) -> Guard:
        return AllOf((guard_of(other), self))

    def __ror__(self, other: GuardLike) -> Guard:
        return AnyOf((guard_of(other), self))

    def __invert__(self) -> Guard:
        return Not(self)


#: A guard, or a plain callable ``fn(state) -> bool`` (wrapped by :func:`custom`).
GuardLike = Guard | Callable[[Any], object]


def check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return value


@attrs.frozen
class Always(Guard):
    """Holds always."""

    def holds(self, ctx: GuardContext) -> bool:
        return True

    def describe(self) -> str:
        return "always"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "always"}


@attrs.frozen
class IsSet(Guard):
    """Holds when ``key`` is present in the State and not None."""

    key: str

    def holds(self, ctx: GuardContext) -> bool:
        return ctx.state.get(self.key) is not None

    def describe(self) -> str:
        return f"{self.key!r} must be set"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "is_set", "key": self.key}


@attrs.frozen
class IsTrue(Guard):
    """Holds when the value at ``key`` is the boolean ``true`` (nothing else is)."""

    key: str

    def holds(self, ctx: GuardContext) -> bool:
        return ctx.state.get(self.key) is True

    def describe(self) -> str:
        return f"{self.key!r} must be true"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "is_true", "key": self.key}


@attrs.frozen
class Eq(Guard):
    """Holds when the value at ``key`` equals ``value`` as JSON (a bool never equals a number)."""

    key: str
    value: Any = attrs.field(hash=False)  # JSON: lists and objects hash by key only

    def holds(self, ctx: GuardContext) -> bool:
        return json_equal(ctx.state.get(self.key), self.value)

    def describe(self) -> str:
        return f"{self.key!r} must equal {_compact(self.value)}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "eq", "key": self.key, "value": to_json_value(self.value)}


@attrs.frozen
class Captured(Guard):
    """Holds when every one of ``keys`` is set."""

    keys: tuple[str, ...]

    def holds(self, ctx: GuardContext) -> bool:
        return all(ctx.state.get(key) is not None for key in self.keys)

    def describe(self) -> str:
        names = [repr(key) for key in self.keys]
        if len(names) == 1:
            return f"{names[0]} must be set"
        return f"{', '.join(names[:-1])} and {names[-1]} must be set"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "captured", "keys": list(self.keys)}


@attrs.frozen
class CalledOk(Guard):
    """Holds when the tool ``tool`` has succeeded at least once in this run of the flow."""

    tool: str

    def holds(self, ctx: GuardContext) -> bool:
        return ctx.tool_ok(self.tool) >= 1

    def describe(self) -> str:
        return f"{self.tool!r} must have succeeded"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "called_ok", "tool": self.tool}

    def tools(self) -> frozenset[str]:
        return frozenset((self.tool,))


@attrs.frozen
class Done(Guard):
    """Holds when the step ``step`` is done."""

    step: str

    def holds(self, ctx: GuardContext) -> bool:
        return ctx.is_done(self.step)

    def describe(self) -> str:
        return f"step {self.step!r} must be done"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "done", "step": self.step}

    def steps(self) -> frozenset[str]:
        return frozenset((self.step,))


def _part_prose(part: Guard) -> str:
    text = part.describe()
    return f"({text})" if isinstance(part, AllOf | AnyOf) and len(part.parts) > 1 else text


@attrs.frozen
class AllOf(Guard):
    """Holds when every part holds (no parts: holds)."""

    parts: tuple[Guard, ...]

    def holds(self, ctx: GuardContext) -> bool:
        return all(part.holds(ctx) for part in self.parts)

    def describe(self) -> str:
        if not self.parts:
            return "always"
        return " and ".join(_part_prose(part) for part in self.parts)

    def trace(self, ctx: GuardContext) -> GuardTrace:
        children = tuple(part.trace(ctx) for part in self.parts)
        return GuardTrace(self.describe(), all(c.holds for c in children), children)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "all", "of": [part.to_json() for part in self.parts]}

    def steps(self) -> frozenset[str]:
        return frozenset().union(*(part.steps() for part in self.parts))

    def tools(self) -> frozenset[str]:
        return frozenset().union(*(part.tools() for part in self.parts))


@attrs.frozen
class AnyOf(Guard):
    """Holds when at least one part holds (no parts: does not hold)."""

    parts: tuple[Guard, ...]

    def holds(self, ctx: GuardContext) -> bool:
        return any(part.holds(ctx) for part in self.parts)

    def describe(self) -> str:
        if not self.parts:
            return "never"
        return " or ".join(_part_prose(part) for part in self.parts)

    def trace(self, ctx: GuardContext) -> GuardTrace:
        children = tuple(part.trace(ctx) for part in self.parts)
        return GuardTrace(self.describe(), any(c.holds for c in children), children)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "any", "of": [part.to_json() for part in self.parts]}

    def steps(self) -> frozenset[str]:
        return frozenset().union(*(part.steps() for part in self.parts))

    def tools(self) -> frozenset[str]:
        return frozenset().union(*(part.tools() for part in self.parts))


@attrs.frozen
class Not(Guard):
    """Holds when its part does not."""

    part: Guard

    def holds(self, ctx: GuardContext) -> bool:
        return not self.part.holds(ctx)

    def describe(self) -> str:
        return f"not ({self.part.describe()})"

    def trace(self, ctx: GuardContext) -> GuardTrace:
        child = self.part.trace(ctx)
        return GuardTrace(self.describe(), not child.holds, (child,))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "not", "of": self.part.to_json()}

    def steps(self) -> frozenset[str]:
        return self.part.steps()

    def tools(self) -> frozenset[str]:
        return self.part.tools()


@attrs.frozen(eq=False)
class Custom(Guard):
    """A guard computed by a callable ``fn(state) -> bool``; it has no JSON form.

    A callable that raises, or returns an awaitable (an ``async def`` check cannot be awaited
    where guards are evaluated), makes the guard not hold, and the error goes to the context's
    ``guard_failed``.  BaseExceptions that are not Exceptions (cancellation, KeyboardInterrupt)
    propagate.  Two custom guards are equal only when they are the same object.
    """

    fn: Callable[[Any], object]
    description: str | None = None

    def holds(self, ctx: GuardContext) -> bool:
        try:
            result = self.fn(ctx.state)
            if inspect.isawaitable(result):  # an async check: guards are evaluated synchronously
                if inspect.iscoroutine(result):
                    result.close()  # never awaited, and never warned about
                raise TypeError(
                    f"{self.describe()} returned an awaitable; a guard's check must be a plain"
                    " (not async) function"
                )
            return bool(result)
        except Exception as error:
            ctx.guard_failed(self, error)
            return False

    def describe(self) -> str:
        if self.description is not None:
            return self.description
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"custom check {name!r}"

    def to_json(self) -> dict[str, Any]:
        raise TypeError(f"a custom guard ({self.describe()}) has no JSON form")


def guard_of(value: GuardLike, what: str = "guard") -> Guard:
    """``value`` as a guard: a Guard as is, a plain callable wrapped by :func:`custom`."""
    if isinstance(value, Guard):
        return value
    if callable(value):
        return Custom(value)
    raise TypeError(f"{what} must be a Guard or a callable, got {type(value).__name__}")


# -- JSON -------------------------------------------------------------------------------------

_ATOM_FIELDS: dict[str, tuple[str, Callable[[str], Guard]]] = {
    "is_set": ("key", IsSet),
    "is_true": ("key", IsTrue),
    "called_ok": ("tool", CalledOk),
    "done": ("step", Done),
}


def check_keys(keys: Iterable[object]) -> tuple[str, ...]:
    """Non-empty key names, at least one (``captured``'s keys)."""
    checked = tuple(check_name(key, "key") for key in keys)
    if not checked:
        raise ValueError("captured() needs at least one key")
    return checked


#: How deep :meth:`Guard.from_json` follows nested combinators (deeper input is a ValueError).
MAX_JSON_DEPTH = 64


def _from_json(data: object, path: str, depth: int = 0) -> Guard:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"guard at {path} is nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(data, Mapping):
        raise ValueError(f"guard at {path} must be an object, got {type(data).__name__}")
    kind = data.get("kind")
    try:
        if kind == "always":
            return Always()
        if kind in _ATOM_FIELDS:
            name, make = _ATOM_FIELDS[kind]
            return make(check_name(data.get(name), name))
        if kind == "eq":
            if "value" not in data:
                raise ValueError("'value' is missing")
            key = check_name(data.get("key"), "key")
            return Eq(key, to_json_value(data["value"], what="eq's value"))
        if kind == "captured":
            keys = data.get("keys")
            if not isinstance(keys, list):
                raise ValueError("'keys' must be an array")
            return Captured(check_keys(keys))
        if kind in ("all", "any"):
            parts = data.get("of")
            if not isinstance(parts, list):
                raise ValueError("'of' must be an array")
            made = tuple(_from_json(p, f"{path}.of[{i}]", depth + 1) for i, p in enumerate(parts))
            return AllOf(made) if kind == "all" else AnyOf(made)
        if kind == "not":
            return Not(_from_json(data.get("of"), f"{path}.of", depth + 1))
    except (TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith("guard at "):
            raise
        raise ValueError(f"guard at {path} ({kind}): {error}") from None
    raise ValueError(f"guard at {path} has an unknown kind {kind!r}")
