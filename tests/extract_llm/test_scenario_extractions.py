"""Scripting the emulator's generateContent: Extract rules, in Python and in scenario JSON."""

from __future__ import annotations

import pytest

from livehandle.testing import Extract, Scenario
from livehandle.testing._extractions import choose, scripted_answer


def test_rules_from_json() -> None:
    scenario = Scenario.from_dict(
        {
            "extractions": [
                {"status": 429, "times": 1, "retry_after": 2},
                {"when": "book", "reply": {"party": 4}, "fenced": True, "delay": 0.5},
                {"block_reason": "SAFETY"},
            ]
        }
    )
    assert scenario.extractions == (
        Extract(status=429, times=1, retry_after=2),
        Extract(reply={"party": 4}, when="book", fenced=True, delay=0.5),
        Extract(block_reason="SAFETY"),
    )


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"extractions": {}}, "extractions: expected a list"),
        ({"extractions": [3]}, r"extractions\[0\]: expected an object"),
        ({"extractions": [{"bogus": 1}]}, r"extractions\[0\]: unknown key\(s\) bogus"),
        ({"extractions": [{"status": "429"}]}, r"extractions\[0\].status: expected int"),
        ({"extractions": [{"fenced": 1}]}, r"extractions\[0\].fenced: expected bool"),
        ({"extractions": [{"times": True}]}, r"extractions\[0\].times: expected int"),
        ({"extractions": [{"status": 200}]}, r"extractions\[0\]: status must be an HTTP error"),
        ({"extractions": [{"when": "("}]}, r"extractions\[0\]: invalid regular expression"),
        ({"extractions": [{"times": 0}]}, r"extractions\[0\]: times must be at least 1"),
    ],
)
def test_bad_rules_are_refused_with_their_place(data: object, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        Scenario.from_dict(data)


def test_a_reply_must_be_json() -> None:
    with pytest.raises(ValueError, match="reply must be a JSON value"):
        Extract(reply={"when": object()})
    with pytest.raises(ValueError, match="delay must be at least 0"):
        Extract(delay=-1)


def test_rules_are_tried_in_order_with_their_uses_counted() -> None:
    rules = (Extract(when="^a", times=1, reply=1), Extract(reply=2))
    uses: dict[int, int] = {}
    picked = [choose(rules, uses, text) for text in ("abc", "abc", "xyz")]
    assert picked == [rules[0], rules[1], rules[1]]
    assert choose((Extract(when="nothing"),), {}, "abc") is None


def test_scripted_answers_have_the_service_shapes() -> None:
    ok = scripted_answer(Extract(reply={"a": 1}, fenced=True), "m")
    assert ok.status == 200
    assert ok.body["candidates"][0]["content"]["parts"][0]["text"] == '```json\n{"a": 1}\n```'
    assert ok.body["candidates"][0]["finishReason"] == "STOP"
    assert scripted_answer(Extract(), "m").body["candidates"][0]["content"]["parts"][0] == {
        "text": "{}"
    }
    limited = scripted_answer(Extract(status=429, retry_after=3), "m")
    assert (limited.status, limited.headers) == (429, (("retry-after", "3"),))
    assert limited.body["error"]["status"] == "RESOURCE_EXHAUSTED"
    blocked = scripted_answer(Extract(block_reason="OTHER"), "m")
    assert "candidates" not in blocked.body
    assert blocked.body["promptFeedback"] == {"blockReason": "OTHER"}
    safety = scripted_answer(Extract(finish_reason="SAFETY"), "m").body["candidates"][0]
    assert "content" not in safety
    unscripted = scripted_answer(None, "m")
    assert unscripted.status == 400
    assert unscripted.body["error"]["status"] == "FAILED_PRECONDITION"
