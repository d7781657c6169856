"""A session without OpenTelemetry configured never imports it; OtelConfig without it says so.

Each runs in a fresh interpreter, so that no other test's imports can hide an import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SESSION = """
import sys
import trio
from livehandle import LiveConfig, LiveEvent, OtelConfig, open_live_session
from livehandle.testing import LiveEmulator

{before}

async def main():
    config = LiveConfig(response_modality="TEXT"{otel})
    with trio.fail_after(20):
        async with (
            LiveEmulator().in_memory() as emu,
            open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as h,
        ):
            events = h.events()
            await h.send_text("hello")
            async for event in events:
                if isinstance(event, LiveEvent.TurnComplete):
                    break
            print("answered", h.telemetry.turn_count)

try:
    trio.run(main)
except BaseException as exc:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    print("raised", type(exc).__name__, exc)
print("imported", sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""


def run(before: str = "", otel: str = "") -> list[str]:
    code = textwrap.dedent(SESSION).format(before=before, otel=otel)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_session_without_otel_never_imports_opentelemetry() -> None:
    assert run() == ["answered 1", "imported []"]


def test_an_otel_config_without_the_package_says_how_to_install_it() -> None:
    # None in sys.modules makes every import of the package fail, as when it is not installed.
    lines = run(before='sys.modules["opentelemetry"] = None', otel=", otel=OtelConfig()")
    assert lines == [
        "raised ImportError OtelConfig needs the opentelemetry-api package, which is not "
        "installed: pip install 'livehandle[otel]'",
        "imported ['opentelemetry']",
    ]
