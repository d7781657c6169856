"""The public namespace: everything in __all__ exists, and every public error is exported."""

from __future__ import annotations

import inspect

import livehandle
from livehandle import errors, wire
from livehandle.wire import messages


def test_every_name_in_all_exists() -> None:
    missing = [name for name in livehandle.__all__ if not hasattr(livehandle, name)]
    assert missing == []
    assert sorted(livehandle.__all__) == livehandle.__all__


def test_every_error_class_is_exported_at_top_level() -> None:
    error_classes = {
        name
        for name, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.SessionError)
    }
    assert error_classes <= set(livehandle.__all__)


def test_every_error_is_a_session_error() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj):
            assert issubclass(obj, errors.SessionError), name


def test_wire_package_exports_every_message_class() -> None:
    assert set(messages.__all__) <= set(wire.__all__)
    for name in messages.__all__:
        assert getattr(wire, name) is getattr(messages, name)
