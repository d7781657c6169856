"""livehandle: a Trio runtime for real-time voice and multimodal agents on the Gemini Live API."""

from __future__ import annotations

from livehandle._version import __version__ as __version__
