"""Slot evidence: where a State value came from, and when it last changed.

Extractors that promote a field into State also write ``state_meta:{key}``, a JSON object such
as ``{"source": "extraction", "extractor": "booking", "field": "date", "confidence": 0.9}``.
:meth:`~livehandle.State.evidence` joins that with the journal's latest entry for the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from livehandle._convert import JsonValue
from livehandle._state.journal import MutationOrigin

if TYPE_CHECKING:
    from livehandle._state.journal import StateMutation

__all__ = ["META_PREFIX", "SlotEvidence", "build_evidence"]

#: The prefix of the keys that hold a value's provenance.
META_PREFIX = "state_meta:"


@attrs.frozen
class SlotEvidence:
    """What is known about one key: its value, its provenance and its latest change.

    Attributes:
        key: the key.
        present: whether it holds a value.
        value: a copy of the value (None when absent); never shown in the repr.
        source: who set it, from ``state_meta:{key}`` (``"extraction"``), or None.
        confidence: the confidence recorded there (a number), or None.
        extractor: the extractor that produced it, or None.
        field: the field of the extractor's result it came from, or None.
        last_sequence: the sequence of its latest mutation still in the journal, or None.
        last_origin: that mutation's origin, or None.
    """

    key: str
    present: bool
    value: JsonValue = attrs.field(repr=False)
    source: str | None = None
    confidence: float | None = None
    extractor: str | None = None
    field: str | None = None
    last_sequence: int | None = None
    last_origin: MutationOrigin | None = None


def _text(meta: dict[str, JsonValue], name: str) -> str | None:
    value = meta.get(name)
    return value if isinstance(value, str) else None


def build_evidence(
    key: str,
    present: bool,
    value: JsonValue,
    meta: object,
    last: StateMutation | None,
) -> SlotEvidence:
    """The evidence of ``key``.

    ``meta`` is the value of ``state_meta:{key}``: ignored unless an object, and each of its
    fields unless of the right kind.
    """
    source = confidence = extractor = field = None
    if isinstance(meta, dict):
        source, extractor = _text(meta, "source"), _text(meta, "extractor")
        field = _text(meta, "field")
        number = meta.get("confidence")
        if isinstance(number, int | float) and not isinstance(number, bool):
            confidence = float(number)
    return SlotEvidence(
        key,
        present,
        value,
        source,
        confidence,
        extractor,
        field,
        None if last is None else last.sequence,
        None if last is None else last.origin,
    )
