"""Every public error survives pickling (e.g. across a process boundary) with all it carries."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import livehandle
import livehandle.lowlevel
import livehandle.testing
from livehandle import Endpoint, SessionError
from livehandle._errors import classify_close
from livehandle._session import open_session
from livehandle.testing import LiveEmulator
from tests.testing.helpers import SETUP_TEXT

KEY = "AIzaSy-pickled-key-0123456789"

# One representative instance per public error class, with the attributes its docstring
# documents (compared after the round trip, besides type, str() and args).
EXAMPLES: list[tuple[BaseException, tuple[str, ...]]] = [
    (SessionError("something went wrong"), ()),
    (livehandle.ProtocolError("bad frame: '{\"x\"'"), ()),
    (
        livehandle.ConnectFailed("could not connect", url="wss://h/live?key=***", status_code=403),
        ("url", "status_code"),
    ),
    (livehandle.SessionTimeout("setup", 5.0), ("stage", "seconds")),
    (livehandle.ConnectionClosed(4000, "custom"), ("code", "reason", "resumable")),
    (livehandle.NormalClosure(1000), ("code", "reason", "resumable")),
    (livehandle.ConnectionLost(1006, "gone"), ("code", "reason", "resumable")),
    (livehandle.InvalidArgument(1007, "bad key"), ("code", "reason", "resumable")),
    (livehandle.PolicyViolation(1008, "no model"), ("code", "reason", "resumable")),
    (
        livehandle.ServerError(1011, "Deadline expired"),
        ("code", "reason", "resumable", "deadline_expired"),
    ),
    (
        livehandle.SessionClosed("ended", cause=livehandle.ConnectionLost(1006, "gone")),
        ("cause",),
    ),
    (
        livehandle.ResumeFailed(
            "no connection", cause=livehandle.ConnectionLost(1006, "gone"), attempts=3
        ),
        ("cause", "attempts"),
    ),
    (livehandle.SessionTaskFailed("the reader failed"), ()),
    (livehandle.Lagged(7), ("missed",)),
    (livehandle.ReactionFailed("greet", "PromptModel", ValueError("boom")), ("source", "effect")),
    (livehandle.StaleToolResponse(("c1", "c2"), 1, 2), ("ids", "issued_on", "current")),
    (livehandle.ToolHookFailed("on_tool_call", KeyError("x")), ("hook",)),
    (
        livehandle.ExtractionFailed(
            "booking", "timed out after 2 s", TimeoutError("late"), timed_out=True
        ),
        ("extractor", "reason", "timed_out"),
    ),
    (
        livehandle.ToolArgumentError(
            "lookup", [f"argument 'a{i}': missing" for i in range(7)], wrong_type=True
        ),
        ("tool", "problems", "wrong_type"),
    ),
    (livehandle.ToolTimeout("lookup", 2.5), ("tool", "seconds")),
    (livehandle.FlowActionFailed("greet", TimeoutError("no answer within 2 s")), ("step",)),
    (livehandle.FlowGuardFailed("custom check 'vip'", KeyError("tier")), ("guard",)),
    (livehandle.TurnStepTimeout("extractors", 10.0), ("step", "seconds")),
    (livehandle.StateFailed("a watcher failed", "action_failed", "booking"), ("kind", "key")),
    (
        livehandle.ExtractorRequestFailed("booking", "status", "HTTP 429", status_code=429),
        ("extractor", "kind", "status_code"),
    ),
    (
        livehandle.FlowError("step 'book' waits for step 'pay'", "unknown_step", "book"),
        ("kind", "step"),
    ),
    (livehandle.PersistenceError("save failed", session_id="call-42"), ("session_id",)),
    (livehandle.SessionOwned("held elsewhere", session_id="call-42"), ("session_id",)),
    (livehandle.LeaseLost("lease expired", session_id="call-42"), ("session_id",)),
    (livehandle.SnapshotMismatch("another model", session_id="call-42"), ("session_id",)),
]


def _public_error_classes() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for namespace in (livehandle, livehandle.lowlevel, livehandle.testing):
        for name in namespace.__all__:
            obj = getattr(namespace, name)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                found.add(obj)
    return found


def _same(a: Any, b: Any) -> bool:
    """Equal values; exceptions (which compare by identity) by type, args and attributes."""
    if isinstance(a, BaseException):
        return (
            type(a) is type(b)
            and a.args == b.args
            and vars(a).keys() == vars(b).keys()
            and all(_same(value, vars(b)[key]) for key, value in vars(a).items())
        )
    return bool(a == b)


def test_every_public_error_class_has_an_example() -> None:
    assert {type(error) for error, _ in EXAMPLES} == _public_error_classes()
    assert all(issubclass(cls, SessionError) for cls in _public_error_classes())


@pytest.mark.parametrize(("error", "attributes"), EXAMPLES, ids=lambda v: type(v).__name__)
def test_a_public_error_round_trips_through_pickle(
    error: BaseException, attributes: tuple[str, ...]
) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert _same(copy, error)
        for name in attributes:
            assert _same(getattr(copy, name), getattr(error, name)), name


def test_the_close_classification_survives_pickling() -> None:
    for code in (1000, 1006, 1007, 1008, 1011, 4000, None):
        error = classify_close(code, "reason text")
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), copy.code, copy.reason, str(copy)) == (
            type(error),
            error.code,
            error.reason,
            str(error),
        )
        assert str(copy).count("reason text") == 1  # the message is not built twice


def test_the_isinstance_relations_survive_pickling() -> None:
    arguments = pickle.loads(pickle.dumps(livehandle.ToolArgumentError("t", ["x"])))
    timeout = pickle.loads(pickle.dumps(livehandle.ToolTimeout("t", 1.0)))
    assert isinstance(arguments, ValueError) and isinstance(arguments, SessionError)
    assert isinstance(timeout, TimeoutError) and isinstance(timeout, SessionError)


class _AppError(livehandle.ConnectionClosed):
    """An application's own subclass with its own constructor (module level: picklable)."""

    def __init__(self, code: int, *, note: str) -> None:
        super().__init__(code, f"app: {note}")
        self.note = note


def test_a_subclass_with_its_own_constructor_round_trips_too() -> None:
    error = _AppError(4001, note="quota")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.code, copy.reason, copy.note) == (
        _AppError,
        str(error),
        4001,
        "app: quota",
        "quota",
    )


async def test_pickling_an_error_built_from_a_credential_adds_no_secret() -> None:
    async with LiveEmulator().in_memory() as emu:
        endpoint = Endpoint.from_url(f"{emu.url}/nope?key={KEY}")
        with pytest.raises(livehandle.ConnectFailed) as info:
            async with open_session(
                SETUP_TEXT, endpoint=endpoint, transport=emu.memory_transport()
            ):
                pytest.fail("must not connect")
    data = pickle.dumps(info.value)
    assert KEY.encode() not in data
    copy = pickle.loads(data)
    assert KEY not in str(copy)
    assert KEY not in copy.url
    assert (copy.url, copy.status_code) == (info.value.url, 404)
