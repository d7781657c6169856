"""Scrubbing echoes of credentials: every form a server may write them in, and what is kept."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, strategies as st

from livehandle._transport import Endpoint
from livehandle._transport.endpoints import is_secret_name
from livehandle._transport.scrub import Scrubber, looks_like_credential

KEY = "AIzaSyCANARY-scrub-key-0123456789ab"
TOKEN_ID = "CANARY-token-id-7f3e91"


def key_endpoint() -> Endpoint:
    return Endpoint.google_ai(KEY, base_url="ws://scrub.invalid")


# -- JSON escapes --------------------------------------------------------------------------------


def json_escaped(text: str, *, upper: bool = False) -> str:
    """Every character of ``text`` as a ``\\uXXXX`` escape."""
    return "".join(f"\\u{ord(ch):04X}" if upper else f"\\u{ord(ch):04x}" for ch in text)


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("upper", [False, True])
def test_scrub_frame_finds_a_key_written_with_json_escapes(binary: bool, upper: bool) -> None:
    resolved = key_endpoint().resolve()
    echo = KEY[:5] + json_escaped(KEY[5:12], upper=upper) + KEY[12:]
    frame = '{"error":{"message":"bad key ' + echo + ' here"}}'
    data: str | bytes = frame.encode() if binary else frame

    scrubbed = resolved.scrub_frame(data)

    expected = '{"error":{"message":"bad key *** here"}}'
    assert scrubbed == (expected.encode() if binary else expected)


def test_scrub_frame_finds_a_token_with_an_escaped_slash() -> None:
    token = "auth_tokens/" + TOKEN_ID
    resolved = Endpoint.ephemeral_token(token, base_url="ws://scrub.invalid").resolve()
    frame = (
        '{"error":{"message":"token auth_tokens\\/'
        + TOKEN_ID[:6]
        + "\\u002d"
        + TOKEN_ID[7:]
        + '"}}'
    )

    scrubbed = resolved.scrub_frame(frame)

    assert isinstance(scrubbed, str)
    assert "CANARY" not in scrubbed and "7f3e91" not in scrubbed


@pytest.mark.parametrize("binary", [False, True])
def test_a_frame_with_escapes_but_no_credential_is_the_same_object(binary: bool) -> None:
    resolved = key_endpoint().resolve()
    frame = '{"serverContent":{"outputTranscription":{"text":"caf\\u00e9 \\u003d ok"}}}'
    data: str | bytes = frame.encode() if binary else frame

    assert resolved.scrub_frame(data) is data


def test_scrub_finds_a_json_escaped_key_in_an_http_body() -> None:
    resolved = key_endpoint().resolve()
    body = '{"error":{"message":"API key not valid: key\\u003d' + json_escaped(KEY) + '"}}'

    assert resolved.scrub(body) == '{"error":{"message":"API key not valid: key\\u003d***"}}'


# -- URL encoding and base64 ---------------------------------------------------------------------


def test_lower_case_percent_encoding_is_scrubbed_from_texts_and_frames() -> None:
    token = "auth_tokens/" + TOKEN_ID
    resolved = Endpoint.ephemeral_token(token, base_url="ws://scrub.invalid").resolve()
    echo = "auth_tokens%2f" + TOKEN_ID

    assert resolved.scrub(f"bad token {echo}.") == "bad token ***."
    assert resolved.scrub_frame(f'{{"error":"{echo}"}}') == '{"error":"***"}'


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda raw: base64.b64encode(raw).rstrip(b"="),
        lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"="),
    ],
)
def test_every_base64_form_of_a_key_is_scrubbed_from_texts(encode: object) -> None:
    resolved = Endpoint.google_ai("CANARY?>>key~~0123").resolve()  # both alphabets differ here
    echoed = encode(b"CANARY?>>key~~0123").decode()  # type: ignore[operator]

    assert resolved.scrub(f"credential {echoed} rejected") == "credential *** rejected"


def test_a_short_secret_has_no_base64_form() -> None:
    # base64 of a short secret is a short, common-looking string: scrubbing it would mangle text
    scrubber = Scrubber(["k"])
    assert scrubber.text("aw== is not the secret") == "aw== is not the secret"


# -- shortened echoes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("API key {}... is not valid", "API key ***... is not valid"),
        ("API key {}\u2026 is not valid", "API key ***\u2026 is not valid"),
        ("API key {} is not valid", "API key *** is not valid"),
        ("key={}&alt=1", "key=***&alt=1"),
        ("({})", "(***)"),
    ],
)
def test_a_shortened_key_in_mid_text_is_scrubbed(template: str, shown: str) -> None:
    resolved = key_endpoint().resolve()
    for kept in (8, 15, len(KEY) - 1):
        assert resolved.scrub(template.format(KEY[:kept])) == shown


def test_a_different_token_sharing_a_start_with_the_key_is_kept() -> None:
    resolved = key_endpoint().resolve()
    other = KEY[:10] + "Zother"  # goes on with token characters: another token, not an echo
    assert resolved.scrub(f"model {other} loaded") == f"model {other} loaded"


def test_fewer_than_eight_leading_characters_in_mid_text_are_kept() -> None:
    resolved = key_endpoint().resolve()
    assert resolved.scrub(f"prefix {KEY[:7]}... only") == f"prefix {KEY[:7]}... only"


# -- the ephemeral token's id --------------------------------------------------------------------


@pytest.mark.parametrize("in_header", [False, True])
def test_the_id_of_an_ephemeral_token_is_a_secret(in_header: bool) -> None:
    endpoint = Endpoint.ephemeral_token(
        "auth_tokens/" + TOKEN_ID, in_header=in_header, base_url="ws://scrub.invalid"
    )
    resolved = endpoint.resolve()

    assert TOKEN_ID in resolved.secrets
    assert resolved.scrub(f"Token {TOKEN_ID} has expired.") == "Token *** has expired."
    assert endpoint.scrub_content(f"echo {TOKEN_ID}") == "echo ***"


def test_a_pasted_access_token_id_is_a_secret_too() -> None:
    endpoint = Endpoint.from_url(f"ws://proxy.invalid/live?access_token=auth_tokens/{TOKEN_ID}")
    assert TOKEN_ID in endpoint.resolve().secrets


# -- word-like secrets in frames -----------------------------------------------------------------


def test_a_word_like_user_name_is_scrubbed_from_texts_but_not_from_model_output() -> None:
    endpoint = Endpoint.from_url("ws://customer:Pa55-CANARY-word@proxy.invalid/live")
    resolved = endpoint.resolve()
    frame = '{"serverContent":{"outputTranscription":{"text":"Dear customer, hello"}}}'

    assert resolved.scrub_frame(frame) is frame  # model text is not corrupted
    assert endpoint.scrub_content("Dear customer") == "Dear customer"
    assert resolved.scrub("login of customer refused") == "login of *** refused"
    # the password looks like a credential: scrubbed everywhere
    assert resolved.scrub_frame('{"x":"Pa55-CANARY-word"}') == '{"x":"***"}'
    assert endpoint.scrub_content("it is Pa55-CANARY-word") == "it is ***"


@pytest.mark.parametrize(
    ("secret", "credential"),
    [
        ("customer", False),  # a word
        ("Pa55word", True),  # 8 characters with digits
        ("short-1", False),  # under 8 characters
        ("internationalization", True),  # 20 letters: no longer taken for a word
        ("characterizations", False),
        (KEY, True),
    ],
)
def test_looks_like_credential(secret: str, credential: bool) -> None:
    assert looks_like_credential(secret) is credential


# -- content joined from fragments ---------------------------------------------------------------


def test_scrub_content_hides_the_bearer_tokens_of_recent_connections() -> None:
    tokens = iter(["ya29.CANARY-bearer-1", "ya29.CANARY-bearer-2"])
    endpoint = Endpoint.vertex(project="p", location="l", token=lambda: next(tokens))
    endpoint.resolve()
    endpoint.resolve()

    joined = endpoint.scrub_content("a ya29.CANARY-bearer-1 b ya29.CANARY-bearer-2 c")

    assert joined == "a *** b *** c"


def test_scrub_content_leaves_text_without_credentials_unchanged() -> None:
    text = "Hello, how can I help?"
    assert key_endpoint().scrub_content(text) is text


# -- credential names and URL fragments ----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "access_key",
        "ACCESS_KEY",
        "accesskey",
        "SESSIONKEY",
        "Ocp-Apim-Subscription-Key",
        "X_API_KEY",
        "clientKey",
        "signing.key",
        "key2Key",
    ],
)
def test_names_ending_in_a_key_word_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["monkey", "MONKEY", "Turkey", "hockey", "whiskey", "keyboard"])
def test_words_ending_in_key_letters_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_a_url_fragment_is_neither_sent_nor_shown() -> None:
    endpoint = Endpoint.from_url("ws://proxy.invalid/live?alt=1#token=CANARY-frag")

    assert endpoint.url == "ws://proxy.invalid/live?alt=1"
    assert endpoint.resolve().url == "ws://proxy.invalid/live?alt=1"
    assert "CANARY" not in repr(endpoint) and "#" not in endpoint.redacted_url


def test_a_url_without_fragment_or_credentials_is_kept_as_written() -> None:
    url = "ws://127.0.0.1:9/live?alt=1"
    assert Endpoint.from_url(url).url == url


@given(
    secret=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=8, max_size=24
    ).filter(looks_like_credential),
    before=st.text(max_size=8),
    after=st.text(max_size=8),
    ascii_only=st.booleans(),
)
def test_a_scrubbed_frame_is_still_the_json_it_was_without_the_secret(
    secret: str, before: str, after: str, ascii_only: bool
) -> None:
    frame = json.dumps({"text": before + secret + after}, ensure_ascii=ascii_only)
    scrubbed = Scrubber([secret]).frame(frame)
    assert isinstance(scrubbed, str)
    text = json.loads(scrubbed)["text"]  # still valid JSON
    assert secret not in text
    raw = Scrubber([secret]).frame(frame.encode())
    assert isinstance(raw, bytes) and secret not in json.loads(raw)["text"]


def test_a_secret_starting_with_an_escape_letter_right_after_an_escape_keeps_the_escape() -> None:
    secret = "nabc1234XYZ"
    frame = json.dumps({"text": "line\n" + secret})  # "line\\nnabc1234XYZ"
    assert json.loads(Scrubber([secret]).frame(frame)) == {"text": "line\n***"}
    plain = json.dumps({"text": "x" + "\\" + "nabc1234XYZ"})  # an escaped backslash, then it
    assert json.loads(Scrubber([secret]).frame(plain)) == {"text": "x\\***"}


def test_endpoints_with_the_same_credentials_share_one_scrubber_while_in_use() -> None:
    import gc

    from livehandle._transport import scrub

    first = Endpoint.google_ai("AIzaSy-shared-key-123456", base_url="ws://scrub.invalid")
    second = Endpoint.google_ai("AIzaSy-shared-key-123456", base_url="ws://scrub.invalid")
    other = Endpoint.google_ai("AIzaSy-another-key-654321", base_url="ws://scrub.invalid")
    resolved = first.resolve()

    assert first._static is second._static is resolved._scrubber
    assert other._static is not first._static
    assert resolved.scrub("key=AIzaSy-shared-key-123456") == "key=***"
    assert other.resolve().scrub("AIzaSy-shared-key-123456") == "AIzaSy-shared-key-123456"

    key = first._static.secrets
    del first, second, resolved
    gc.collect()
    assert key not in scrub._SHARED  # gone with the last endpoint that used it
