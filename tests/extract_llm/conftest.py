"""The LlmExtractor needs httpx (the ``llm`` extra): skip without it, unless ``CI=true``."""

from __future__ import annotations

import importlib.util
import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if importlib.util.find_spec("httpx") is not None:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("httpx is missing: install the llm extra (pip install -e '.[llm]')")
    skip = pytest.mark.skip(reason="httpx is not installed (pip install 'livehandle[llm]')")
    for item in items:
        if "extract_llm" in str(item.path):
            item.add_marker(skip)
