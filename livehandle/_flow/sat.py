"""Whether a guard can ever hold: a bounded check on its disjunctive normal form.

Custom guards are opaque (each is a free atom, so it may hold or not); past :data:`MAX_TERMS`
terms the check gives up and assumes the guard satisfiable.
"""

from __future__ import annotations

import json

from livehandle._flow.guards import (
    AllOf,
    Always,
    AnyOf,
    CalledOk,
    Captured,
    Custom,
    Done,
    Eq,
    Guard,
    IsSet,
    IsTrue,
    Not,
)

__all__ = ["MAX_TERMS", "always_holds", "done_alternatives", "needs_done", "satisfiable"]

#: Beyond this many DNF terms a guard is assumed satisfiable.
MAX_TERMS = 256

# A literal: (positive, atom) with atom ("set", key) / ("eq", key, canonical) / ("ok", tool)
# / ("done", step) / ("custom", id).
_Lit = tuple[bool, tuple[object, ...]]
_Term = frozenset[_Lit]


class _TooBig(Exception):
    pass


def _canonical(value: object) -> str:
    def norm(v: object) -> object:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    return json.dumps(norm(value), sort_keys=True)


def _atom(guard: Guard) -> _Lit | None:
    """The literal for an atom (positive form), or None for a non-atom."""
    if isinstance(guard, IsSet):
        return (True, ("set", guard.key))
    if isinstance(guard, IsTrue):
        return (True, ("eq", guard.key, _canonical(True)))
    if isinstance(guard, Eq):
        if guard.value is None:  # equal to null: absent or null, i.e. not set
            return (False, ("set", guard.key))
        return (True, ("eq", guard.key, _canonical(guard.value)))
    if isinstance(guard, CalledOk):
        return (True, ("ok", guard.tool))
    if isinstance(guard, Done):
        return (True, ("done", guard.step))
    if isinstance(guard, Custom):
        return (True, ("custom", id(guard)))
    return None


def _dnf(guard: Guard, positive: bool) -> list[_Term]:
    atom = _atom(guard)
    if atom is not None:
        return [frozenset(((atom[0] == positive, atom[1]),))]
    if isinstance(guard, Always):
        return [frozenset()] if positive else []
    if isinstance(guard, Not):
        return _dnf(guard.part, not positive)
    if isinstance(guard, Captured):
        parts: tuple[Guard, ...] = tuple(IsSet(k) for k in guard.keys)
        conjunction = positive
    elif isinstance(guard, AllOf | AnyOf):
        parts = guard.parts
        conjunction = isinstance(guard, AllOf) == positive
    else:  # an unknown Guard subclass: opaque
        return [frozenset(((positive, ("custom", id(guard))),))]
    if not conjunction:
        terms: list[_Term] = []
        for part in parts:
            terms.extend(_dnf(part, positive))
            if len(terms) > MAX_TERMS:
                raise _TooBig
        return terms
    product: list[_Term] = [frozenset()]
    for part in parts:
        terms = _dnf(part, positive)
        if len(product) * len(terms) > MAX_TERMS:  # before building it: the bound is the point
            raise _TooBig
        product = [a | b for a in product for b in terms]
    return product


def _consistent(term: _Term) -> bool:
    positives = {atom for pos, atom in term if pos}
    negatives = {atom for pos, atom in term if not pos}
    if positives & negatives:
        return False
    values: dict[object, object] = {}
    for atom in positives:
        if atom[0] == "eq":
            key = atom[1]
            if values.setdefault(key, atom[2]) != atom[2] or ("set", key) in negatives:
                return False
    return True


def satisfiable(guard: Guard) -> bool:
    """False only when ``guard`` can certainly never hold."""
    try:
        return any(_consistent(term) for term in _dnf(guard, True))
    except _TooBig:
        return True


def needs_done(guard: Guard, step: str) -> bool:
    """True when ``guard`` can only hold once ``step`` is done (every term needs it)."""
    try:
        terms = [t for t in _dnf(guard, True) if _consistent(t)]
    except _TooBig:
        return False
    return bool(terms) and all((True, ("done", step)) in term for term in terms)


def always_holds(guard: Guard) -> bool:
    """True when ``guard`` certainly holds whatever the state (a term of its DNF is empty).

    Incomplete on purpose (``is_set(k) | not_(is_set(k))`` is not recognised); it catches the
    gates that are no gate at all: ``always()``, ``all_of()``, ``any_of(always(), ...)``.
    """
    try:
        return any(not term for term in _dnf(guard, True))
    except _TooBig:
        return False


def done_alternatives(guard: Guard | None) -> list[frozenset[str]] | None:
    """The ways ``guard`` can hold, as the sets of steps each needs done; None: no such need.

    None for no guard, or past :data:`MAX_TERMS` terms (assumed to need nothing).  Only the
    consistent terms count; a term's ``not done(...)`` parts are ignored (they can hold early).
    """
    if guard is None:
        return None
    try:
        terms = [t for t in _dnf(guard, True) if _consistent(t)]
    except _TooBig:
        return None
    return [frozenset(str(atom[1]) for pos, atom in t if pos and atom[0] == "done") for t in terms]
