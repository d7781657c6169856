"""The README's testing section works as written: its configuration and test file pass, and what
it says happens without pytest-trio or ``trio_mode`` is what happens; the testing how-to's speech
example passes too.

Each run is an inner pytest in a subprocess (a fresh interpreter for Trio and the plugin), with
exactly the plugins named, as in tests/testing/test_pytest_plugin.py.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

import livehandle

pytest_plugins = ["pytester"]

ROOT = Path(livehandle.__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PLUGIN = ("-p", "livehandle.testing.pytest_plugin")
TRIO = ("-p", "pytest_trio.plugin")


def readme_testing_section() -> str:
    _, found, rest = README.partition("\n## Testing your own bot\n")
    assert found
    return rest.partition("\n## ")[0]


def code_blocks(language: str) -> list[str]:
    return re.findall(
        rf"^```{language}\n(.*?)^```$", readme_testing_section(), re.MULTILINE | re.DOTALL
    )


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    (example,) = code_blocks("python")
    pytester.makepyfile(test_readme_example=example)
    return pytester


def test_the_readme_example_passes_with_the_readme_configuration(inner: pytest.Pytester) -> None:
    (config,) = code_blocks("toml")
    assert "trio_mode = true" in config
    inner.makepyprojecttoml(config)
    result = inner.runpytest_subprocess(*TRIO, *PLUGIN, "-W", "error")
    result.assert_outcomes(passed=2)


def test_the_readme_example_checks_what_it_claims(inner: pytest.Pytester) -> None:
    # The same file against a model that never answers: both tests must fail, not pass vacuously.
    (config,) = code_blocks("toml")
    inner.makepyprojecttoml(config)
    inner.makeconftest(
        """
        import pytest

        from livehandle.testing import Fault, Rule, Scenario, When


        @pytest.fixture
        def live_emulator_scenario():
            return Scenario(rules=[Rule(When(), [Fault("close", code=1000)])])
        """
    )
    source = (inner.path / "test_readme_example.py").read_text()
    # The module's own scenario fixture would override the conftest's: rename it away.
    source = source.replace("def live_emulator_scenario(", "def unused_scenario(")
    (inner.path / "test_readme_example.py").write_text(source)
    result = inner.runpytest_subprocess(*TRIO, *PLUGIN)
    result.assert_outcomes(failed=2)


def test_without_pytest_trio_the_fixture_is_not_found(inner: pytest.Pytester) -> None:
    assert "`fixture 'live_endpoint' not found`" in readme_testing_section()
    # As if pytest-trio were not installed: a module of its name that cannot be imported, found
    # first (the inner run's working directory comes first on its path).
    inner.makepyfile(pytest_trio="raise ImportError('pytest-trio is not installed here')")
    result = inner.runpytest_subprocess(*PLUGIN)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*fixture 'live_endpoint' not found*"])


def test_without_trio_mode_pytest_trio_raises_its_runtime_error(inner: pytest.Pytester) -> None:
    assert "pytest-trio's `RuntimeError`" in readme_testing_section()
    result = inner.runpytest_subprocess(*TRIO, *PLUGIN)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*RuntimeError*Trio fixture*"])


def howto_block(name: str) -> str:
    """The ``code-block:: python`` of docs/howto/testing.rst that defines ``name``, dedented."""
    text = (ROOT / "docs" / "howto" / "testing.rst").read_text()
    blocks = re.findall(r"^\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text, re.MULTILINE)
    (block,) = [block for block in blocks if f"def {name}(" in block]
    return textwrap.dedent(block)


def test_the_howto_speech_example_passes(inner: pytest.Pytester) -> None:
    inner.makepyprojecttoml("[tool.pytest.ini_options]\ntrio_mode = true\n")
    inner.makepyfile(test_readme_example=howto_block("test_a_spoken_request_is_answered"))
    result = inner.runpytest_subprocess(*TRIO, *PLUGIN, "-W", "error")
    result.assert_outcomes(passed=1)
