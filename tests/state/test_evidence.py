"""Slot evidence: provenance from state_meta: joined with the journal."""

from __future__ import annotations

import pytest

from livehandle import MutationOrigin, SlotEvidence, State, StateConfig


def test_evidence_of_a_promoted_value() -> None:
    state = State()
    state.set("date", "friday")
    state.set(
        "state_meta:date",
        {"source": "extraction", "extractor": "booking", "field": "date", "confidence": 1},
    )

    evidence = state.evidence("date")

    assert evidence == SlotEvidence(
        key="date",
        present=True,
        value="friday",
        source="extraction",
        confidence=1.0,
        extractor="booking",
        field="date",
        last_sequence=1,
        last_origin=MutationOrigin.SET,
    )


def test_evidence_of_an_absent_key_and_of_a_value_set_by_hand() -> None:
    state = State()
    assert state.evidence("nothing") == SlotEvidence("nothing", False, None)

    state.set("party", 4)
    state.modify("party", 0, lambda n: n + 1)
    evidence = state.evidence("party")
    assert (evidence.present, evidence.value, evidence.source) == (True, 5, None)
    assert (evidence.last_sequence, evidence.last_origin) == (2, MutationOrigin.MODIFY)


def test_evidence_ignores_malformed_metadata() -> None:
    state = State()
    state.set("a", 1)
    state.set("state_meta:a", {"source": 3, "confidence": True, "extractor": "x"})
    evidence = state.evidence("a")
    assert (evidence.source, evidence.confidence, evidence.extractor) == (None, None, "x")

    state.set("state_meta:a", "not an object")
    assert state.evidence("a").extractor is None


def test_evidence_after_the_ring_dropped_the_keys_last_change() -> None:
    state = State(StateConfig(journal_size=2))
    state.set("a", 1)
    state.update({"b": 1, "c": 1})

    evidence = state.evidence("a")
    assert evidence.present
    assert (evidence.last_sequence, evidence.last_origin) == (None, None)


def test_evidence_value_is_a_copy_and_never_in_the_repr() -> None:
    state = State()
    state.set("card", {"number": "4111"})
    evidence = state.evidence("card")
    evidence.value["number"] = "changed"  # type: ignore[index]

    assert state.get("card") == {"number": "4111"}
    assert "4111" not in repr(state.evidence("card"))
    with pytest.raises(ValueError, match="non-empty"):
        state.evidence("")
