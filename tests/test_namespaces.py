"""The three public namespaces: what each exports, and the names they claim."""

from __future__ import annotations

import importlib
import inspect
import pickle
import types
import typing

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
    with pytest.warns(DeprecationWarning, match=r"livehandle\.wire\.messages\.Content moved"):
        assert wire.messages.Content is livehandle.lowlevel.Content
    with pytest.raises(AttributeError):
        wire.Nope  # noqa: B018


@pytest.mark.parametrize(
    ("old", "name", "where"),
    [
        ("livehandle.transport", "Endpoint", "livehandle.Endpoint"),
        ("livehandle.transport.websocket", "WebSocketTransport", "livehandle.lowlevel"),
        ("livehandle.config", "LiveConfig", "livehandle.LiveConfig"),
        ("livehandle.errors", "classify_close", "livehandle.lowlevel.classify_close"),
        ("livehandle.runtime.vad", "TurnCommitPolicy", "livehandle.TurnCommitPolicy"),
        ("livehandle.testing.scenario", "Step", "livehandle.testing.Step"),
        ("livehandle.testing.emulator", "DEFAULT_MODELS", "livehandle.testing.DEFAULT_MODELS"),
    ],
)
def test_old_module_paths_name_the_new_home(old: str, name: str, where: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=where.replace(".", r"\.")) as record:
        obj = getattr(module, name)
    assert record[0].filename == __file__  # the warning points at the caller
    homes = [livehandle, livehandle.lowlevel, livehandle.testing]
    assert any(getattr(ns, name) is obj for ns in homes if name in ns.__all__)


def test_old_paths_of_now_private_names_say_so() -> None:
    module = importlib.import_module("livehandle.open")
    with pytest.warns(DeprecationWarning, match="resolve_endpoint is private now"):
        resolve = module.resolve_endpoint
    assert callable(resolve)


def test_old_paths_do_not_invent_modules_or_names() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("livehandle.transport.nothing")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("livehandle.runtimes")
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        importlib.import_module("livehandle.config").Nothing  # noqa: B018


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


def _public_classes() -> list[type]:
    found: list[type] = []
    for namespace in NAMESPACES:
        for name in namespace.__all__:
            obj = getattr(namespace, name)
            if isinstance(obj, type):
                found.append(obj)
                found.extend(
                    member
                    for member in vars(obj).values()
                    if isinstance(member, type)
                    and member.__qualname__.startswith(obj.__qualname__ + ".")
                )
    return found


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda cls: cls.__qualname__)
def test_type_hints_of_every_public_class_resolve_from_its_namespace(cls: type) -> None:
    # __module__ names the namespace, where get_type_hints and cattrs look annotations up.
    hints = typing.get_type_hints(cls)
    assert all(not isinstance(hint, str) for hint in hints.values())
