from __future__ import annotations

import base64
import urllib.parse

import pytest

from livehandle._transport import Endpoint
from livehandle._transport.endpoints import is_secret_name, redact_query

KEY = "AIzaSy-test-key-0123456789"
GOOGLE_AI_PATH = "/ws/google.ai.generativelanguage.{}.GenerativeService.BidiGenerateContent"


@pytest.mark.parametrize("version", ["v1beta", "v1alpha"])
def test_google_ai_url_names_the_api_version(version):
    endpoint = Endpoint.google_ai(KEY, api_version=version)

    assert endpoint.url == "wss://generativelanguage.googleapis.com" + GOOGLE_AI_PATH.format(
        version
    )
    assert endpoint.backend == "google_ai"


def test_google_ai_default_version_is_v1beta():
    assert ".v1beta." in Endpoint.google_ai(KEY).url


def test_google_ai_sends_key_in_header_by_default():
    resolved = Endpoint.google_ai(KEY).resolve()

    assert resolved.headers == (("x-goog-api-key", KEY),)
    assert "?" not in resolved.url


def test_google_ai_key_in_query_puts_key_in_url_not_headers():
    resolved = Endpoint.google_ai(KEY, key_in_query=True).resolve()

    assert resolved.url.endswith(f"BidiGenerateContent?key={KEY}")
    assert resolved.headers == ()
    assert resolved.redacted_url.endswith("BidiGenerateContent?key=***")


def test_ephemeral_token_uses_constrained_method():
    endpoint = Endpoint.ephemeral_token("auth_tokens/abc")

    assert endpoint.url.endswith(".GenerativeService.BidiGenerateContentConstrained")
    assert ".v1alpha." in endpoint.url


def test_ephemeral_token_in_query_is_url_encoded():
    resolved = Endpoint.ephemeral_token("auth_tokens/abc").resolve()

    assert resolved.url.endswith("BidiGenerateContentConstrained?access_token=auth_tokens%2Fabc")
    assert resolved.headers == ()


def test_ephemeral_token_in_header_uses_token_scheme():
    resolved = Endpoint.ephemeral_token("auth_tokens/abc", in_header=True).resolve()

    assert resolved.headers == (("authorization", "Token auth_tokens/abc"),)
    assert "?" not in resolved.url


def test_ephemeral_token_is_scrubbed_even_without_its_scheme():
    resolved = Endpoint.ephemeral_token("auth_tokens/abc", in_header=True).resolve()

    scrubbed = resolved.scrub("bad token auth_tokens/abc (auth_tokens%2Fabc)")

    assert "auth_tokens" not in scrubbed


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
        ("global", "aiplatform.googleapis.com"),
    ],
)
def test_vertex_url_depends_on_location(location, host):
    endpoint = Endpoint.vertex(project="proj", location=location, token=lambda: "t")

    assert endpoint.url == (
        f"wss://{host}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )
    assert endpoint.backend == "vertex"


def test_vertex_calls_token_callable_on_every_resolve():
    tokens = iter(["first-token", "second-token"])
    endpoint = Endpoint.vertex(project="proj", location="global", token=lambda: next(tokens))

    first = endpoint.resolve()
    second = endpoint.resolve()

    assert first.headers == (("authorization", "Bearer first-token"),)
    assert second.headers == (("authorization", "Bearer second-token"),)
    assert "second-token" not in second.scrub("token second-token")


def test_vertex_empty_token_from_callable_is_rejected():
    endpoint = Endpoint.vertex(project="proj", location="global", token=lambda: "")

    with pytest.raises(ValueError, match="empty token"):
        endpoint.resolve()


def test_vertex_express_api_key_goes_in_header():
    resolved = Endpoint.vertex(project="proj", location="global", api_key=KEY).resolve()

    assert resolved.headers == (("x-goog-api-key", KEY),)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemini-live", "models/gemini-live"),
        ("models/gemini-live", "models/gemini-live"),
        ("tunedModels/mine", "tunedModels/mine"),
    ],
)
def test_google_ai_model_name(model, expected):
    assert Endpoint.google_ai(KEY).model_name(model) == expected


@pytest.mark.parametrize(
    "model",
    ["gemini-live", "models/gemini-live", "publishers/google/models/gemini-live"],
)
def test_vertex_model_name_is_full_resource_name(model):
    endpoint = Endpoint.vertex(project="proj", location="europe-west4", token=lambda: "t")

    assert endpoint.model_name(model) == (
        "projects/proj/locations/europe-west4/publishers/google/models/gemini-live"
    )


def test_vertex_model_name_keeps_qualified_names():
    endpoint = Endpoint.vertex(project="proj", location="global", token=lambda: "t")
    name = "projects/other/locations/us/publishers/google/models/m"

    assert endpoint.model_name(name) == name


def test_url_backend_model_name_uses_models_prefix():
    assert Endpoint.from_url("ws://127.0.0.1:1234").model_name("m") == "models/m"


def test_base_url_override_points_at_local_emulator():
    endpoint = Endpoint.google_ai(KEY, base_url="ws://127.0.0.1:1234")

    assert endpoint.url == "ws://127.0.0.1:1234" + GOOGLE_AI_PATH.format("v1beta")


def test_from_url_keeps_the_url_and_has_no_credentials():
    resolved = Endpoint.from_url("ws://127.0.0.1:1234/live?x=1").resolve()

    assert resolved.url == "ws://127.0.0.1:1234/live?x=1"
    assert resolved.headers == ()
    assert resolved.secrets == ()


def test_key_in_query_is_appended_to_existing_query():
    endpoint = Endpoint("ws://127.0.0.1:1234/live?x=1", "url", query_secrets=(("key", KEY),))

    assert endpoint.resolve().url == f"ws://127.0.0.1:1234/live?x=1&key={KEY}"
    assert endpoint.redacted_url == "ws://127.0.0.1:1234/live?x=1&key=***"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Endpoint.google_ai(""),
        lambda: Endpoint.ephemeral_token(""),
        lambda: Endpoint.google_ai(KEY, base_url="https://example.com"),
        lambda: Endpoint.from_url("http://127.0.0.1:1234"),
        lambda: Endpoint.vertex(project="proj", location="global"),
        lambda: Endpoint.vertex(project="proj", location="global", token=lambda: "t", api_key=KEY),
        lambda: Endpoint.vertex(project="", location="global", token=lambda: "t"),
    ],
    ids=[
        "empty-key",
        "empty-token",
        "bad-base-url-scheme",
        "bad-url-scheme",
        "vertex-without-token",
        "vertex-with-token-and-key",
        "vertex-without-project",
    ],
)
def test_bad_arguments_raise_value_error(make):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make()


@pytest.mark.parametrize("key_in_query", [False, True])
def test_api_key_never_shown(key_in_query):
    endpoint = Endpoint.google_ai(KEY, key_in_query=key_in_query)
    resolved = endpoint.resolve()

    for text in (repr(endpoint), str(endpoint), endpoint.redacted_url, repr(resolved)):
        assert KEY not in text
    assert "credentials=***" in repr(endpoint)


def test_vertex_bearer_token_never_shown():
    endpoint = Endpoint.vertex(project="proj", location="global", token=lambda: "ya29.secret")
    resolved = endpoint.resolve()

    for text in (repr(endpoint), endpoint.redacted_url, repr(resolved)):
        assert "ya29.secret" not in text
    assert "bearer=<callable>" in repr(endpoint)


def test_scrub_removes_plain_and_url_encoded_secrets():
    resolved = Endpoint.google_ai("k/ey+1", key_in_query=True).resolve()

    assert resolved.scrub("got k/ey+1 and k%2Fey%2B1") == "got *** and ***"


def test_a_key_pasted_into_a_url_is_sent_but_never_shown() -> None:
    endpoint = Endpoint.from_url("wss://proxy.example/live?key=AIzaSy-pasted-secret&alt=1")
    assert "pasted-secret" not in repr(endpoint)
    assert "pasted-secret" not in endpoint.redacted_url
    resolved = endpoint.resolve()
    assert "key=AIzaSy-pasted-secret" in resolved.url and "alt=1" in resolved.url
    assert "pasted-secret" not in resolved.scrub(f"failed: {resolved.url}")
    plain = Endpoint.from_url("ws://127.0.0.1:9/live?alt=1")
    assert plain.resolve().url == "ws://127.0.0.1:9/live?alt=1"


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("/ws/x?key=AIza-secret&alt=1", "/ws/x?key=***&alt=1"),
        ("/ws/x?alt=1&access_token=auth_tokens%2Fsecret", "/ws/x?alt=1&access_token=***"),
        ("wss://h/x?Token=s&API_KEY=s&alt=kept", "wss://h/x?Token=***&API_KEY=***&alt=kept"),
        ("wss://h/x?apiKey=s&X-Goog-Api-Key=s", "wss://h/x?apiKey=***&X-Goog-Api-Key=***"),
        ("ws://user:pw@h:9/x?a=1", "ws://***@h:9/x?a=1"),
        ("ws://tok@h/x", "ws://***@h/x"),
        ("/ws/x?%6Bey=secret", "/ws/x?%6Bey=***"),  # a percent-encoded name is still "key"
        ("/ws/x?key=a&key=b", "/ws/x?key=***&key=***"),
        ("/ws/x?key", "/ws/x?key"),  # no value, nothing to hide
        ("/ws/x?alt=1#key=secret", "/ws/x?alt=1"),
        ("/ws/x", "/ws/x"),
        ("/", "/"),
    ],
)
def test_redact_query_hides_credential_values_and_keeps_the_rest(target: str, shown: str) -> None:
    assert redact_query(target) == shown


def test_from_url_and_redact_query_treat_the_same_names_as_secrets() -> None:
    def hidden(url: str) -> set[str]:
        query = urllib.parse.urlsplit(url).query
        return {name for name, value in urllib.parse.parse_qsl(query) if value == "***"}

    url = "ws://127.0.0.1:9/live?key=a&access_token=b&token=c&api_key=d&alt=e"
    secrets = {"key", "access_token", "token", "api_key"}
    assert hidden(redact_query(url)) == hidden(Endpoint.from_url(url).redacted_url) == secrets


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "apiKey",
        "api_key",
        "API-KEY",
        "token",
        "access_token",
        "accessToken",
        "id_token",
        "auth",
        "Authorization",
        "Proxy-Authorization",
        "x-goog-api-key",
        "password",
        "client_secret",
        "sig",
        "X-Amz-Signature",
        "bearer",
        "session_token",
        "ephemeralToken",
    ],
)
def test_credential_like_names_are_secret_in_any_case(name: str) -> None:
    assert is_secret_name(name)
    assert is_secret_name(name.upper())
    assert redact_query(f"/x?{name}=SECRET-VALUE") == f"/x?{name}=***"


@pytest.mark.parametrize("name", ["alt", "model", "monkey", "keyboard", "v", "location"])
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_userinfo_is_sent_as_basic_auth_and_never_shown() -> None:
    endpoint = Endpoint.from_url("ws://someone:CANARY-pw-123@127.0.0.1:9/live?apiKey=CANARY-q-456")
    resolved = endpoint.resolve()

    assert endpoint.url == "ws://127.0.0.1:9/live"
    assert endpoint.redacted_url == "ws://***@127.0.0.1:9/live?apiKey=***"
    assert resolved.redacted_url == endpoint.redacted_url
    basic = base64.b64encode(b"someone:CANARY-pw-123").decode()
    assert resolved.headers == (("authorization", f"Basic {basic}"),)
    assert resolved.url == "ws://127.0.0.1:9/live?apiKey=CANARY-q-456"
    for shown in (repr(endpoint), repr(resolved), endpoint.redacted_url):
        assert "CANARY" not in shown and "someone" not in shown
    scrubbed = resolved.scrub(f"user someone pw CANARY-pw-123 basic {basic}")
    assert "someone" not in scrubbed and "CANARY" not in scrubbed and basic not in scrubbed


@pytest.mark.parametrize(
    "base_url",
    ["ws://u:CANARY-b@127.0.0.1:9", "ws://127.0.0.1:9/?key=CANARY-b", "http://h/?key=CANARY-b"],
)
def test_base_url_with_credentials_is_refused_without_showing_them(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        Endpoint.google_ai("k", base_url=base_url)
    assert "CANARY" not in str(info.value)


def test_from_url_error_never_shows_a_pasted_credential() -> None:
    with pytest.raises(ValueError, match="ws://") as info:
        Endpoint.from_url("127.0.0.1:9/live?key=CANARY-x")
    assert "CANARY" not in str(info.value)


@pytest.mark.parametrize("binary", [False, True])
def test_scrub_frame_replaces_long_credentials_and_keeps_clean_frames(binary: bool) -> None:
    resolved = Endpoint.google_ai("CANARY-frame-key-0123").resolve()
    clean = '{"serverContent":{"turnComplete":true}}'
    echo = '{"error":{"message":"API key CANARY-frame-key-0123 not valid"}}'
    encode = (lambda text: text.encode()) if binary else (lambda text: text)

    frame = encode(clean)
    assert resolved.scrub_frame(frame) is frame
    assert resolved.scrub_frame(encode(echo)) == encode(
        '{"error":{"message":"API key *** not valid"}}'
    )


def test_scrub_frame_leaves_short_credentials_alone() -> None:
    resolved = Endpoint.google_ai("k").resolve()
    frame = '{"usageMetadata":{"totalTokenCount":3}}'

    assert resolved.scrub_frame(frame) == frame
    assert resolved.scrub("bad k") == "bad ***"


@pytest.mark.parametrize("kept", [4, 10, 20])
def test_scrub_hides_a_credential_cut_off_at_the_end(kept: int) -> None:
    resolved = Endpoint.google_ai("CANARY-cut-key-0123456789").resolve()

    assert resolved.scrub("bad key CANARY-cut-key-0123456789"[: 8 + kept]) == "bad key ***"


def test_scrub_keeps_a_short_ending_that_only_looks_like_a_credential() -> None:
    resolved = Endpoint.google_ai("CANARY-cut-key-0123456789").resolve()

    assert resolved.scrub("ends with CAN") == "ends with CAN"
