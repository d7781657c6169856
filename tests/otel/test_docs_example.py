"""The observability how-to's console-exporter example runs and prints the spans and metrics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "howto" / "observability.rst"


def example() -> str:
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", PAGE.read_text())
    (found,) = [block for block in blocks if "ConsoleSpanExporter" in block]
    return textwrap.dedent(found)


def test_the_console_exporter_example_prints_spans_and_metrics() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", example()],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    names = re.findall(r'"name": "([^"]+)"', done.stdout)
    assert names.count("livehandle.session") == 1
    assert sum(name.startswith("chat ") for name in names) == 2
    for metric in ("livehandle.turn.duration", "livehandle.turn.response_latency"):
        assert metric in names
