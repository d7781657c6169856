"""The emulator's ``generateContent``: scripted answers (:class:`Extract`) and request records.

The emulator answers ``POST .../models/{model}:generateContent`` on the port of its WebSocket,
so that :class:`~livehandle.LlmExtractor` is tested through its real HTTP path.  What the model
answers is scripted by the :class:`~livehandle.testing.Scenario`'s ``extractions``: each request
is matched against them in order, and the first that matches and has uses left answers.  No
rule matching is an HTTP 400 ``FAILED_PRECONDITION`` naming the cause (the emulator's choice: an
unscripted extraction is a mistake in the test, better reported than answered with a guess).

Sources for the shapes used here: the public Gemini REST reference (``models.generateContent``:
the request's ``contents``/``systemInstruction``/``generationConfig``, the response's
``candidates[].content.parts[].text``, ``finishReason`` and ``promptFeedback.blockReason``) and
the Google API error model (``{"error": {"code", "message", "status"}}``); error texts from
wire-protocol.md §5.4 where the Live API uses the same ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Answer",
    "Extract",
    "GenerateRequest",
    "choose",
    "extractions_from_json",
    "generate_route",
    "google_error",
    "request_problem",
    "scripted_answer",
]

#: HTTP status -> (google.rpc status, message) for scripted faults.  Texts from wire-protocol.md
#: §5.4 (the same service's messages on the Live API); 400's is the generic invalid argument.
_STATUS_TEXTS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "Internal error occurred."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
#: The names a ``GenerateContentRequest`` has (public REST reference); others are refused.
_REQUEST_NAMES = frozenset(
    {
        "contents",
        "systemInstruction",
        "generationConfig",
        "safetySettings",
        "tools",
        "toolConfig",
        "cachedContent",
        "labels",
        "model",
    }
)
_UNKNOWN = "Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."
NO_RULE = (
    "the emulator's scenario has no Extract rule for this generateContent request "
    "(script one in Scenario.extractions)"
)

# Google AI: POST /{version}/models/{model}:generateContent (public REST reference).
_GOOGLE = re.compile(r"/(v1[a-z0-9]*)/models/([^/:]+):generateContent")
# Vertex: POST /{version}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent.
_VERTEX = re.compile(
    r"/(v1|v1beta1)/projects/[^/]+/locations/[^/]+/publishers/google/models/([^/:]+)"
    r":generateContent"
)


def generate_route(path: str) -> tuple[Literal["google_ai", "vertex"], str, str] | None:
    """(backend, api_version, model) for a ``generateContent`` request path, or None."""
    bare = path.partition("?")[0]
    if match := _GOOGLE.fullmatch(bare):
        return "google_ai", match.group(1), match.group(2)
    if match := _VERTEX.fullmatch(bare):
        return "vertex", match.group(1), match.group(2)
    return None


def _status(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not 400 <= value <= 599):
        raise ValueError(f"{attribute.name} must be an HTTP error status (400-599), got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value >= 0:
        raise ValueError(f"{attribute.name} must be at least 0, got {value!r}")


@attrs.frozen
class Extract:
    """One scripted answer of the emulator's ``generateContent`` (see ``Scenario.extractions``).

    With nothing else given the model answers ``reply`` as JSON text (``{}`` when None).

    Attributes:
        reply: the JSON value the model answers (written with ``json.dumps``).
        when: a regular expression searched (case-insensitively) in the request's text: its
            system instruction and its contents' text.  None matches every request.
        text: the model's raw text instead of ``reply`` (e.g. something that is not JSON).
        fenced: wrap the answer in a Markdown code fence tagged ``json``, as models sometimes do.
        status: answer with this HTTP error instead (e.g. 429, 503), in the Google error shape.
        retry_after: with ``status``, a ``Retry-After`` header of this many seconds.
        block_reason: refuse the prompt: ``promptFeedback.blockReason`` and no candidates.
        finish_reason: the candidate's ``finishReason``; a refusal (``SAFETY``,
            ``RECITATION``...) is sent without content, as the service does.
        delay: seconds (Trio time) to wait before answering.
        times: how many requests this rule answers (None: all).
    """

    reply: object = None
    when: str | None = None
    text: str | None = None
    fenced: bool = False
    status: int | None = attrs.field(default=None, validator=_status)
    retry_after: float | None = attrs.field(default=None, validator=_non_negative)
    block_reason: str | None = None
    finish_reason: str = "STOP"
    delay: float = attrs.field(default=0.0, validator=_non_negative)
    times: int | None = None
    _pattern: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        try:
            pattern = None if self.when is None else re.compile(self.when, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {self.when!r}: {exc}") from None
        object.__setattr__(self, "_pattern", pattern)
        if self.times is not None and (isinstance(self.times, bool) or self.times < 1):
            raise ValueError(f"times must be at least 1, got {self.times!r}")
        try:
            json.dumps(self.reply, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"reply must be a JSON value: {exc}") from None

    def matches(self, text: str) -> bool:
        """True when this rule answers a request whose text is ``text``."""
        return self._pattern is None or self._pattern.search(text) is not None

    def answer_text(self) -> str:
        """The model's text: ``text``, else ``reply`` as JSON, fenced if asked."""
        if self.text is not None:
            body = self.text
        else:
            body = json.dumps({} if self.reply is None else self.reply)
        return f"```json\n{body}\n```" if self.fenced else body


def _path_repr(path: str) -> str:
    """The path without its query: a ``?key=`` credential never reaches a repr."""
    return repr(path.partition("?")[0] + ("?..." if "?" in path else ""))


@attrs.frozen
class GenerateRequest:
    """One ``generateContent`` request the emulator received, and how it answered.

    Attributes:
        path: the request path (with any query).  The repr shows neither the query nor the
            headers (they carry the credential) nor the body.
        backend: ``"google_ai"`` or ``"vertex"``.
        model: the model id from the path.
        headers: the request headers, names in lower case.
        body: the decoded JSON body (None when it was not JSON).
        status: the HTTP status answered.
        at: Trio time when it arrived.
    """

    path: str = attrs.field(repr=_path_repr)
    backend: str
    model: str
    headers: Mapping[str, str] = attrs.field(repr=lambda headers: f"<{len(headers)} headers>")
    body: Any = attrs.field(repr=False)
    status: int = 200
    at: float = 0.0

    @property
    def system_instruction(self) -> str | None:
        """The system instruction's text, if any."""
        instruction = self.body.get("systemInstruction") if isinstance(self.body, dict) else None
        return _parts_text(instruction) if isinstance(instruction, dict) else None

    @property
    def text(self) -> str:
        """The text of every part of every content, joined by newlines."""
        contents = self.body.get("contents") if isinstance(self.body, dict) else None
        items = contents if isinstance(contents, list) else ()
        return "\n".join(_parts_text(item) for item in items if isinstance(item, dict))

    @property
    def generation_config(self) -> dict[str, Any]:
        """The ``generationConfig`` object (empty when none was sent)."""
        config = self.body.get("generationConfig") if isinstance(self.body, dict) else None
        return config if isinstance(config, dict) else {}

    @property
    def response_schema(self) -> object:
        """The ``responseSchema`` (or ``responseJsonSchema``) sent, or None."""
        config = self.generation_config
        return config.get("responseSchema", config.get("responseJsonSchema"))


def _parts_text(content: Mapping[str, Any]) -> str:
    parts = content.get("parts")
    items = parts if isinstance(parts, list) else ()
    return "".join(
        part["text"]
        for part in items
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


@attrs.frozen
class Answer:
    """What the emulator sends back: a status, a JSON body, extra headers, after ``delay``."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def google_error(status: int, message: str | None = None, rpc: str | None = None) -> Answer:
    """An error answer in the Google API error shape (``{"error": {code, message, status}}``)."""
    default_rpc, default_message = _STATUS_TEXTS.get(status, ("UNKNOWN", "Unknown error."))
    error = {"code": status, "message": message or default_message, "status": rpc or default_rpc}
    return Answer(status, {"error": error})


def request_problem(body: bytes) -> tuple[Answer | None, Any]:
    """(an error answer or None, the decoded body) for a request body, checked as the service does.

    Not JSON, not an object, an unknown top-level name (the JSON parser's message, as in
    wire-protocol.md §5.4 "bad field"), or no ``contents`` are each refused with 400.
    """
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return google_error(400, "Invalid JSON payload received. Unexpected token."), None
    if not isinstance(decoded, dict):
        return google_error(400, "Invalid JSON payload received. Expected an object."), decoded
    unknown = sorted(set(decoded) - _REQUEST_NAMES)
    if unknown:
        lines = "\n".join(_UNKNOWN.format(name=name, path="") for name in unknown)
        return google_error(400, lines), decoded
    contents = decoded.get("contents")
    if not isinstance(contents, list) or not contents:
        return google_error(400, "* GenerateContentRequest.contents: contents is not specified"), (
            decoded
        )
    return None, decoded


def scripted_answer(rule: Extract | None, model: str) -> Answer:
    """The answer ``rule`` scripts (None: no rule matched, a 400 naming the cause)."""
    if rule is None:
        return google_error(400, NO_RULE, "FAILED_PRECONDITION")
    if rule.status is not None:
        answer = google_error(rule.status)
        headers = () if rule.retry_after is None else (("retry-after", f"{rule.retry_after:g}"),)
        return attrs.evolve(answer, headers=headers, delay=rule.delay)
    usage = {"promptTokenCount": 1, "totalTokenCount": 1}
    if rule.block_reason is not None:
        body: dict[str, Any] = {
            "promptFeedback": {"blockReason": rule.block_reason},
            "usageMetadata": usage,
            "modelVersion": model,
        }
        return Answer(200, body, delay=rule.delay)
    candidate: dict[str, Any] = {"finishReason": rule.finish_reason, "index": 0}
    if rule.finish_reason in ("STOP", "MAX_TOKENS"):
        candidate["content"] = {"role": "model", "parts": [{"text": rule.answer_text()}]}
    body = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}
    return Answer(200, body, delay=rule.delay)


def choose(rules: Iterable[Extract], uses: dict[int, int], text: str) -> Extract | None:
    """The first rule that matches ``text`` with uses left (its use counted), or None."""
    for index, rule in enumerate(rules):
        if rule.times is not None and uses.get(index, 0) >= rule.times:
            continue
        if rule.matches(text):
            uses[index] = uses.get(index, 0) + 1
            return rule
    return None


# -- JSON (Scenario.from_dict) ------------------------------------------------------------------

_JSON_KEYS = {
    "reply",
    "when",
    "text",
    "fenced",
    "status",
    "retry_after",
    "block_reason",
    "finish_reason",
    "delay",
    "times",
}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "when": (str,),
    "text": (str,),
    "fenced": (bool,),
    "status": (int,),
    "retry_after": (int, float),
    "block_reason": (str,),
    "finish_reason": (str,),
    "delay": (int, float),
    "times": (int,),
}


def extractions_from_json(value: object, where: str) -> tuple[Extract, ...]:
    """``Scenario.extractions`` from decoded JSON: a list of objects with :class:`Extract`'s keys.

    Raises:
        ValueError: naming what is wrong and where (``extractions[1].status: ...``).
    """
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    rules = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at}: expected an object, got {type(item).__name__}")
        extra = sorted(set(item) - _JSON_KEYS)
        if extra:
            raise ValueError(
                f"{at}: unknown key(s) {', '.join(extra)}; expected {sorted(_JSON_KEYS)}"
            )
        for key, kinds in _JSON_TYPES.items():
            given = item.get(key)
            wrong_bool = isinstance(given, bool) and bool not in kinds
            if given is not None and (wrong_bool or not isinstance(given, kinds)):
                names = " or ".join(kind.__name__ for kind in kinds)
                raise ValueError(f"{at}.{key}: expected {names}, got {type(given).__name__}")
        try:
            rules.append(Extract(**item))
        except ValueError as exc:
            raise ValueError(f"{at}: {exc}") from None
    return tuple(rules)
