"""Hypothesis: any message of any class survives encode -> decode unchanged."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, decode_server, encode_client, encode_server
from tests.wire.strategies import CLIENT_CLASSES, SERVER_CLASSES, for_class


@pytest.mark.parametrize("cls", CLIENT_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_client_message_round_trips(cls: type, data: st.DataObject) -> None:
    msg = data.draw(for_class(cls))
    text = encode_client(msg)
    assert not _has_null(json.loads(text))
    assert decode_client(text) == msg


@pytest.mark.parametrize("cls", SERVER_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_server_message_round_trips(cls: type, data: st.DataObject) -> None:
    msg = data.draw(for_class(cls))
    text = encode_server(msg)
    assert decode_server(text) == msg
    assert decode_server(text.encode()) == msg  # binary frames carry the same JSON


@settings(max_examples=60, deadline=None)
@given(msg=for_class(m.RealtimeInput))
def test_snake_case_and_urlsafe_input_decodes_like_camel_case(msg: m.RealtimeInput) -> None:
    camel = json.loads(encode_client(msg))
    snake = {"realtime_input": _snake_keys(camel["realtimeInput"])}
    assert decode_client(json.dumps(snake)) == msg


_FREE_FORM = {
    "args",
    "response",
    "parameters",
    "parametersJsonSchema",
    "responseJsonSchema",
    "avatarConfig",
    "urlContextMetadata",
    "groundingSupports",
    "partialArgs",
    "raw",
}


def _has_null(value: object) -> bool:
    """True if a JSON null appears anywhere outside free-form objects (user data may hold null)."""
    if value is None:
        return True
    if isinstance(value, dict):
        # Unknown members ("x-..." in the strategies) are written back verbatim, nulls included.
        return any(
            _has_null(v) for k, v in value.items() if k not in _FREE_FORM and not k.startswith("x-")
        )
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def _snake_keys(value: object) -> object:
    """Snake-case every key, and write base64 payloads URL-safe without padding."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.startswith("x-"):  # an unknown member: kept verbatim, not renamed
                out[key] = item
                continue
            if key == "data" and isinstance(item, str):
                item = item.replace("+", "-").replace("/", "_").rstrip("=")
            out["".join("_" + c.lower() if c.isupper() else c for c in key)] = _snake_keys(item)
        return out
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value
