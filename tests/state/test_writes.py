"""Writes: set, update, remove, modify, clear_prefix, rename, and what each journals."""

from __future__ import annotations

import attrs
import pytest

from livehandle import MutationOrigin, State


@attrs.define
class Counter:
    count: int


def _origins(state: State) -> list[tuple[str, MutationOrigin]]:
    return [(m.key, m.origin) for m in state.mutations_since(0)]


def test_a_write_of_an_identical_value_is_no_change() -> None:
    state = State()
    state.set("a", {"x": [1, 2]})
    state.set("a", {"x": [1, 2]})

    assert state.cursor == 1
    assert state.version == 1


def test_a_write_of_an_equal_value_of_another_json_type_is_a_change() -> None:
    # 1.0 over 1 and true over 1 change what a read returns, so they are changes.
    state = State()
    state.set("a", 1)
    state.set("a", 1.0)
    state.set("a", True)

    assert state.cursor == 3
    assert state.get("a") is True


def test_modify_starts_from_the_default_when_absent_and_journals_modify() -> None:
    state = State()

    assert state.modify("n", 0, lambda n: n + 1) == 1
    assert state.modify("n", 0, lambda n: n + 1) == 2
    assert state.get("n") == 2
    assert _origins(state) == [("n", MutationOrigin.MODIFY), ("n", MutationOrigin.MODIFY)]


def test_modify_gets_a_copy_and_stores_the_result() -> None:
    state = State()
    state.set("items", ["tea"])
    seen = []

    def add(items: list[str]) -> list[str]:
        seen.append(items)
        items.append("cake")
        return items

    assert state.modify("items", [], add) == ["tea", "cake"]
    seen[0].append("scone")  # the argument was a copy, so the store is unaffected
    assert state.get("items") == ["tea", "cake"]


def test_modify_with_a_type_structures_both_ways() -> None:
    state = State()
    state.set("c", {"count": 1})

    result = state.modify("c", Counter(0), lambda c: Counter(c.count + 1), type=Counter)

    assert result == Counter(2)
    assert state.get("c") == {"count": 2}


def test_modify_writes_nothing_when_fn_raises() -> None:
    state = State()
    state.set("n", 1)

    def boom(n: int) -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        state.modify("n", 0, boom)
    assert state.get("n") == 1
    assert state.cursor == 1


def test_modify_writes_nothing_when_the_result_does_not_fit_the_type() -> None:
    state = State()
    state.set("n", 1)

    with pytest.raises(TypeError, match="'n'"):
        state.modify("n", 0, lambda n: "two", type=int)
    with pytest.raises(TypeError, match="'n'"):
        state.modify("n", 0, lambda n: object())
    assert state.get("n") == 1
    assert state.cursor == 1


def test_modify_is_strict_about_the_current_value() -> None:
    state = State()
    state.set("n", "one")

    with pytest.raises(TypeError, match="'n' cannot be read as int"):
        state.modify("n", 0, lambda n: n + 1, type=int)
    assert state.get("n") == "one"


def test_modify_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        State().modify("n", 0, 5)  # type: ignore[arg-type]


def test_clear_prefix_removes_in_key_order_and_counts() -> None:
    state = State()
    state.update({"turn:b": 1, "turn:a": 2, "user:x": 3})

    assert state.clear_prefix("turn:") == 2
    assert state.keys() == ["user:x"]
    assert _origins(state)[-2:] == [
        ("turn:a", MutationOrigin.CLEAR_PREFIX),
        ("turn:b", MutationOrigin.CLEAR_PREFIX),
    ]
    assert state.clear_prefix("turn:") == 0


def test_rename_moves_the_value_and_journals_both_keys() -> None:
    state = State()
    state.set("old", {"v": 1})

    assert state.rename("old", "new") is True
    assert state.get("new") == {"v": 1}
    assert "old" not in state
    assert _origins(state)[-2:] == [("new", MutationOrigin.RENAME), ("old", MutationOrigin.RENAME)]
    assert state.rename("old", "other") is False
    assert state.rename("new", "new") is True
    assert state.cursor == 3


def test_update_journals_one_set_per_key() -> None:
    state = State()
    state.update({"a": 1, "b": 2})

    assert _origins(state) == [("a", MutationOrigin.SET), ("b", MutationOrigin.SET)]


def test_remove_journals_a_removal_with_the_old_value() -> None:
    state = State()
    state.set("a", 1)
    state.remove("a")

    last = state.recent_mutations(1)[0]
    assert (last.origin, last.old, last.old_present, last.new, last.new_present) == (
        MutationOrigin.REMOVE,
        1,
        True,
        None,
        False,
    )
