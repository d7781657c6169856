"""The three public namespaces: what each exports, and the names they claim."""

from __future__ import annotations

import importlib
import inspect
import pickle
import types

import pytest

import livehandle
import livehandle.lowlevel
import livehandle.testing
from livehandle import _errors

NAMESPACES = [livehandle, livehandle.lowlevel, livehandle.testing]

INTERNALS = {
    "Broadcast",
    "BroadcastStatistics",
    "DeferredWriter",
    "Hooks",
    "MemoryTransport",
    "PendingContext",
    "Session",
    "SessionOptions",
    "SessionWriter",
    "Transport",
    "WebSocketTransport",
    "open_session",
}


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda ns: ns.__name__)
def test_every_name_in_all_exists_once(namespace: types.ModuleType) -> None:
    missing = [name for name in namespace.__all__ if not hasattr(namespace, name)]
    assert missing == []
    assert len(set(namespace.__all__)) == len(namespace.__all__)


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda ns: ns.__name__)
def test_every_public_class_and_function_reports_its_namespace(namespace: types.ModuleType) -> None:
    wrong = {}
    for name in namespace.__all__:
        obj = getattr(namespace, name)
        if isinstance(obj, type | types.FunctionType) and obj.__module__ != namespace.__name__:
            wrong[name] = obj.__module__
    assert wrong == {}


def test_nested_event_classes_follow_their_namespace() -> None:
    assert repr(livehandle.Tool) == "<class 'livehandle.Tool'>"
    assert livehandle.LiveEvent.Audio.__module__ == "livehandle"
    assert livehandle.SessionEvent.GoAway.__module__ == "livehandle"
    assert livehandle.lowlevel.Setup.__module__ == "livehandle.lowlevel"


def test_public_values_pickle_through_their_namespace() -> None:
    event = livehandle.LiveEvent.TextDelta("hi")
    assert pickle.loads(pickle.dumps(event)) == event
    phase = livehandle.SessionPhase.ACTIVE
    assert pickle.loads(pickle.dumps(phase)) is phase


def test_internals_are_not_in_the_bot_author_namespace() -> None:
    assert INTERNALS.isdisjoint(livehandle.__all__)
    assert set(livehandle.lowlevel.__all__) >= INTERNALS


@pytest.mark.parametrize("name", sorted(INTERNALS))
def test_moved_names_keep_working_for_a_release(name: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"livehandle\.lowlevel\.{name}"):
        old = getattr(livehandle, name)
    assert old is getattr(livehandle.lowlevel, name)


def test_unknown_top_level_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        livehandle.nothing_here  # noqa: B018


def test_the_old_wire_module_forwards_with_a_warning() -> None:
    wire = importlib.import_module("livehandle.wire")
    with pytest.warns(DeprecationWarning, match=r"livehandle\.lowlevel\.ToolResponse"):
        assert wire.ToolResponse is livehandle.lowlevel.ToolResponse
    with pytest.warns(DeprecationWarning, match=r"livehandle\.FunctionResponse"):
        assert wire.FunctionResponse is livehandle.FunctionResponse
    with pytest.warns(DeprecationWarning, match=r"livehandle\.wire\.messages"):
        assert wire.messages.Content is livehandle.lowlevel.Content
    with pytest.raises(AttributeError):
        wire.Nope  # noqa: B018


def test_every_public_error_lives_in_the_errors_module_and_is_exported() -> None:
    defined_there = {
        name
        for name, obj in inspect.getmembers(_errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ == "livehandle"
    }
    exported = {
        name
        for name in livehandle.__all__
        if isinstance(obj := getattr(livehandle, name), type) and issubclass(obj, BaseException)
    }
    assert exported == defined_there
