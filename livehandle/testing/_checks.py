"""The emulator's gatekeeping, as Gemini does it: request paths, credentials, setup messages.

Pure functions of what the client sent and how the emulator is configured, shared by the socket
and the in-memory ways in, so that both refuse exactly the same things with the same reasons.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Literal

from livehandle.testing._strict import unknown_names_reason

if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from livehandle._wire import messages as m
    from livehandle.testing._record import EmulatorConnection

__all__ = [
    "DEFAULT_MODELS",
    "INTERNAL_ERROR",
    "INVALID_ARGUMENT",
    "INVALID_HANDLE",
    "NOT_A_LIVE_PATH",
    "NO_THINKING_LEVEL",
    "THINKING_LEVEL_UNSUPPORTED",
    "credential_problem",
    "rest_credential_problem",
    "route",
    "setup_problem",
    "unsupported_modality",
]

#: Model ids the emulator knows (wire-protocol.md's model table); others close with 1008 (§5.4).
DEFAULT_MODELS = frozenset(
    {
        "gemini-2.0-flash-live-001",
        "gemini-live-2.5-flash-preview",
        "gemini-2.5-flash-native-audio-preview-09-2025",
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "gemini-live-2.5-flash-native-audio",
        "gemini-3.1-flash-live-preview",
        "gemini-3.8-live",
        "gemini-3.8-live-extended-thinking",
    }
)

INVALID_ARGUMENT = "Request contains an invalid argument."  # the generic 1007 text (§5.4)
INVALID_HANDLE = "Invalid session resumption handle."  # unknown or expired (emulator's wording)
INTERNAL_ERROR = "Internal error occurred."  # the generic 1011 text (wire-protocol.md §5.4)
NOT_A_LIVE_PATH = "not a Live API path"  # the HTTP 404 body for other paths (emulator's wording)
BAD_KEY = "API key not valid. Please pass a valid API key."  # wire-protocol.md §5.4
BAD_TOKEN = "Request had invalid authentication credentials."  # Vertex bearer (emulator's pick)

#: Models that refuse ``thinkingConfig.thinkingLevel``: the 3.8 generation closes with 1007
#: "Thinking level is not supported for this model." (wire-protocol.md §2.1 ``thinkingConfig``
#: and §5.4, an observed report).  2.5 takes a budget and 3.1 a level; neither is refused here.
NO_THINKING_LEVEL = frozenset({"gemini-3.8-live", "gemini-3.8-live-extended-thinking"})
THINKING_LEVEL_UNSUPPORTED = "Thinking level is not supported for this model."

#: The response modalities a Live session can answer with (wire-protocol.md §2.1: "``["AUDIO"]``
#: or ``["TEXT"]``"; IMAGE output does not exist in Live, and VIDEO is Vertex avatar output, which
#: the emulator does not play).
LIVE_MODALITIES = frozenset({"TEXT", "AUDIO"})


def unsupported_modality(modality: str) -> str:
    """The close reason for a response modality a Live session cannot answer with.

    The emulator's wording (no production text for this case has been reported).
    """
    return (
        f"Unsupported response modality {modality}: a Live session responds with TEXT or AUDIO "
        "only."
    )


_GOOGLE_PATH = re.compile(
    r"/ws/google\.ai\.generativelanguage\.(v1[a-z0-9]*)\.GenerativeService"
    r"\.(BidiGenerateContent|BidiGenerateContentConstrained)"
)
_VERTEX_PATH = re.compile(
    r"/ws/google\.cloud\.aiplatform\.(v1beta1|v1)\.LlmBidiService/BidiGenerateContent"
)
_VERTEX_MODEL = re.compile(r"projects/[^/]+/locations/[^/]+/publishers/google/models/([^/]+)")

Route = tuple[Literal["google_ai", "vertex"], str, bool]


def route(path: str) -> Route | None:
    """(backend, api_version, constrained) for a request path, or None if it is not served.

    The Google AI paths (``v1beta``/``v1alpha``, ``BidiGenerateContent`` and the ephemeral-token
    ``BidiGenerateContentConstrained``) and the Vertex path, as wire-protocol.md §1.1-§1.3 list
    them.  ``/`` (and the empty path) is treated as Google AI ``v1beta`` (an emulator shortcut).
    """
    bare = urllib.parse.urlsplit(path).path
    if bare in ("", "/"):
        return "google_ai", "v1beta", False
    if match := _GOOGLE_PATH.fullmatch(bare):
        return "google_ai", match.group(1), match.group(2).endswith("Constrained")
    if match := _VERTEX_PATH.fullmatch(bare):
        return "vertex", match.group(1), False
    return None


def credential_problem(
    record: EmulatorConnection,
    *,
    api_key: str | None,
    ephemeral_tokens: Set[str],
    bearer_tokens: Set[str],
) -> str | None:
    """The close reason for credentials that are not accepted, or None (checked when configured).

    Where each backend takes its credential: Vertex a bearer token (wire-protocol.md §1.3), the
    Constrained method an ephemeral token in ``?access_token=`` or ``Authorization: Token``
    (§1.2), Google AI a key in ``x-goog-api-key`` or ``?key=`` (§1.1).  A bad one still completes
    the upgrade and closes with 1007 and the key text of §5.4 (§1.5 step 1).
    """
    query = record.query
    auth = record.headers.get("authorization", "")
    if record.backend == "vertex":
        if bearer_tokens and auth.removeprefix("Bearer ") not in bearer_tokens:
            return BAD_TOKEN
        return None
    if record.constrained:
        token = query.get("access_token") or auth.removeprefix("Token ")
        if ephemeral_tokens and token not in ephemeral_tokens:
            return BAD_KEY
        return None
    if api_key is not None:
        key = record.headers.get("x-goog-api-key") or query.get("key")
        if key != api_key:
            return BAD_KEY
    return None


#: The service's answer to a REST request with no API key at all (wire-protocol.md §1.2 quotes
#: its start, "Method doesn't allow unregistered callers").
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def rest_credential_problem(
    backend: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    *,
    api_key: str | None,
    bearer_tokens: Set[str],
) -> tuple[int, str, str] | None:
    """``(HTTP status, google.rpc status, message)`` refusing a REST request's credential, or None.

    As :func:`credential_problem` for Live connections, but with HTTP statuses: Google AI takes
    the key from ``x-goog-api-key`` or ``?key=``; a wrong one is 400 ``INVALID_ARGUMENT`` with
    the key text of wire-protocol.md §5.4 (the body's shape as the service sends it is quoted in
    google/timesketch PR #3703: reason ``API_KEY_INVALID``), none at all 403
    ``PERMISSION_DENIED``.  Vertex takes a bearer token, refused with 401 ``UNAUTHENTICATED``.
    Checked only when the emulator is configured with credentials.
    """
    auth = headers.get("authorization", "")
    if backend == "vertex":
        if bearer_tokens and auth.removeprefix("Bearer ") not in bearer_tokens:
            return 401, "UNAUTHENTICATED", BAD_TOKEN
        return None
    if api_key is None:
        return None
    key = headers.get("x-goog-api-key") or query.get("key")
    if key is None:
        return 403, "PERMISSION_DENIED", NO_KEY
    if key != api_key:
        return 400, "INVALID_ARGUMENT", BAD_KEY
    return None


def setup_problem(
    record: EmulatorConnection, setup: m.Setup, models: Set[str] | None, raw: object = None
) -> tuple[int, str] | None:
    """Why this setup is refused, as ``(code, reason)``, or None; ``models=None`` accepts any.

    ``raw`` is the setup's JSON object as the client sent it (the decoded ``setup`` drops the
    names it does not know); when given, unknown names anywhere in it are refused first, as the
    server's JSON parser refuses them before anything else is looked at.
    """
    if raw is not None and (unknown := unknown_names_reason(raw, record.backend)) is not None:
        # An unknown name anywhere fails the parse: 1007 with the parser's message (the
        # module docstring of _strict cites the reports; wire-protocol.md §5.4 "bad field").
        # The backend's own proto decides (§8): Google AI has no ``explicitVadSignal``.
        return 1007, unknown
    if record.backend == "vertex":
        # Vertex wants the full publisher resource name (wire-protocol.md §1.3, §5.4 1008).
        match = _VERTEX_MODEL.fullmatch(setup.model)
        model_id = match.group(1) if match else None
        if model_id is None or (models is not None and model_id not in models):
            return (
                1008,
                f"Publisher Model `{setup.model}` was not found or your project does not "
                "have access to it.",
            )
    else:
        # Google AI wants ``models/{id}``; others are not found (wire-protocol.md §2.1, §5.4).
        model_id = setup.model.removeprefix("models/")
        if not setup.model.startswith("models/") or (models is not None and model_id not in models):
            return 1008, (
                f"{setup.model} is not found for API version {record.api_version}, or is not "
                "supported for bidiGenerateContent. Call ListModels to see the list of "
                "available models and their supported methods."
            )
    config = setup.generation_config
    modalities = (config.response_modalities if config else None) or ()
    if len(modalities) > 1:
        # "exactly one; both -> config error" (wire-protocol.md §2.1 generationConfig).
        return 1007, INVALID_ARGUMENT
    for modality in modalities:
        if modality not in LIVE_MODALITIES:
            # Live answers with AUDIO or TEXT only (wire-protocol.md §2.1; issue 13 part 4).
            return 1007, unsupported_modality(modality)
    level = config.thinking_config.thinking_level if config and config.thinking_config else None
    if level is not None and model_id in NO_THINKING_LEVEL:
        # 3.8 has no thinking level (wire-protocol.md §2.1 thinkingConfig, §5.4 [OBS]).
        return 1007, THINKING_LEVEL_UNSUPPORTED
    resumption = setup.session_resumption
    if resumption is not None and resumption.transparent and record.backend != "vertex":
        # Transparent resumption is Vertex only (wire-protocol.md §2.1, §8; the SDKs refuse it
        # on Google AI: "Transparent session resumption is only supported for Vertex AI", ADK
        # #5771); a server that receives it refuses the setup as an invalid argument (§5.4).
        return 1007, INVALID_ARGUMENT
    return None
