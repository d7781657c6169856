"""Taking a :class:`~livehandle.SessionSnapshot` of a live session, and the config fingerprint.

A :class:`SnapshotSource` reads the parts of a live handle a restore needs (the committed State,
the transcript buffer, the session's phase and newest resumable handle, the telemetry) and
builds a snapshot from them on demand.  It keeps nothing secret: the endpoint, its key and its
headers never reach it, and the config is kept only as its fingerprint.

The fingerprint has three parts, one for each setting a restore must match, so a mismatch can
say which of them differs::

    model=<sha256 hex>;tools=<sha256 hex>;instruction=<sha256 hex>

each the SHA-256 of a canonical JSON text (sorted keys, no spaces) of that setting.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from livehandle._convert import to_json_value
from livehandle._events import SessionEvent
from livehandle._persist.snapshot import SessionSnapshot
from livehandle._wire import messages as m
from livehandle._wire.codec import encode_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle._config.live import LiveConfig
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._runtime.transcript import TranscriptBuffer
    from livehandle._session.port import SessionPort
    from livehandle._state import State

__all__ = [
    "FINGERPRINT_PARTS",
    "SnapshotSource",
    "config_fingerprint",
    "fingerprint_difference",
    "new_session_id",
    "utc_now",
]

#: The settings a fingerprint covers, in its order.
FINGERPRINT_PARTS = ("model", "tools", "instruction")


def utc_now() -> str:
    """The wall-clock time now, ISO 8601 in UTC (``2026-12-07T05:42:17.123456+00:00``)."""
    return datetime.now(UTC).isoformat()


def new_session_id() -> str:
    """A fresh session id for a session opened without one (random, URL-safe)."""
    return f"session-{secrets.token_urlsafe(12)}"


def _digest(value: Any) -> str:
    text = json.dumps(to_json_value(value, what="config"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _tool_declarations(config: LiveConfig) -> Any:
    """What the model is told about the tools, as the wire JSON of a setup with only them.

    The wire tools come first, then the ``@tool`` declarations (as the setup sends them).
    """
    wire: list[m.Tool] = [t for t in config.tools if isinstance(t, m.Tool)]
    declared = config.function_tools.declarations()
    if declared is not None:
        wire.append(declared)
    if not wire:
        return []
    setup = json.loads(encode_client(m.Setup(model="models/fingerprint", tools=tuple(wire))))
    return setup["setup"].get("tools", [])


def config_fingerprint(config: LiveConfig) -> str:
    """The fingerprint of ``config``'s model, tools' declarations and instruction.

    Never covers the endpoint, the key or any other setting: a snapshot may be restored with
    other voice or timeout settings, but not by a model told other things.
    """
    parts = {
        "model": _digest(config.model),
        "tools": _digest(_tool_declarations(config)),
        "instruction": _digest(config.instruction),
    }
    return ";".join(f"{name}={parts[name]}" for name in FINGERPRINT_PARTS)


def fingerprint_difference(saved: str, current: str) -> list[str]:
    """Which settings differ between two fingerprints (all of them if one cannot be read)."""

    def parse(text: str) -> dict[str, str]:
        found = dict(part.partition("=")[::2] for part in text.split(";"))
        return found if set(found) == set(FINGERPRINT_PARTS) else {}

    old, new = parse(saved), parse(current)
    if not old or not new:
        return list(FINGERPRINT_PARTS) if saved != current else []
    return [name for name in FINGERPRINT_PARTS if old[name] != new[name]]


class SnapshotSource:
    """Builds snapshots of one live session; see the module docstring.

    ``handle_seen`` is a session tap: it records when each resumable handle arrived (the
    snapshot's ``handle_issued_at``) and calls ``on_handle`` (the saver's offer) after it.
    """

    __slots__ = (
        "_handle",
        "_handle_at",
        "_session",
        "_state",
        "_telemetry",
        "_transcript",
        "fingerprint",
        "on_handle",
        "session_id",
    )

    def __init__(
        self,
        session_id: str,
        *,
        session: SessionPort,
        state: State,
        transcript: TranscriptBuffer,
        telemetry: SessionTelemetry,
        fingerprint: str,
    ) -> None:
        self.session_id = session_id
        self.fingerprint = fingerprint
        self._session = session
        self._state = state
        self._transcript = transcript
        self._telemetry = telemetry
        self._handle: str | None = None
        self._handle_at: str | None = None
        self.on_handle: Callable[[], None] | None = None

    def restore_handle(self, handle: str | None, issued_at: str | None) -> None:
        """Start from a saved handle (kept until the session reports a newer one)."""
        self._handle, self._handle_at = handle, issued_at

    def handle_seen(self, event: SessionEvent) -> None:
        """Session tap: note a new resumable handle and when it arrived."""
        if (
            isinstance(event, SessionEvent.SessionResumeUpdate)
            and event.resumable
            and event.handle
            and event.handle != self._handle
        ):
            self._handle, self._handle_at = event.handle, utc_now()
            if self.on_handle is not None:
                self.on_handle()

    def take(self) -> SessionSnapshot:
        """A snapshot of the session now (cheap: copies of the State and the kept turns)."""
        handle = self._session.resume_handle or self._handle
        issued_at = self._handle_at if handle == self._handle else utc_now()
        return SessionSnapshot(
            session_id=self.session_id,
            state=self._state.snapshot_items(),  # redacted keys are never saved
            transcript=tuple(self._transcript.turns),
            turn_count=self._transcript.count,
            phase=self._session.phase.value,
            resume_handle=handle,
            handle_issued_at=issued_at if handle is not None else None,
            telemetry=self._telemetry.snapshot(),
            config_fingerprint=self.fingerprint,
            saved_at=utc_now(),
        )
