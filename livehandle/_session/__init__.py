"""L0: one Live API connection (setup, reader, writer, phases, close codes)."""

from __future__ import annotations

from livehandle._session.options import SessionOptions as SessionOptions
from livehandle._session.session import Session as Session, open_session as open_session

__all__ = ["Session", "SessionOptions", "open_session"]
