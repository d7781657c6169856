"""SessionSnapshot: what a worker needs to carry a session on in another process.

A snapshot is plain data (attrs, frozen) and travels as JSON text through the package's strict
converter, so every store keeps the same bytes and a restore checks every field's type.  It
never holds a secret: no API key, token, URL or header is part of it (the config is kept only
as a fingerprint).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from livehandle._convert import StructureError, structure, to_json_value
from livehandle._errors import SnapshotMismatch
from livehandle._extract.turns import TranscriptTurn

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SCHEMA_VERSION", "SessionSnapshot"]

#: The snapshot format this release writes and reads.
SCHEMA_VERSION = 1


def _json_object(value: Mapping[str, Any]) -> dict[str, Any]:
    """A private copy of ``value`` as plain JSON values (TypeError/ValueError if it is not)."""
    copied = to_json_value(value, what="snapshot field")
    if not isinstance(copied, dict):
        raise TypeError(f"expected a mapping of JSON values, got {type(value).__name__}")
    return copied


@attrs.frozen
class SessionSnapshot:
    """One session at one moment: enough to restore it in another process.

    Attributes:
        session_id: the application's id for the session (``"call-42"``).
        state: the committed :class:`~livehandle.State`, as JSON values.
        transcript: the finished turns, oldest first (bounded as the transcript buffer is).
        turn_count: turns finished since the session began (not only those kept).
        phase: the session's phase when the snapshot was taken (``"active"``...).
        resume_handle: the newest resumable handle, or None.
        handle_issued_at: when that handle was issued (ISO 8601, UTC), or None.
        telemetry: a summary of the session's telemetry (JSON values).
        config_fingerprint: a digest of the settings a restore must match (model, tools,
            instruction); see ``config_fingerprint``.
        saved_at: when the snapshot was taken (ISO 8601, UTC).
        schema_version: the snapshot format (:data:`SCHEMA_VERSION`).
    """

    session_id: str
    state: dict[str, Any] = attrs.field(converter=_json_object, hash=False)
    transcript: tuple[TranscriptTurn, ...]
    turn_count: int
    phase: str
    resume_handle: str | None
    handle_issued_at: str | None
    telemetry: dict[str, Any] = attrs.field(converter=_json_object, hash=False)
    config_fingerprint: str
    saved_at: str
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """The snapshot as compact JSON text (what every store keeps)."""
        return json.dumps(
            to_json_value(self, what="snapshot"), separators=(",", ":"), ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionSnapshot:
        """Read a snapshot written by :meth:`to_json`.

        Raises:
            SnapshotMismatch: not a snapshot, or one of a schema version this release cannot
                read (the message says which field is wrong).
        """
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise SnapshotMismatch(f"not a session snapshot: {exc}") from None
        if not isinstance(data, dict):
            raise SnapshotMismatch("not a session snapshot: expected a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SnapshotMismatch(
                f"snapshot schema version {version!r} cannot be read by this release "
                f"(it reads version {SCHEMA_VERSION})",
                session_id=data.get("session_id")
                if isinstance(data.get("session_id"), str)
                else None,
            )
        try:
            return structure(data, cls)
        except (StructureError, TypeError, ValueError) as exc:
            raise SnapshotMismatch(f"not a valid session snapshot: {exc}") from None
