"""Scoped views and deltas."""

from __future__ import annotations

import pytest

from livehandle import DerivedScope, MutationOrigin, State, StateDelta, StateScope


@pytest.mark.parametrize("name", ["app", "user", "temp", "session", "turn", "bg"])
def test_each_standard_scope_prefixes_writes_and_strips_keys(name: str) -> None:
    state = State()
    scope = getattr(state, name)
    assert isinstance(scope, StateScope)

    scope.set("b", 1)
    scope.update({"a": 2})

    assert state.keys() == [f"{name}:a", f"{name}:b"]
    assert scope.keys() == ["a", "b"]
    assert scope.get("a") == 2
    assert scope.prefix == f"{name}:"


def test_a_scope_has_the_full_read_write_api() -> None:
    state = State()
    user = state.user
    state.set("name", "outside")

    user.set("name", "Ada")
    assert user.try_get("name", str) == "Ada"
    assert user.contains("name") and "name" in user
    assert len(user) == 1
    assert user.modify("visits", 0, lambda n: n + 1) == 1
    assert user.rename("name", "full_name") is True
    assert state.get("user:full_name") == "Ada"
    assert user.keys("v") == ["visits"]
    assert user.clear_prefix("") == 2
    assert state.keys() == ["name"]  # only the scope was cleared
    assert user.remove("nothing") is False


def test_scope_writes_are_journaled_under_the_full_key() -> None:
    state = State()
    state.turn.set("x", 1)
    state.turn.clear_prefix("")

    assert [(m.key, m.origin) for m in state.mutations_since(0)] == [
        ("turn:x", MutationOrigin.SET),
        ("turn:x", MutationOrigin.CLEAR_PREFIX),
    ]


def test_scope_errors_name_the_full_key() -> None:
    state = State()
    state.user.set("age", "old")

    with pytest.raises(TypeError, match="'user:age'"):
        state.user.try_get("age", int)
    with pytest.raises(ValueError, match="non-empty string"):
        state.user.set("", 1)


def test_a_scope_does_not_fall_back_to_derived() -> None:
    state = State()
    state.set("derived:name", "x")

    assert state.user.get("name") is None


def test_nested_and_custom_scopes() -> None:
    state = State()
    state.scope("shop:").scope("cart:").set("tea", 2)

    assert state.keys() == ["shop:cart:tea"]
    assert state.scope("shop:").keys() == ["cart:tea"]
    with pytest.raises(ValueError, match="ending in ':'"):
        state.scope("shop")
    with pytest.raises(ValueError, match="ending in ':'"):
        state.scope(":")
    with pytest.raises(TypeError, match="string"):
        state.scope(None)  # type: ignore[arg-type]


def test_derived_is_read_only() -> None:
    state = State()
    state.set("derived:total", 3)
    derived = state.derived

    assert isinstance(derived, DerivedScope)
    assert derived.get("total") == 3
    assert derived.try_get("total", int) == 3
    assert derived.keys() == ["total"]
    assert "total" in derived
    for method in ("set", "update", "remove", "modify", "clear_prefix", "rename", "scope"):
        assert not hasattr(derived, method)


# -- deltas ---------------------------------------------------------------------------------


def test_delta_reads_see_buffered_writes_over_the_base() -> None:
    state = State()
    state.update({"a": 1, "b": 2})
    delta = state.delta()
    assert isinstance(delta, StateDelta)

    delta.set("a", 10)
    delta.remove("b")
    delta.set("c", 3)

    assert (delta.get("a"), delta.get("b"), delta.get("c")) == (10, None, 3)
    assert "b" not in delta
    assert delta.keys() == ["a", "c"]
    assert len(delta) == 2
    # the base is untouched and nothing was journaled
    assert (state.get("a"), state.get("b"), "c" in state) == (1, 2, False)
    assert state.cursor == 2
    assert delta.has_changes
    assert delta.changes == {"a": 10, "c": 3}
    assert delta.removed == ["b"]


def test_delta_commit_applies_and_journals_with_origin_commit() -> None:
    state = State()
    state.update({"a": 1, "b": 2})
    cursor = state.cursor
    delta = state.delta()
    delta.set("a", 10)
    delta.remove("b")
    delta.set("same", None)
    delta.remove("same")  # written then removed in the delta: nothing to commit
    delta.user.set("name", "Ada")

    assert delta.commit() == 3
    assert state.to_dict() == {"a": 10, "user:name": "Ada"}
    changes = state.mutations_since(cursor)
    assert [(m.key, m.origin) for m in changes] == [
        ("a", MutationOrigin.COMMIT),
        ("b", MutationOrigin.COMMIT),
        ("user:name", MutationOrigin.COMMIT),
    ]
    assert not delta.has_changes
    assert delta.commit() == 0


def test_delta_rollback_drops_everything() -> None:
    state = State()
    state.set("a", 1)
    delta = state.delta()
    delta.set("a", 2)
    delta.remove("a")

    delta.rollback()

    assert delta.get("a") == 1
    assert not delta.has_changes
    assert state.cursor == 1


def test_delta_as_a_context_manager_commits_or_rolls_back() -> None:
    state = State()
    with state.delta() as delta:
        delta.set("a", 1)
    assert state.get("a") == 1

    def abort() -> None:
        with state.delta() as delta:
            delta.set("a", 2)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        abort()
    assert state.get("a") == 1


def test_delta_modify_rename_and_derived_fallback() -> None:
    state = State()
    state.set("n", 1)
    state.set("derived:total", 5)
    delta = state.delta()

    assert delta.modify("n", 0, lambda n: n + 1) == 2
    assert delta.rename("n", "m") is True
    assert delta.get("total") == 5
    delta.set("derived:total", 6)
    assert delta.get("total") == 6
    assert state.get("n") == 1
    delta.commit()
    assert state.to_dict() == {"m": 2, "derived:total": 6}


def test_delta_clear_prefix_counts_visible_keys() -> None:
    state = State()
    state.update({"turn:a": 1, "turn:b": 2})
    delta = state.delta()
    delta.set("turn:c", 3)

    assert delta.clear_prefix("turn:") == 3
    assert delta.keys() == []
    delta.commit()
    assert state.keys() == []


def test_delta_values_are_snapshots() -> None:
    state = State()
    basket = ["tea"]
    delta = state.delta()
    delta.set("basket", basket)
    basket.append("cake")
    delta.changes["basket"].append("scone")  # type: ignore[union-attr]

    delta.commit()
    assert state.get("basket") == ["tea"]
