"""L0.5: a logical session over successive connections (resume, buffer, replay, accounting)."""

from __future__ import annotations

from livehandle._continuity.log import Entry as Entry, ReplayLog as ReplayLog
from livehandle._continuity.policy import ResumePolicy as ResumePolicy
from livehandle._continuity.session import ResumingSession as ResumingSession

__all__ = ["Entry", "ReplayLog", "ResumePolicy", "ResumingSession"]
