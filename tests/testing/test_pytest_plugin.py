"""The pytest plugin: its fixtures in an inner pytest run, customization, and its registration."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import livehandle
from livehandle.testing import pytest_plugin

pytest_plugins = ["pytester"]

ROOT = Path(livehandle.__file__).resolve().parent.parent
PLUGIN_ARGS = ("-p", "pytest_trio.plugin", "-p", "livehandle.testing.pytest_plugin")

# Shared by the inner test modules: one TEXT turn over an open_session, returning the reply.
INNER_HELPERS = """
from livehandle import Endpoint, SessionEvent
from livehandle.lowlevel import open_session
from livehandle._wire import ClientContent, Content, GenerationConfig, Modality, Part, Setup

SETUP = Setup(
    model="models/gemini-3.8-live",
    generation_config=GenerationConfig(response_modalities=(Modality.TEXT,)),
)


async def reply_to(endpoint: Endpoint, text: str) -> str:
    async with open_session(SETUP, endpoint=endpoint) as session:
        with session.subscribe() as events:
            turn = Content(parts=(Part(text=text),), role="user")
            await session.send(ClientContent(turns=(turn,), turn_complete=True))
            async for event in events:
                if isinstance(event, SessionEvent.TextComplete):
                    return event.text
    raise AssertionError("the session ended before the reply was complete")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester for runs in a subprocess (the plugin and Trio get a fresh interpreter) that load
    exactly pytest-trio and this plugin, however livehandle is installed: with the entry point
    auto-loaded as well, ``-p`` would register the plugin twice."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    path = [str(pytester.path), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    pytester.makepyfile(inner_helpers=INNER_HELPERS)
    return pytester


def docstring_example(
    introduction: str = "A complete test, as it would appear in a test module::",
) -> str:
    """An example in the plugin's docstring (the block after ``introduction``), dedented."""
    doc = pytest_plugin.__doc__
    assert doc is not None
    _, found, rest = doc.partition(introduction + "\n")
    assert found
    block = []
    for line in rest.splitlines():
        if line and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_docstring_example_passes_with_the_fixtures(inner: pytest.Pytester) -> None:
    example = docstring_example()
    assert "live_endpoint" in example
    assert '"You said: hello"' in example
    inner.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    inner.makepyfile(test_example=example)
    result = inner.runpytest_subprocess(*PLUGIN_ARGS)
    result.assert_outcomes(passed=1)


def test_docstring_in_memory_example_passes_on_a_mock_clock(inner: pytest.Pytester) -> None:
    example = docstring_example(
        "In memory, on a mock clock (seconds of Trio time take no wall time)::"
    )
    assert "live_transport" in example and "autojump_clock" in example
    inner.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    inner.makepyfile(test_example=example)
    result = inner.runpytest_subprocess(*PLUGIN_ARGS)
    result.assert_outcomes(passed=1)


def test_live_transport_serves_the_emulator_in_memory_without_a_socket(
    inner: pytest.Pytester,
) -> None:
    inner.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    inner.makepyfile(
        test_memory="""
        import pytest
        import trio

        from livehandle import Endpoint
        from livehandle.lowlevel import MemoryTransport, open_session
        from livehandle.testing import MEMORY_URL
        from inner_helpers import SETUP


        @pytest.fixture
        def no_sockets(monkeypatch):
            async def refuse(*args, **kwargs):
                raise AssertionError("the in-memory emulator opened a listening socket")

            monkeypatch.setattr(trio, "open_tcp_listeners", refuse)


        async def test_in_memory(no_sockets, live_emulator, live_endpoint, live_transport):
            assert live_endpoint == MEMORY_URL
            assert isinstance(live_transport, MemoryTransport)
            endpoint = Endpoint.from_url(live_endpoint)
            async with open_session(SETUP, endpoint=endpoint, transport=live_transport):
                pass
            assert len(live_emulator.connections) == 1


        async def test_without_it_a_socket(live_emulator, live_endpoint):
            assert live_endpoint.startswith("ws://127.0.0.1:")
        """
    )
    result = inner.runpytest_subprocess(*PLUGIN_ARGS)
    result.assert_outcomes(passed=2)


def test_scenario_and_options_fixtures_customize_the_emulator(inner: pytest.Pytester) -> None:
    inner.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    custom = inner.mkdir("custom")
    (custom / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest


            @pytest.fixture
            def live_emulator_options():
                return {"api_key": "inner-key", "binary_frames": False}
            """
        )
    )
    (custom / "test_custom.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from inner_helpers import reply_to

            from livehandle import Endpoint, InvalidArgument
            from livehandle.testing import Rule, Say, Scenario, When


            @pytest.fixture
            def live_emulator_scenario():
                return Scenario(rules=[Rule(When(text="^hi$"), [Say("Hello from the fixture")])])


            async def test_module_scenario_and_conftest_options(live_emulator, live_endpoint):
                assert live_endpoint == live_emulator.url
                assert live_emulator.api_key == "inner-key"
                assert live_emulator.binary_frames is False
                endpoint = Endpoint.google_ai("inner-key", base_url=live_endpoint)
                assert await reply_to(endpoint, "hi") == "Hello from the fixture"
                assert await reply_to(endpoint, "bye") == "You said: bye"
                assert len(live_emulator.connections) == 2


            async def test_each_test_gets_a_fresh_emulator_with_the_options(
                live_emulator, live_endpoint
            ):
                assert live_emulator.connections == []
                with pytest.raises(InvalidArgument, match="API key not valid"):
                    await reply_to(Endpoint.google_ai("wrong", base_url=live_endpoint), "hi")
            """
        )
    )
    inner.makepyfile(
        test_default="""
        from inner_helpers import reply_to

        from livehandle import Endpoint


        async def test_outside_the_directory_the_default_echo_applies(live_emulator, live_endpoint):
            assert live_emulator.api_key is None
            assert await reply_to(Endpoint.from_url(live_endpoint), "hi") == "You said: hi"
        """
    )
    result = inner.runpytest_subprocess(*PLUGIN_ARGS)
    result.assert_outcomes(passed=3)


def test_fixtures_work_without_trio_mode_in_marked_tests(inner: pytest.Pytester) -> None:
    inner.makeini("[pytest]\nfilterwarnings = error\n")
    inner.makepyfile(
        test_marked="""
        import pytest
        from inner_helpers import reply_to

        from livehandle import Endpoint


        @pytest.mark.trio
        async def test_marked(live_endpoint):
            assert await reply_to(Endpoint.from_url(live_endpoint), "hello") == "You said: hello"
        """
    )
    result = inner.runpytest_subprocess(*PLUGIN_ARGS)
    result.assert_outcomes(passed=1)


def test_without_pytest_trio_the_plugin_imports_and_defines_only_sync_fixtures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pytest_trio", None)  # makes `import pytest_trio` fail
    spec = importlib.util.spec_from_file_location("plugin_without_trio", pytest_plugin.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.__all__ == ["live_emulator_options", "live_emulator_scenario"]
    assert not hasattr(module, "live_emulator")
    assert not hasattr(module, "live_endpoint")
    assert not hasattr(module, "live_transport")
    assert sorted(pytest_plugin.__all__) == [
        "live_emulator",
        "live_emulator_options",
        "live_emulator_scenario",
        "live_endpoint",
        "live_transport",
    ]


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"livehandle": "livehandle.testing.pytest_plugin"}
