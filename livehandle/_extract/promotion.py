"""Promotion rules: copy fields of an extractor's result into their own State keys.

An extractor's whole result is stored under its name (``state["booking"]``).  A
:class:`Promotion` also copies one top-level field of it to a key of its own
(``state["party_size"]``), with provenance in ``state_meta:{key}``, when its conditions hold.
Without rules nothing is copied: unlike the runtime this one is modelled on, results are never
flattened field by field on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from livehandle._events import LiveEvent

if TYPE_CHECKING:
    from livehandle._state import State

__all__ = [
    "ABSENT",
    "ACCEPTED",
    "EMPTY",
    "KEPT",
    "META_PREFIX",
    "NOT_TRUE",
    "NULL",
    "REFUSED",
    "Promotion",
    "apply_promotions",
    "check_promotions",
]

#: The prefix of the provenance keys (``state_meta:party_size``).
META_PREFIX = "state_meta:"

#: ``LiveEvent.StatePromotion.reason`` values.
ACCEPTED = "accepted"
ABSENT = "absent"
NULL = "null"
NOT_TRUE = "not true"
EMPTY = "empty"
REFUSED = "predicate refused"
KEPT = "existing state value was kept"

#: ``accept_when`` predicates: ``predicate(value, state)``, the field's JSON value and the state.
Predicate = Callable[[Any, "State"], bool]


def _state_key(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")
    if value.startswith(META_PREFIX):
        raise ValueError(f"{attribute.name} {value!r}: {META_PREFIX} keys hold provenance")


def _predicates(value: object) -> tuple[Predicate, ...]:
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    for item in items:
        if not callable(item):
            raise TypeError(f"an accept_when predicate must be callable, got {item!r}")
    return items


@attrs.frozen
class Promotion:
    """Copy field :attr:`field` of an extractor's result into state key :attr:`key`.

    Make one with :meth:`overwrite`, :meth:`keep_known`, :meth:`true_only` or
    :meth:`non_empty`, then refine it with :meth:`to` and :meth:`accept_when`; pass them to
    :func:`~livehandle.extractor` as ``promotions=``::

        promotions=[
            Promotion.keep_known("name"),
            Promotion.overwrite("party_size").to("booking:party_size"),
            Promotion.true_only("confirmed"),
            Promotion.non_empty("notes").accept_when(lambda notes, state: len(notes) < 500),
        ]

    Each time the extractor produces a value, each rule is checked in this order and publishes
    a ``LiveEvent.StatePromotion`` saying whether it copied the field, and if not why: the
    field is ``"absent"`` (or the result is not an object), ``"null"`` (a null never erases a
    value), ``"not true"`` (:attr:`only_true`), ``"empty"`` (:attr:`skip_empty`), ``"predicate
    refused"`` (an :meth:`accept_when` predicate said no, or raised), ``"existing state value
    was kept"`` (:attr:`keep_existing`).  An accepted one writes the value and
    ``state_meta:{key}`` = ``{"source": "extraction", "extractor": ..., "field": ...}``.

    Attributes:
        field: the name of a top-level field of the result (an attrs or dataclass field, a
            TypedDict or dict key).
        key: the state key it is written to (default: the field's name).
        keep_existing: never overwrite a key that already holds a (non-null) value.
        only_true: copy only the boolean ``True``.
        skip_empty: do not copy an empty (or blank) string, an empty array or an empty object.
        conditions: predicates ``predicate(value, state) -> bool`` on the field's JSON value,
            all of which must say yes.

    Raises:
        TypeError, ValueError: an empty or non-string field or key, a key in ``state_meta:``, or
            a predicate that is not callable.
    """

    field: str = attrs.field(validator=_state_key)
    key: str = attrs.field(
        default=attrs.Factory(lambda self: self.field, takes_self=True), validator=_state_key
    )
    keep_existing: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    only_true: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    skip_empty: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    conditions: tuple[Predicate, ...] = attrs.field(default=(), converter=_predicates)

    @classmethod
    def overwrite(cls, field: str) -> Promotion:
        """Copy ``field`` whenever it is present and not null, replacing what the key holds."""
        return cls(field)

    @classmethod
    def keep_known(cls, field: str) -> Promotion:
        """Copy ``field`` only while its key holds no value yet (the first value found stays)."""
        return cls(field, keep_existing=True)

    @classmethod
    def true_only(cls, field: str) -> Promotion:
        """Copy ``field`` only when it is ``True`` (a flag that, once seen, stays set)."""
        return cls(field, only_true=True)

    @classmethod
    def non_empty(cls, field: str) -> Promotion:
        """Copy ``field`` only when it is not an empty (or blank) string, array or object."""
        return cls(field, skip_empty=True)

    def to(self, key: str) -> Promotion:
        """The same rule writing to state key ``key`` instead of the field's name."""
        return attrs.evolve(self, key=key)

    def accept_when(self, predicate: Predicate) -> Promotion:
        """The same rule, copying only when ``predicate(value, state)`` also says yes.

        ``value`` is the field's JSON value (never None: nulls are refused before).  Calls
        chain: every predicate must agree.  A predicate that raises refuses.
        """
        return attrs.evolve(self, conditions=(*self.conditions, predicate))

    def __repr__(self) -> str:
        flags = [
            name
            for name, on in (
                ("keep_known", self.keep_existing),
                ("true_only", self.only_true),
                ("non_empty", self.skip_empty),
            )
            if on
        ]
        parts = [repr(self.field)]
        if self.key != self.field:
            parts.append(f"to={self.key!r}")
        parts.extend(flags or ["overwrite"])
        if self.conditions:
            parts.append(f"accept_when={len(self.conditions)}")
        return f"Promotion({', '.join(parts)})"


def check_promotions(
    extractor: str, rules: Sequence[object], fields: Sequence[str] | None
) -> tuple[Promotion, ...]:
    """``rules`` as a tuple, checked for extractor ``extractor``.

    ``fields`` are the result type's field names when it is a record (None when unknown).

    Raises:
        TypeError: a rule is not a :class:`Promotion`.
        ValueError: a rule names a field the result type does not have, two rules write the same
            key, or a rule writes the extractor's own key.
    """
    checked: list[Promotion] = []
    keys: set[str] = set()
    for rule in rules:
        if not isinstance(rule, Promotion):
            raise TypeError(f"extractor {extractor!r}: promotions must be Promotion, got {rule!r}")
        if fields is not None and rule.field not in fields:
            raise ValueError(
                f"extractor {extractor!r}: promotion of {rule.field!r}, which the result type"
                f" does not have (its fields: {', '.join(fields) or 'none'})"
            )
        if rule.key == extractor:
            raise ValueError(
                f"extractor {extractor!r}: promotion of {rule.field!r} would overwrite the"
                " extractor's own result; give it another key with .to(key)"
            )
        if rule.key in keys:
            raise ValueError(f"extractor {extractor!r}: two promotions write key {rule.key!r}")
        keys.add(rule.key)
        checked.append(rule)
    return tuple(checked)


def _is_empty(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


def _refusal(rule: Promotion, value: Any, state: State) -> str | None:
    """Why ``rule`` does not copy ``value`` (present, not null), or None when it does."""
    if rule.only_true and value is not True:
        return NOT_TRUE
    if rule.skip_empty and _is_empty(value):
        return EMPTY
    for predicate in rule.conditions:
        try:
            verdict = predicate(value, state)
        except Exception as exc:
            return f"{REFUSED}: it raised {type(exc).__name__}: {exc}"
        if not verdict:
            return REFUSED
    if rule.keep_existing and state.get(rule.key) is not None:
        return KEPT
    return None


def apply_promotions(
    extractor: str, rules: Sequence[Promotion], result: object, state: State
) -> list[LiveEvent]:
    """Apply ``rules`` in order to ``result`` (a JSON value); one ``StatePromotion`` per rule."""
    events: list[LiveEvent] = []
    for rule in rules:
        present = isinstance(result, dict) and rule.field in result
        value = result.get(rule.field) if isinstance(result, dict) else None
        if not present:
            reason: str | None = ABSENT
        elif value is None:
            reason = NULL
        else:
            reason = _refusal(rule, value, state)
        if reason is None:
            meta = {"source": "extraction", "extractor": extractor, "field": rule.field}
            try:
                state.set(rule.key, value)
                state.set(META_PREFIX + rule.key, meta)
            except Exception as exc:  # a read-only or refused key (the state says why)
                reason = f"the state refused it: {type(exc).__name__}: {exc}"
        events.append(
            LiveEvent.StatePromotion(
                extractor=extractor,
                field=rule.field,
                key=rule.key,
                value=value,
                accepted=reason is None,
                reason=ACCEPTED if reason is None else reason,
            )
        )
    return events
