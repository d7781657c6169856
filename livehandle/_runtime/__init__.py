"""L1: what turns a wire session into a voice runtime."""

from __future__ import annotations
