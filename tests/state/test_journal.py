"""The mutation journal: numbering, cursors, gaps, and the absent-value convention."""

from __future__ import annotations

import itertools

import pytest

from livehandle import MutationOrigin, Mutations, State, StateConfig, StateMutation


def _clock(start: float = 1000.0) -> object:
    counter = itertools.count()
    return lambda: start + next(counter)


def test_mutations_are_numbered_from_one_and_stamped_with_the_clock() -> None:
    state = State(clock=_clock())  # type: ignore[arg-type]
    assert state.cursor == 0

    state.set("a", 1)
    state.set("a", 2)
    state.remove("a")

    changes = state.mutations_since(0)
    assert [m.sequence for m in changes] == [1, 2, 3]
    assert [m.time for m in changes] == [1000.0, 1001.0, 1002.0]
    assert changes[0] == StateMutation(1, "a", None, 1, MutationOrigin.SET, 1000.0, False, True)
    assert (changes[1].old, changes[1].new) == (1, 2)
    assert (changes[2].old, changes[2].new_present) == (2, False)
    assert state.cursor == 3
    assert changes.cursor == 3


def test_null_and_absent_are_told_apart() -> None:
    state = State()
    state.set("a", None)
    state.set("a", 0)

    first, second = state.mutations_since(0)
    assert (first.old_present, first.new, first.new_present) == (False, None, True)
    assert (second.old, second.old_present) == (None, True)


def test_mutations_since_a_cursor_lists_the_later_changes_in_order() -> None:
    state = State()
    state.set("a", 1)
    cursor = state.cursor
    state.set("b", 2)
    state.set("c", 3)

    since = state.mutations_since(cursor)
    assert isinstance(since, Mutations)
    assert [m.key for m in since] == ["b", "c"]
    assert not since.gap
    assert since.missed == 0
    assert list(state.mutations_since(state.cursor)) == []


def test_a_gap_is_reported_when_the_ring_dropped_entries() -> None:
    state = State(StateConfig(journal_size=3))
    for value in range(10):
        state.set("k", value)

    since = state.mutations_since(2)
    assert [m.sequence for m in since] == [8, 9, 10]
    assert since.gap
    assert since.missed == 5  # 3..7 are gone
    assert state.mutations_since(7).missed == 0
    assert not state.mutations_since(7).gap


@pytest.mark.parametrize("size", [1, 31, 32, 33, 40])
def test_the_ring_keeps_exactly_the_newest_size_mutations_as_it_grows(size: int) -> None:
    # The journal starts as a short list and becomes a ring: the bound holds on both sides.
    state = State(StateConfig(journal_size=size))
    for count in range(1, 3 * size + 40):
        state.set("k", count)
        kept = [m.new for m in state.recent_mutations(10_000)]
        assert kept == list(range(max(1, count - size + 1), count + 1))
        since = state.mutations_since(0)
        assert since.missed == max(0, count - size)
        assert state.evidence("k").last_sequence == count  # the newest, found from the end


def test_mutations_since_rejects_a_cursor_out_of_range() -> None:
    state = State()
    state.set("a", 1)

    with pytest.raises(ValueError, match="between 0 and"):
        state.mutations_since(2)
    with pytest.raises(ValueError, match="between 0 and"):
        state.mutations_since(-1)
    with pytest.raises(TypeError, match="an int"):
        state.mutations_since("1")  # type: ignore[arg-type]


def test_recent_mutations_returns_the_latest_in_order() -> None:
    state = State(StateConfig(journal_size=4))
    for value in range(6):
        state.set("k", value)

    assert [m.new for m in state.recent_mutations(2)] == [4, 5]
    assert [m.new for m in state.recent_mutations(99)] == [2, 3, 4, 5]
    assert state.recent_mutations(0) == ()
    with pytest.raises(ValueError, match=">= 0"):
        state.recent_mutations(-1)


def test_mutations_is_a_sequence() -> None:
    state = State()
    state.update({"a": 1, "b": 2, "c": 3})

    since = state.mutations_since(0)
    assert len(since) == 3
    assert since[-1].key == "c"
    assert [m.key for m in since[1:]] == ["b", "c"]
    assert since == list(since)
    assert "3 mutations" in repr(since)


def test_journal_entries_are_not_affected_by_what_readers_do() -> None:
    state = State()
    state.set("basket", ["tea"])
    state.get("basket").append("cake")  # type: ignore[union-attr]

    assert state.mutations_since(0)[0].new == ["tea"]


def test_mutation_json_form() -> None:
    state = State(clock=lambda: 5.0)
    state.set("a", [1])

    assert state.mutations_since(0)[0].to_json() == {
        "sequence": 1,
        "key": "a",
        "old": None,
        "new": [1],
        "old_present": False,
        "new_present": True,
        "origin": "set",
        "time": 5.0,
    }


def test_a_redacted_mutations_repr_hides_the_values() -> None:
    state = State(StateConfig(redact_keys=("secret",)))
    state.set("secret", "hunter2")
    state.set("open", "visible")

    hidden, shown = state.mutations_since(0)
    assert "hunter2" not in repr(hidden)
    assert "[redacted]" in repr(hidden)
    assert "visible" in repr(shown)
    # the in-memory journal keeps the real value for the process itself
    assert hidden.new == "hunter2"
