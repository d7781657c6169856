"""LlmExtractor: a turn extractor that asks Gemini's ``generateContent`` to fill a schema.

The request is one REST call per extraction (``POST .../models/{model}:generateContent``) made
with ``httpx.AsyncClient``, which runs on Trio (httpcore picks its Trio network backend when it
finds itself under ``trio.run``).  httpx is the optional ``llm`` extra
(``pip install 'livehandle[llm]'``): only applications that use this class pay for it.

What is sent: the transcript window as the user's text (``User: ...`` / ``Assistant: ...``
lines), the extractor's prompt as the system instruction, ``responseMimeType:
application/json``, and the schema derived from the ``schema`` class by the tool-schema generator
(the Live API's OpenAPI subset, which ``responseSchema`` takes on both backends).

What comes back is parsed strictly: fences stripped, JSON parsed, then structured into the
``schema`` class by the package's one converter.  Every failure (a refusal, an HTTP error, a
timeout, an unparsable or ill-fitting answer) raises
:class:`~livehandle.ExtractorRequestFailed`; the credential never appears in it, in a log or in a
repr: it travels in a header, never in the URL, and text echoed by the server is scrubbed.
"""

from __future__ import annotations

import importlib
import json
import math
from typing import TYPE_CHECKING, Any, Final

import trio

from livehandle._convert import StructureError, structure, type_name
from livehandle._errors import ExtractorRequestFailed
from livehandle._extract.gemini_rest import (
    RETRIED_STATUSES,
    ResponseProblem,
    answer_text,
    cut,
    error_message,
    rest_headers,
    rest_url,
    retry_after,
    retry_delay,
    strip_fences,
)
from livehandle._extract.protocol import ExtractionTrigger
from livehandle._logs import library_logger
from livehandle._tools.schema import schema_for
from livehandle._transport.endpoints import Endpoint

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import httpx

    from livehandle._extract.turns import TranscriptTurn
    from livehandle._transport.endpoints import ResolvedEndpoint

CLOSE_TIMEOUT = 1.0  # seconds aclose() may take

__all__ = ["DEFAULT_EXTRACTOR_MODEL", "LlmExtractor"]

log = library_logger("livehandle.extract")

#: The model an :class:`LlmExtractor` asks unless told otherwise: a stable Flash text model.
DEFAULT_EXTRACTOR_MODEL: Final = "gemini-3.8-flash"

_MISSING_HTTPX = (
    "LlmExtractor needs the httpx package, which is not installed: pip install 'livehandle[llm]'"
)
_MAX_RETRIES = 10


def _require_httpx() -> Any:
    try:
        return importlib.import_module("httpx")
    except ImportError:
        raise ImportError(_MISSING_HTTPX) from None


def _positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(name: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number of seconds above 0, got {value!r}")
    return seconds


class LlmExtractor:
    """A turn extractor that asks Gemini (``generateContent``) to fill a schema from the transcript.

    ::

        @attrs.frozen
        class Intent:
            goal: Literal["book", "cancel", "ask"]
            confident: bool

        config = LiveConfig(extractors=[LlmExtractor("intent", prompt=PROMPT, schema=Intent)])

    In a session the runtime binds it to the session's endpoint (:meth:`for_endpoint`: same
    host and credentials, REST instead of WebSocket) and closes it at the end (:meth:`aclose`);
    give ``endpoint`` to call another one.  Each extraction is one ``generateContent`` request,
    retried on HTTP 429 and 503 with exponential backoff (``Retry-After`` and the error's
    ``RetryInfo`` honoured, every wait at most ``max_backoff``), and bounded by ``timeout`` per
    attempt.  The answer is parsed strictly: fences stripped, JSON parsed, then structured into
    ``schema`` (or returned as the JSON value when there is none).

    Args:
        name: the extractor's name, the state key its result is stored under.
        prompt: what to extract and how: the system instruction of every request.
        schema: an attrs class or dataclass (or any type the tool-schema generator supports);
            the JSON schema sent with the request is derived from it, and the answer is
            structured into it.  None: any JSON value, returned as it is.
        window: how many of the last completed turns are sent.
        trigger: when it runs (default: every turn).
        promotions: promotion rules, stored as given (as a tuple) for the runtime to apply.
        model: the text model to ask.
        min_words: skip the extraction when the newest non-empty user text in the window has
            fewer words (0: never skip).
        timeout: seconds each attempt may take, connecting and reading included.
        max_retries: further attempts after a 429 or 503 (at most 10).
        backoff: the first wait before a retry, doubled for each later one.
        max_backoff: the longest wait before a retry, whatever ``Retry-After`` asks.
        endpoint: where to send requests; None until the session binds one.

    Raises:
        ImportError: httpx is not installed (``pip install 'livehandle[llm]'``).
        TypeError: an argument of the wrong type, or a schema the generator cannot describe.
        ValueError: an empty name or prompt, or a number out of range.
    """

    def __init__(
        self,
        name: str,
        *,
        prompt: str,
        schema: object = None,
        window: int = 3,
        trigger: ExtractionTrigger = ExtractionTrigger.EVERY_TURN,
        promotions: Iterable[object] = (),
        model: str = DEFAULT_EXTRACTOR_MODEL,
        min_words: int = 0,
        timeout: float = 15.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        endpoint: Endpoint | None = None,
    ) -> None:
        self._httpx = _require_httpx()
        for label, text in (("name", name), ("prompt", prompt), ("model", model)):
            if not isinstance(text, str):
                raise TypeError(f"{label} must be a str, got {type(text).__name__}")
            if not text.strip():
                raise ValueError(f"{label} must not be empty")
        if not isinstance(trigger, ExtractionTrigger):
            raise TypeError(f"trigger must be an ExtractionTrigger, got {type(trigger).__name__}")
        if endpoint is not None and not isinstance(endpoint, Endpoint):
            raise TypeError(f"endpoint must be an Endpoint, got {type(endpoint).__name__}")
        self._name = name
        self._prompt = prompt
        self._schema = schema
        self._json_schema = None if schema is None else schema_for(schema)
        self._window = _positive_int("window", window, 1)
        self._trigger = trigger
        self._promotions = tuple(promotions)
        self._model = model.removeprefix("models/")
        self._min_words = _positive_int("min_words", min_words, 0)
        self._timeout = _seconds("timeout", timeout, allow_zero=False)
        self._max_retries = _positive_int("max_retries", max_retries, 0)
        if self._max_retries > _MAX_RETRIES:
            raise ValueError(f"max_retries must be at most {_MAX_RETRIES}, got {max_retries}")
        self._backoff = _seconds("backoff", backoff, allow_zero=True)
        self._max_backoff = _seconds("max_backoff", max_backoff, allow_zero=True)
        self._endpoint: Endpoint | None = None
        self._url: str | None = None
        self._client: httpx.AsyncClient | None = None
        if endpoint is not None:
            self._bind(endpoint)

    # -- the TurnExtractor protocol ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The extractor's name: the state key its result is stored under."""
        return self._name

    @property
    def window(self) -> int:
        """How many of the last completed turns are sent."""
        return self._window

    @property
    def trigger(self) -> ExtractionTrigger:
        """When it runs."""
        return self._trigger

    @property
    def promotions(self) -> tuple[object, ...]:
        """The promotion rules, as given."""
        return self._promotions

    @property
    def prompt(self) -> str:
        """The system instruction of every request."""
        return self._prompt

    @property
    def schema(self) -> object:
        """The class the answer is structured into (None: any JSON value)."""
        return self._schema

    @property
    def timeout(self) -> float:
        """The most one extraction may take: every attempt and every wait between them.

        The session bounds the extractor by it (each attempt is bounded by the ``timeout``
        given when it was made, each wait by ``max_backoff``).
        """
        attempts = self._max_retries + 1
        return attempts * self._timeout + self._max_retries * self._max_backoff

    @property
    def result_type(self) -> object:
        """The type results come back as (:attr:`schema`; None: plain JSON values).

        The session reads it so that ``handle.extracted(name)`` answers with this type.
        """
        return self._schema

    @property
    def model(self) -> str:
        """The model asked (without the ``models/`` prefix)."""
        return self._model

    @property
    def endpoint(self) -> Endpoint | None:
        """Where requests go; None until bound."""
        return self._endpoint

    @property
    def url(self) -> str | None:
        """The ``generateContent`` URL requests are posted to (it holds no credential)."""
        return self._url

    def should_extract(self, window: Sequence[TranscriptTurn]) -> bool:
        """False for an empty window, or when the user's newest words are fewer than min_words."""
        if not window:
            return False
        if self._min_words == 0:
            return True
        for turn in reversed(window):
            if turn.user.strip():
                return len(turn.user.split()) >= self._min_words
        return False

    async def extract(self, window: Sequence[TranscriptTurn]) -> object:
        """Ask the model to fill the schema from ``window``; the structured answer.

        Raises:
            ExtractorRequestFailed: no endpoint, an HTTP error (after the retries), a timeout, a
                refusal, or an answer that is not JSON or does not fit the schema.
        """
        payload = self.request_body(window)
        text = await self._generate(payload)
        return self._parse(text)

    # -- binding and closing -----------------------------------------------------------------

    def for_endpoint(self, endpoint: Endpoint) -> LlmExtractor:
        """A copy that sends its requests to ``endpoint`` (REST, with the same credentials).

        The runtime calls this with the session's endpoint.  An extractor given ``endpoint=``
        when it was made keeps its own: this returns it unchanged.  ``ws://host:port/...``
        becomes ``http://host:port``, ``wss://`` ``https://``; Vertex endpoints post to
        ``/v1/projects/{project}/locations/{location}/publishers/google/models/{model}``.

        Raises:
            ValueError: ``endpoint`` authenticates with an ephemeral token (or another
                credential in its URL that is not an API key), which ``generateContent`` does
                not accept.
        """
        if self._endpoint is not None:
            return self
        copy = object.__new__(LlmExtractor)
        copy.__dict__.update(self.__dict__)
        copy._client = None
        copy._bind(endpoint)
        return copy

    def _bind(self, endpoint: Endpoint) -> None:
        if not isinstance(endpoint, Endpoint):
            raise TypeError(f"endpoint must be an Endpoint, got {type(endpoint).__name__}")
        self._url = rest_url(endpoint, self._model)
        self._endpoint = endpoint

    async def aclose(self) -> None:
        """Close the HTTP client (made on first use); the extractor can be used again after.

        Shielded from cancellation, and bounded (:data:`CLOSE_TIMEOUT` seconds at most).
        """
        client, self._client = self._client, None
        if client is not None:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_TIMEOUT):
                await client.aclose()

    def __repr__(self) -> str:
        schema = type_name(self._schema)
        where = "unbound" if self._endpoint is None else repr(self._endpoint)
        return (
            f"LlmExtractor({self._name!r}, model={self._model!r}, window={self._window}, "
            f"schema={schema}, endpoint={where})"
        )

    # -- the request -------------------------------------------------------------------------

    def request_body(self, window: Sequence[TranscriptTurn]) -> dict[str, Any]:
        """The JSON body of the ``generateContent`` request for ``window``."""
        lines = []
        for turn in window:
            if turn.user.strip():
                lines.append(f"User: {turn.user.strip()}")
            if turn.model.strip():
                lines.append(f"Assistant: {turn.model.strip()}")
            lines.append("")
        transcript = "\n".join(lines)
        text = f"Transcript:\n{transcript}\nExtract the requested information."
        config: dict[str, Any] = {"responseMimeType": "application/json"}
        if self._json_schema is not None:
            config["responseSchema"] = self._json_schema
        return {
            "systemInstruction": {"parts": [{"text": self._prompt}]},
            "contents": [{"role": "user", "parts": [{"text": text}]}],
            "generationConfig": config,
        }

    def _fail(
        self, kind: str, detail: str, resolved: ResolvedEndpoint | None, status: int | None = None
    ) -> ExtractorRequestFailed:
        endpoint = self._endpoint
        if resolved is not None:
            detail = resolved.scrub(detail)
        elif endpoint is not None:
            detail = endpoint.scrub_content(detail)
        return ExtractorRequestFailed(self._name, kind, detail, status_code=status)

    async def _generate(self, payload: dict[str, Any]) -> str:
        """The model's answer text, after the retries; raises ExtractorRequestFailed."""
        endpoint = self._endpoint
        url = self._url
        if endpoint is None or url is None:
            raise self._fail(
                "config",
                "the extractor has no endpoint: use it in a session, or pass endpoint=",
                None,
            )
        body = json.dumps(payload, ensure_ascii=False).encode()
        attempt = 0
        while True:
            # Errors are raised outside the handlers: nothing chains what they caught (a request
            # or a response may carry the credential).
            resolved: ResolvedEndpoint | str
            try:
                resolved = endpoint.resolve()  # a Vertex token is read fresh for every request
            except ValueError as exc:
                resolved = str(exc)
            if isinstance(resolved, str):
                raise self._fail("config", resolved, None)
            status, data, headers = await self._attempt(url, body, resolved)
            if status == 200:
                problem: tuple[str, str] | None = None
                try:
                    return resolved.scrub_content(answer_text(data))
                except ResponseProblem as exc:
                    problem = (exc.kind, exc.detail)
                raise self._fail(*problem, resolved)
            message = error_message(data)
            if status in RETRIED_STATUSES and attempt < self._max_retries:
                delay = retry_delay(
                    attempt,
                    retry_after=retry_after(headers.get("retry-after"), data),
                    backoff=self._backoff,
                    max_backoff=self._max_backoff,
                )
                log.info(
                    "extractor %r: HTTP %d, retrying in %.3g s (%d/%d)",
                    self._name,
                    status,
                    delay,
                    attempt + 1,
                    self._max_retries,
                )
                attempt += 1
                await trio.sleep(delay)
                continue
            tries = f" after {attempt + 1} attempts" if attempt else ""
            raise self._fail("status", f"HTTP {status}{tries}: {message}", resolved, status)

    async def _attempt(
        self, url: str, body: bytes, resolved: ResolvedEndpoint
    ) -> tuple[int, bytes, dict[str, str]]:
        httpx_ = self._httpx
        client = self._client
        if client is None:
            client = self._client = httpx_.AsyncClient(
                timeout=None, verify=resolved.ssl_context or True
            )
        headers = rest_headers(resolved)
        failure: ExtractorRequestFailed | None = None
        with trio.move_on_after(self._timeout):
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx_.HTTPError as exc:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                failure = self._fail("transport", f"request failed: {detail}", resolved)
                del exc  # its request carries the key in a header: nothing may chain it
            else:
                return response.status_code, response.content, dict(response.headers)
        if failure is not None:
            # Raised here, outside the handler, so that __context__ stays None.
            raise failure
        raise self._fail("timeout", f"no answer within {self._timeout:g} s", resolved)

    # -- the answer --------------------------------------------------------------------------

    def _parse(self, text: str) -> object:
        body = strip_fences(text)
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise self._fail("unparsable", f"the answer is not JSON: {cut(text)!r}", None) from None
        if self._schema is None:
            return value
        try:
            return structure(value, self._schema)
        except StructureError as exc:
            raise self._fail(
                "mismatch", f"the answer does not fit {type_name(self._schema)}: {exc}", None
            ) from None
