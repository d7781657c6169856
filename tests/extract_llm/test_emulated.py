"""LlmExtractor against the emulator's generateContent, over a real loopback socket."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trio
import trio_websocket
import trustme

from livehandle import Endpoint, ExtractorRequestFailed
from livehandle._tools.schema import schema_for
from livehandle.testing import Extract, LiveEmulator, Scenario
from tests.extract_llm.helpers import KEY, REAL_TIME_LIMIT, WINDOW, Booking, emulated, extractor

BOOKING = {"name": "Ada", "party_size": 4, "when": "dinner"}


async def test_fills_an_attrs_class_and_sends_the_documented_request() -> None:
    async with emulated(Extract(reply=BOOKING)) as (emulator, endpoint):
        llm = extractor(endpoint)
        try:
            value = await llm.extract(WINDOW)
        finally:
            await llm.aclose()
    assert value == Booking("Ada", 4, "dinner")
    [request] = emulator.generate_requests
    assert request.status == 200
    assert request.path == "/v1beta/models/gemini-3.8-flash:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.path
    assert request.system_instruction == "Fill in the booking."
    assert request.text == (
        "Transcript:\n"
        "User: Hi, I'd like a table.\nAssistant: Sure, for how many people?\n\n"
        "User: Four of us, name is Ada, for dinner.\nAssistant: Great, booking that now.\n\n"
        "Extract the requested information."
    )
    assert request.generation_config["responseMimeType"] == "application/json"
    assert request.response_schema == schema_for(Booking)


async def test_without_a_schema_the_json_value_is_returned() -> None:
    async with emulated(Extract(reply={"mood": "happy", "score": 3})) as (emulator, endpoint):
        llm = extractor(endpoint, schema=None)
        value = await llm.extract(WINDOW)
        await llm.aclose()
    assert value == {"mood": "happy", "score": 3}
    assert "responseSchema" not in emulator.generate_requests[0].generation_config


@pytest.mark.parametrize(
    "text", ["```json\n{json}\n```", "```\n{json}\n```", "Here: ```JSON {json}```"]
)
async def test_fenced_answers_are_unwrapped(text: str) -> None:
    import json

    answer = text.format(json=json.dumps(BOOKING))
    async with emulated(Extract(text=answer)) as (_, endpoint):
        llm = extractor(endpoint)
        value = await llm.extract(WINDOW)
        await llm.aclose()
    assert value == Booking("Ada", 4, "dinner")


async def test_the_emulator_fences_on_request() -> None:
    async with emulated(Extract(reply=BOOKING, fenced=True)) as (_, endpoint):
        llm = extractor(endpoint)
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        await llm.aclose()


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (Extract(block_reason="SAFETY"), "the prompt was blocked (SAFETY)"),
        (Extract(finish_reason="RECITATION"), "finishReason RECITATION"),
        (Extract(text="  "), "the model returned no text"),
    ],
)
async def test_a_refusal_is_a_typed_error(rule: Extract, said: str) -> None:
    async with emulated(rule) as (_, endpoint):
        llm = extractor(endpoint)
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
    assert caught.value.kind == "refused"
    assert caught.value.extractor == "booking"
    assert said in str(caught.value)


async def test_429_is_retried_then_succeeds() -> None:
    rules = (Extract(status=429, times=2), Extract(reply=BOOKING))
    async with emulated(*rules) as (emulator, endpoint):
        llm = extractor(endpoint, backoff=0.001, max_backoff=0.01)
        value = await llm.extract(WINDOW)
        await llm.aclose()
    assert value == Booking("Ada", 4, "dinner")
    assert [request.status for request in emulator.generate_requests] == [429, 429, 200]


async def test_503_retries_are_bounded() -> None:
    async with emulated(Extract(status=503)) as (emulator, endpoint):
        llm = extractor(endpoint, max_retries=1, backoff=0.001, max_backoff=0.01)
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
    assert len(emulator.generate_requests) == 2
    assert caught.value.kind == "status"
    assert caught.value.status_code == 503
    assert "after 2 attempts" in str(caught.value)
    assert "UNAVAILABLE" in str(caught.value)


async def test_other_http_errors_are_not_retried() -> None:
    async with emulated(Extract(status=500)) as (emulator, endpoint):
        llm = extractor(endpoint, backoff=0.001)
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
    assert len(emulator.generate_requests) == 1
    assert caught.value.status_code == 500


async def test_a_slow_answer_times_out() -> None:
    async with emulated(Extract(reply=BOOKING, delay=30)) as (_, endpoint):
        llm = extractor(endpoint, timeout=0.2)
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
    assert caught.value.kind == "timeout"
    assert "0.2 s" in str(caught.value)


async def test_unparsable_and_ill_fitting_answers() -> None:
    rules = (Extract(when="first", text="{not json"), Extract(reply={"name": 5, "party_size": 2}))
    async with emulated(*rules) as (_, endpoint):
        llm = extractor(endpoint, prompt="first")
        with pytest.raises(ExtractorRequestFailed) as unparsable:
            await llm.extract(WINDOW)
        await llm.aclose()
        other = extractor(endpoint, prompt="second")
        with pytest.raises(ExtractorRequestFailed) as mismatch:
            await other.extract(WINDOW)
        await other.aclose()
    assert unparsable.value.kind == "unparsable"
    assert "{not json" in str(unparsable.value)
    assert mismatch.value.kind == "mismatch"
    assert "Booking" in str(mismatch.value)
    assert ".name" in str(mismatch.value)


async def test_rules_match_on_the_request_text_and_count_their_uses() -> None:
    rules = (
        Extract(when="cancel", reply={"name": None, "party_size": None}),
        Extract(when="dinner", reply=BOOKING, times=1),
    )
    async with emulated(*rules) as (emulator, endpoint):
        llm = extractor(endpoint)
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        with pytest.raises(ExtractorRequestFailed) as caught:  # the dinner rule is used up
            await llm.extract(WINDOW)
        assert await llm.extract([WINDOW[0].__class__(3, "Cancel it.", "")]) == Booking(None, None)
        await llm.aclose()
    assert caught.value.status_code == 400
    assert "no Extract rule" in str(caught.value)
    assert [request.status for request in emulator.generate_requests] == [200, 400, 200]


async def test_the_key_never_appears_in_errors() -> None:
    async with emulated(Extract(text=f"sure! your key is {KEY}")) as (_, endpoint):
        llm = extractor(endpoint)
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
    assert KEY not in str(caught.value)
    assert KEY[:12] not in str(caught.value)
    assert "***" in str(caught.value)
    assert KEY not in repr(llm)


async def test_a_wrong_key_is_refused_like_the_real_service() -> None:
    async with emulated(Extract(reply=BOOKING)) as (emulator, _):
        wrong = "AIzaSy-wrong-key-9876543210zyxwvu"
        llm = extractor(Endpoint.google_ai(wrong, base_url=emulator.url))
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
        async with httpx.AsyncClient() as client:
            url = f"http://{emulator.url.removeprefix('ws://')}/v1beta/models/m:generateContent"
            keyless = await client.post(url, json={"contents": [{"parts": [{"text": "x"}]}]})
    assert caught.value.status_code == 400
    assert "API key not valid" in str(caught.value)
    assert wrong not in str(caught.value)
    assert keyless.status_code == 403
    assert keyless.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_a_key_given_in_the_query_is_sent_in_a_header() -> None:
    async with emulated(Extract(reply=BOOKING)) as (emulator, _):
        endpoint = Endpoint.google_ai(KEY, base_url=emulator.url, key_in_query=True)
        llm = extractor(endpoint)
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        await llm.aclose()
    [request] = emulator.generate_requests
    assert request.headers["x-goog-api-key"] == KEY
    assert "key=" not in request.path


async def test_vertex_through_the_emulator() -> None:
    emulator = LiveEmulator(
        Scenario(extractions=[Extract(reply=BOOKING)]), bearer_tokens={"ya29.good-token"}
    )
    with trio.fail_after(REAL_TIME_LIMIT):
        async with emulator.running():
            good = Endpoint.vertex(
                project="p1", location="europe-west4", token=lambda: "ya29.good-token",
                base_url=emulator.url,
            )  # fmt: skip
            bad = Endpoint.vertex(
                project="p1", location="europe-west4", token=lambda: "ya29.bad-token",
                base_url=emulator.url,
            )  # fmt: skip
            llm = extractor(good)
            assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
            await llm.aclose()
            refused = extractor(bad)
            with pytest.raises(ExtractorRequestFailed) as caught:
                await refused.extract(WINDOW)
            await refused.aclose()
    first = emulator.generate_requests[0]
    assert first.backend == "vertex"
    assert first.path == (
        "/v1/projects/p1/locations/europe-west4/publishers/google/models/gemini-3.8-flash"
        ":generateContent"
    )
    assert first.headers["authorization"] == "Bearer ya29.good-token"
    assert caught.value.status_code == 401
    assert "ya29.bad-token" not in str(caught.value)


async def test_bad_requests_are_refused_with_the_parsers_message() -> None:
    async with emulated(Extract(reply=BOOKING)) as (emulator, _):
        base = f"http://{emulator.url.removeprefix('ws://')}"
        headers = {"x-goog-api-key": KEY}
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            path = "/v1beta/models/m:generateContent"
            unknown = await client.post(path, json={"contents": [{}], "bogus": 1})
            empty = await client.post(path, json={"contents": []})
            garbage = await client.post(path, content=b"{")
    assert unknown.status_code == 400
    assert 'Unknown name "bogus"' in unknown.json()["error"]["message"]
    assert empty.status_code == 400
    assert "contents is not specified" in empty.json()["error"]["message"]
    assert garbage.status_code == 400
    assert [request.status for request in emulator.generate_requests] == [400, 400, 400]


async def test_websocket_and_rest_share_the_port() -> None:
    async with emulated(Extract(reply=BOOKING)) as (emulator, endpoint):
        llm = extractor(endpoint)
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        async with trio_websocket.open_websocket_url(
            f"{emulator.url}/", extra_headers=[("x-goog-api-key", KEY)]
        ) as ws:
            assert not ws.closed
        # the extractor's kept-alive connection still answers after the WebSocket came and went
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        await llm.aclose()
    assert len(emulator.connections) == 1
    assert len(emulator.generate_requests) == 2


async def test_aclose_then_use_again_opens_a_new_client() -> None:
    async with emulated(Extract(reply=BOOKING)) as (_, endpoint):
        llm = extractor(endpoint)
        await llm.aclose()  # nothing to close yet
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        await llm.aclose()
        assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
        await llm.aclose()


async def test_a_refused_connection_is_a_transport_error() -> None:
    with trio.fail_after(REAL_TIME_LIMIT):
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        await listener.aclose()  # nothing listens there now
        llm = extractor(Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}"))
        with pytest.raises(ExtractorRequestFailed) as caught:
            await llm.extract(WINDOW)
        await llm.aclose()
    assert caught.value.kind == "transport"
    assert KEY not in str(caught.value)


async def test_https_from_a_wss_endpoint_with_its_tls_context() -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    emulator = LiveEmulator(
        Scenario(extractions=[Extract(reply=BOOKING)]), api_key=KEY, ssl_context=server
    )
    with trio.fail_after(REAL_TIME_LIMIT):
        async with emulator.running():
            assert emulator.url.startswith("wss://")
            endpoint = Endpoint.google_ai(KEY, base_url=emulator.url, ssl_context=client)
            llm = extractor(endpoint)
            assert llm.for_endpoint(endpoint) is llm
            assert llm.url is not None and llm.url.startswith("https://127.0.0.1:")
            assert await llm.extract(WINDOW) == Booking("Ada", 4, "dinner")
            await llm.aclose()
            untrusting = extractor(Endpoint.google_ai(KEY, base_url=emulator.url))
            with pytest.raises(ExtractorRequestFailed) as caught:
                await untrusting.extract(WINDOW)
            await untrusting.aclose()
    assert caught.value.kind == "transport"
    assert len(emulator.generate_requests) == 1


def test_httpx_runs_under_a_plain_trio_run() -> None:
    """No pytest-trio: ``trio.run`` itself, and httpcore's Trio backend (not asyncio's)."""
    seen: list[object] = []

    async def main() -> object:
        import sniffio

        seen.append(sniffio.current_async_library())
        async with emulated(Extract(reply=BOOKING)) as (_, endpoint):
            llm = extractor(endpoint)
            try:
                return await llm.extract(WINDOW)
            finally:
                await llm.aclose()

    assert trio.run(main) == Booking("Ada", 4, "dinner")
    assert seen == ["trio"]
