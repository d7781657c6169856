"""LlmExtractor without a server: options, binding, URLs, parsing, retries on Trio's clock."""

from __future__ import annotations

import email.utils
import json
import sys
import time

import httpx
import pytest
import trio

from livehandle import Endpoint, ExtractorRequestFailed, LlmExtractor, TranscriptTurn
from livehandle._extract.gemini_rest import (
    answer_text,
    rest_headers,
    rest_url,
    retry_after,
    retry_delay,
    strip_fences,
)
from livehandle._extract.protocol import ExtractionTrigger, TurnExtractor
from tests.extract_llm.helpers import KEY, WINDOW, Booking, extractor

# -- construction -----------------------------------------------------------------------------


def test_satisfies_the_protocol_and_keeps_its_options() -> None:
    rules = [object(), object()]
    llm = LlmExtractor(
        "intent",
        prompt="What does the user want?",
        schema=Booking,
        window=5,
        trigger=ExtractionTrigger.every(2),
        promotions=rules,
        model="models/gemini-x",
    )
    assert isinstance(llm, TurnExtractor)
    assert (llm.name, llm.window, llm.trigger) == ("intent", 5, ExtractionTrigger.every(2))
    assert llm.promotions == tuple(rules)
    assert llm.model == "gemini-x"
    assert llm.schema is Booking
    assert llm.endpoint is None and llm.url is None
    assert "unbound" in repr(llm)


@pytest.mark.parametrize(
    ("options", "error", "said"),
    [
        ({"prompt": ""}, ValueError, "prompt must not be empty"),
        ({"prompt": 3}, TypeError, "prompt must be a str"),
        ({"window": 0}, ValueError, "window must be at least 1"),
        ({"window": True}, TypeError, "window must be an int"),
        ({"min_words": -1}, ValueError, "min_words must be at least 0"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"max_retries": 11}, ValueError, "at most 10"),
        ({"backoff": -1}, ValueError, "backoff"),
        ({"trigger": "every_turn"}, TypeError, "ExtractionTrigger"),
        ({"endpoint": "ws://x"}, TypeError, "Endpoint"),
        ({"schema": object}, TypeError, "object"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type, said: str) -> None:
    with pytest.raises(error, match=said):
        extractor(**options)


def test_missing_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ImportError, match=r"livehandle\[llm\]"):
        extractor()


def test_should_extract_and_min_words() -> None:
    llm = extractor(min_words=4)
    assert not llm.should_extract([])
    assert llm.should_extract(WINDOW)  # "Four of us, name is Ada, for dinner." has 8 words
    short = [*WINDOW, TranscriptTurn(3, "Yes.", "Done."), TranscriptTurn(4, "  ", "Anything else?")]
    assert not llm.should_extract(short)  # the newest non-empty user text is "Yes."
    assert not llm.should_extract([TranscriptTurn(1, "", "Hello!")])
    assert extractor().should_extract([TranscriptTurn(1, "", "Hello!")])  # min_words=0


async def test_unbound_extract_is_a_typed_error() -> None:
    with pytest.raises(ExtractorRequestFailed) as caught:
        await extractor().extract(WINDOW)
    assert caught.value.kind == "config"


# -- binding: URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        (
            Endpoint.google_ai(KEY),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-3.8-flash:generateContent",
        ),
        (
            Endpoint.google_ai(KEY, api_version="v1alpha", base_url="ws://127.0.0.1:9"),
            "http://127.0.0.1:9/v1alpha/models/gemini-3.8-flash:generateContent",
        ),
        (
            Endpoint.from_url(f"wss://proxy.example:8443/live?key={KEY}"),
            "https://proxy.example:8443/v1beta/models/gemini-3.8-flash:generateContent",
        ),
        (
            Endpoint.vertex(project="p", location="us-central1", token=lambda: "t"),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"
            "/publishers/google/models/gemini-3.8-flash:generateContent",
        ),
        (
            Endpoint.vertex(project="p", location="global", api_key=KEY),
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global"
            "/publishers/google/models/gemini-3.8-flash:generateContent",
        ),
    ],
)
def test_for_endpoint_derives_the_rest_url(endpoint: Endpoint, url: str) -> None:
    unbound = extractor()
    bound = unbound.for_endpoint(endpoint)
    assert bound is not unbound
    assert unbound.endpoint is None  # the original stays unbound
    assert bound.endpoint is endpoint
    assert bound.url == url
    assert KEY not in url
    assert KEY not in repr(bound)
    assert bound.for_endpoint(Endpoint.google_ai("other-key")) is bound  # its own wins


def test_a_vertex_model_resource_name_is_kept() -> None:
    endpoint = Endpoint.vertex(project="p", location="l", token=lambda: "t")
    name = "projects/q/locations/m/publishers/google/models/custom"
    assert rest_url(endpoint, name) == (
        f"https://l-aiplatform.googleapis.com/v1/{name}:generateContent"
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        Endpoint.ephemeral_token("auth_tokens/abc123secret"),
        Endpoint.ephemeral_token("auth_tokens/abc123secret", in_header=True),
        Endpoint.from_url("ws://127.0.0.1:9/?access_token=abc123secret"),
    ],
)
def test_an_ephemeral_token_cannot_be_bound(endpoint: Endpoint) -> None:
    with pytest.raises(ValueError, match="cannot") as caught:
        extractor().for_endpoint(endpoint)
    assert "abc123secret" not in str(caught.value)


def test_credentials_travel_in_headers() -> None:
    resolved = Endpoint.google_ai(KEY, key_in_query=True).resolve()
    assert rest_headers(resolved)["x-goog-api-key"] == KEY
    bearer = Endpoint.vertex(project="p", location="l", token=lambda: "ya29.t").resolve()
    assert rest_headers(bearer)["authorization"] == "Bearer ya29.t"
    assert rest_headers(bearer)["content-type"] == "application/json"


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('  ```json\n{"a": 1}\n```  ', '{"a": 1}'),
        ('```\n{"a": 1}\n```', '{"a": 1}'),
        ('```JSON {"a": 1}```', '{"a": 1}'),
        ("Sure:\n```json\n[1, 2]\n```\nAnything else?", "[1, 2]"),
        ('```json\n{"a": 1}', '{"a": 1}'),  # never closed
    ],
)
def test_strip_fences(text: str, body: str) -> None:
    assert strip_fences(text) == body


def test_answer_text_skips_thoughts_and_joins_parts() -> None:
    reply = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "plan", "thought": True}, {"text": '{"a"'}, {"text": ": 1}"}]
                },
                "finishReason": "STOP",
            }
        ]
    }
    assert answer_text(json.dumps(reply).encode()) == '{"a": 1}'


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (b"<html>", "invalid_response"),
        (b"[]", "invalid_response"),
        (b"{}", "refused"),
        (b'{"candidates": [{"finishReason": "SAFETY"}]}', "refused"),
    ],
)
def test_answer_text_problems(reply: bytes, kind: str) -> None:
    from livehandle._extract.gemini_rest import ResponseProblem

    with pytest.raises(ResponseProblem) as caught:
        answer_text(reply)
    assert caught.value.kind == kind


# -- retries ----------------------------------------------------------------------------------


def test_retry_delay_doubles_honours_the_server_and_is_bounded() -> None:
    assert [retry_delay(n, retry_after=None, backoff=0.5, max_backoff=3) for n in range(4)] == [
        0.5,
        1.0,
        2.0,
        3.0,
    ]
    assert retry_delay(0, retry_after=2.5, backoff=0.5, max_backoff=10) == 2.5
    assert retry_delay(2, retry_after=0.1, backoff=0.5, max_backoff=10) == 2.0
    assert retry_delay(0, retry_after=3600, backoff=0.5, max_backoff=10) == 10


def test_retry_after_reads_the_header_or_the_retry_info() -> None:
    assert retry_after("7", b"") == 7.0
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert retry_after(later, b"") == pytest.approx(60, abs=2)
    info = {
        "error": {
            "code": 429,
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"}],
        }
    }
    assert retry_after(None, json.dumps(info).encode()) == 23.0
    assert retry_after("soon", b"not json") is None


def _mock(llm: LlmExtractor, handler: object) -> None:
    llm._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


OK_BODY = {"candidates": [{"content": {"parts": [{"text": '{"name": "Ada", "party_size": 2}'}]}}]}


async def test_retry_after_is_honoured_on_trios_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(trio.current_time())
        if len(sent) == 1:
            return httpx.Response(429, headers={"retry-after": "4"}, json={"error": {}})
        return httpx.Response(200, json=OK_BODY)

    llm = extractor(Endpoint.google_ai(KEY), backoff=0.5, max_backoff=10)
    _mock(llm, handler)
    assert await llm.extract(WINDOW) == Booking("Ada", 2)
    await llm.aclose()
    assert sent[1] - sent[0] == pytest.approx(4.0)


async def test_timeout_on_trios_clock(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep(100)
        return httpx.Response(200, json=OK_BODY)

    llm = extractor(Endpoint.google_ai(KEY), timeout=2.5)
    _mock(llm, handler)
    start = trio.current_time()
    with pytest.raises(ExtractorRequestFailed) as caught:
        await llm.extract(WINDOW)
    await llm.aclose()
    assert caught.value.kind == "timeout"
    assert trio.current_time() - start == pytest.approx(2.5)


async def test_a_body_echoing_the_key_is_scrubbed(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-goog-api-key"] == KEY
        assert KEY not in str(request.url)
        return httpx.Response(400, json={"error": {"message": f"Invalid API key: {KEY}"}})

    llm = extractor(Endpoint.google_ai(KEY))
    _mock(llm, handler)
    with pytest.raises(ExtractorRequestFailed) as caught:
        await llm.extract(WINDOW)
    await llm.aclose()
    assert KEY not in str(caught.value)
    assert "Invalid API key: ***" in str(caught.value)
