"""SessionSnapshot: plain JSON data, strictly read back, never holding anything but JSON values."""

from __future__ import annotations

import pickle

import pytest

from livehandle._errors import LeaseLost, PersistenceError, SessionOwned, SnapshotMismatch
from livehandle._persist.snapshot import SCHEMA_VERSION, SessionSnapshot
from tests.persist.contract import snapshot


def test_a_snapshot_round_trips_through_json_text() -> None:
    original = snapshot()
    text = original.to_json()
    assert SessionSnapshot.from_json(text) == original
    assert SessionSnapshot.from_json(text.encode()) == original
    assert f'"schema_version":{SCHEMA_VERSION}' in text


def test_state_and_telemetry_are_private_json_copies() -> None:
    cart = [1, 2]
    taken = snapshot(state={"cart": cart})
    cart.append(3)
    assert taken.state == {"cart": [1, 2]}
    with pytest.raises(TypeError, match="not JSON"):
        snapshot(state={"when": object()})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not a session snapshot"),
        ("[]", "expected a JSON object"),
        ('{"schema_version": 99}', "schema version 99 cannot be read"),
        (
            '{"schema_version": 1, "session_id": 5}',
            r"expected a string, got a number at \$.session_id",
        ),
    ],
)
def test_what_is_not_a_snapshot_of_this_version_is_a_snapshot_mismatch(
    text: str, reason: str
) -> None:
    with pytest.raises(SnapshotMismatch, match=reason):
        SessionSnapshot.from_json(text)


def test_persistence_errors_are_session_errors_that_pickle_with_their_session_id() -> None:
    for cls in (PersistenceError, SessionOwned, LeaseLost, SnapshotMismatch):
        error = pickle.loads(pickle.dumps(cls("held elsewhere", session_id="call-42")))
        assert type(error) is cls and str(error) == "held elsewhere"
        assert error.session_id == "call-42"
    assert issubclass(SnapshotMismatch, ValueError)
