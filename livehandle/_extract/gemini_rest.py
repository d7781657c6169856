"""The REST side of ``generateContent``: URLs, headers, retry waits, reading the response.

Pure functions of an :class:`~livehandle.Endpoint` and of bytes received, used by
:class:`~livehandle.LlmExtractor`.  The request and response shapes are the public Gemini REST
API's (``POST /v1beta/models/{model}:generateContent``; Vertex
``/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent``).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.parse
from typing import TYPE_CHECKING

from livehandle._transport.endpoints import is_secret_name

if TYPE_CHECKING:
    from livehandle._transport.endpoints import Endpoint, ResolvedEndpoint

__all__ = [
    "RETRIED_STATUSES",
    "ResponseProblem",
    "answer_text",
    "cut",
    "error_message",
    "rest_headers",
    "rest_url",
    "retry_after",
    "retry_delay",
    "strip_fences",
]

#: HTTP statuses worth another try: quota (429) and an overloaded or unavailable service (503).
RETRIED_STATUSES = frozenset({429, 503})
#: ``finishReason`` values that mean the model declined to answer (the public API's enum).
_REFUSALS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "OTHER",
    }
)
_SHOWN = 200  # characters of a server's text quoted in an error
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.DOTALL)
_GOOGLE_LIVE_PATH = re.compile(r"/ws/google\.ai\.generativelanguage\.(v1[a-z0-9]*)\.")
_RETRY_DELAY = re.compile(r"(\d+(?:\.\d+)?)s")


class ResponseProblem(Exception):
    """A response that carries no usable answer: ``kind`` and ``detail`` for the caller's error."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}")


def answer_text(data: bytes) -> str:
    """The model's text in a ``generateContent`` response body (thought parts left out).

    Raises:
        ResponseProblem: ``invalid_response`` for a body that is not a JSON object;
            ``refused`` for a blocked prompt, no candidates, a refusal ``finishReason`` or no
            text at all.
    """
    try:
        reply = json.loads(data)
    except (ValueError, RecursionError):
        raise ResponseProblem(
            "invalid_response", f"not JSON: {cut(data.decode('utf-8', 'replace'))}"
        ) from None
    if not isinstance(reply, dict):
        raise ResponseProblem("invalid_response", "the response is not a JSON object")
    feedback = reply.get("promptFeedback")
    blocked = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if blocked:
        raise ResponseProblem("refused", f"the prompt was blocked ({blocked})")
    candidates = reply.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise ResponseProblem("refused", "the model returned no candidates")
    candidate = candidates[0] if isinstance(candidates[0], dict) else {}
    finish = candidate.get("finishReason")
    if finish in _REFUSALS:
        raise ResponseProblem("refused", f"the model stopped with finishReason {finish}")
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    text = "".join(
        part["text"]
        for part in (parts if isinstance(parts, list) else ())
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    )
    if not text.strip():
        reason = f" (finishReason {finish})" if finish else ""
        raise ResponseProblem("refused", f"the model returned no text{reason}")
    return text


def cut(text: str) -> str:
    """``text`` cut to ``_SHOWN`` characters for an error message."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def strip_fences(text: str) -> str:
    """``text`` without Markdown code fences around it (```` ```json ... ``` ```` or bare).

    Text that is a fenced block (with or without a language tag) gives the block's content;
    text with a fenced block inside other words gives the first block; other text is returned
    stripped of surrounding whitespace.
    """
    stripped = text.strip()
    if "```" not in stripped:
        return stripped
    match = _FENCE.search(stripped)
    if match is None:  # an opening fence never closed: drop the fence line
        return stripped.removeprefix("```").partition("\n")[2].strip() or stripped
    return match.group(1).strip()


def retry_delay(
    attempt: int, *, retry_after: float | None, backoff: float, max_backoff: float
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    ``backoff * 2**attempt``, or the server's ``retry_after`` when that is longer; never more
    than ``max_backoff``.
    """
    delay = backoff * 2.0**attempt
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return max(0.0, min(delay, max_backoff))


def retry_after(header: str | None, data: bytes) -> float | None:
    """The wait the server asks for: ``Retry-After`` (seconds or a date), else ``RetryInfo``."""
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    try:
        reply = json.loads(data)
    except (ValueError, RecursionError):
        return None
    error = reply.get("error") if isinstance(reply, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _RETRY_DELAY.fullmatch(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def error_message(data: bytes) -> str:
    """The ``error.message`` of a Google error body, else the body itself, shortened."""
    text = data.decode("utf-8", "replace")
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError):
        return cut(text.strip()) or "(empty body)"
    error = reply.get("error") if isinstance(reply, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        status = error.get("status")
        prefix = f"{status}: " if isinstance(status, str) else ""
        return prefix + cut(error["message"])
    return cut(text.strip())


def rest_headers(resolved: ResolvedEndpoint) -> dict[str, str]:
    """The request headers for one call: JSON, and the credential in a header.

    An API key the endpoint sends as ``?key=`` travels as ``x-goog-api-key`` here: a REST URL
    ends up in logs and errors more often than a header does.
    """
    headers = {"content-type": "application/json"}
    headers.update((name.lower(), value) for name, value in resolved.headers)
    for name, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(resolved.url).query):
        if _is_api_key_name(name):
            headers.setdefault("x-goog-api-key", value)
    return headers


def _is_api_key_name(name: str) -> bool:
    return "".join(ch for ch in name.lower() if ch.isalnum()) in ("key", "apikey")


def rest_url(endpoint: Endpoint, model: str) -> str:
    """The ``generateContent`` URL for ``model`` on ``endpoint``'s host (no credential in it).

    Raises:
        ValueError: the endpoint authenticates in a way ``generateContent`` does not accept.
    """
    parts = urllib.parse.urlsplit(endpoint.url)
    if parts.path.endswith("Constrained"):
        raise ValueError(
            "an ephemeral token cannot call generateContent: give the LlmExtractor an "
            "endpoint with an API key (Endpoint.google_ai) or a Vertex token"
        )
    query = urllib.parse.urlsplit(endpoint.redacted_url).query
    for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if is_secret_name(name) and not _is_api_key_name(name):
            raise ValueError(
                f"the endpoint's credential parameter {name!r} cannot be sent to "
                "generateContent (only an API key can): give the LlmExtractor its own endpoint"
            )
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    base = f"{scheme}://{parts.netloc}"
    model = model.removeprefix("models/")
    if endpoint.backend == "vertex":
        if not model.startswith("projects/"):
            model_id = model.removeprefix("publishers/google/models/")
            model = (
                f"projects/{endpoint.project}/locations/{endpoint.location}"
                f"/publishers/google/models/{model_id}"
            )
        return f"{base}/v1/{model}:generateContent"
    match = _GOOGLE_LIVE_PATH.match(parts.path)
    version = match.group(1) if match else "v1beta"
    return f"{base}/{version}/models/{urllib.parse.quote(model, safe='-._~')}:generateContent"
