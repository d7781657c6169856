"""The properties every fuzz input is checked against, one per parser.

* :func:`check_decode`: a decoder raises nothing but ProtocolError, and a message it returns
  encodes again and decodes to the same message.
* :func:`check_scenario`: a scenario entry raises nothing but ValueError (all three document it:
  :meth:`~livehandle.testing.Scenario.from_dict`, ``from_json`` and ``load``, the one
  ``livehandle emulator --scenario`` uses and whose ValueError it turns into exit status 2;
  ``UnicodeDecodeError`` is a ValueError), with a message; a scenario that parses picks a reply
  for every kind of user turn.

An exception a :mod:`tests.fuzz.known_bugs` entry recognises is tolerated and counted as a
Hypothesis event; anything else fails the example.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event, note

from livehandle import ProtocolError
from livehandle.testing import UserTurn
from tests.fuzz.known_bugs import CODEC_BUGS, SCENARIO_BUGS, describe, known

TURNS = [
    UserTurn("text", "what is the weather"),
    UserTurn("speech", "hi", duration_ms=800.0),
    UserTurn("tool_result", "done", tool_name="book", tool_result="ok"),
]


def check_decode(data: bytes | str, decode: Any, encode: Any) -> None:
    """Decode ``data``; only ProtocolError may escape, and a success must survive a round trip."""
    note(f"{decode.__name__} input: {describe(data)}")
    try:
        message = decode(data)
    except ProtocolError:
        event(f"{decode.__name__}: ProtocolError")
        return
    except Exception as exc:
        if (bug := known(exc, CODEC_BUGS)) is None:
            raise
        event(f"known bug {bug.name}")
        return
    event(f"{decode.__name__}: {type(message).__name__}")
    try:
        text = encode(message)
    except ProtocolError as exc:
        if (bug := known(exc, CODEC_BUGS)) is None:
            raise AssertionError(f"decoded {message!r:.300} but cannot re-encode it") from exc
        event(f"known bug {bug.name}")
        return
    assert decode(text) == message, f"re-encoded {text!r:.300} decodes differently"


def check_scenario(parse: Any, source: Any) -> None:
    """Parse a scenario from ``source``; only ValueError may escape, and a success must work."""
    note(f"{parse.__name__} input: {describe(source)}")
    error: ValueError | None = None
    try:
        scenario = parse(source)
    except ValueError as exc:
        error = exc
    except Exception as exc:
        if (bug := known(exc, SCENARIO_BUGS)) is None:
            raise
        event(f"known bug {bug.name}")
        return
    if error is not None:
        event(f"ValueError from {parse.__name__}")
        assert str(error), "a ValueError must say what is wrong"
        return
    event(f"parsed by {parse.__name__}")
    uses: dict[int, int] = {}
    for turn in TURNS:
        assert isinstance(scenario.reply_for(turn, uses), tuple)
