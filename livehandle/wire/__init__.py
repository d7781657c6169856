"""L0 protocol: Gemini Live messages as data, and their JSON codec. No I/O."""

from __future__ import annotations
