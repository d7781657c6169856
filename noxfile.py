"""Developer sessions.

CI (``.ci/run``) runs ``tests coverage lint typecheck compat docs demo fuzz``.

Every pytest run goes through ``session.run``, which fails the session on any exit status but 0:
a selection that collects nothing (pytest's status 5) fails it too, never passes silently.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

# Tool versions are pinned so that CI on a fresh clone checks exactly what developers checked.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
GOOGLE_GENAI = "google-genai==3.6.1"  # the client nobody here wrote; bump deliberately
SPHINX = "sphinx==9.0.4"
FURO = "furo==2025.12.19"
COVERAGE = "coverage==7.18.0"
# tests/otel reads the export back with the SDK's in-memory span exporter and metric reader
OTEL_SDK = "opentelemetry-sdk>=1.27,<2"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest exits 5 when it collects nothing; nox fails on that).

    The Redis tests need ``redis-server`` on PATH: without it they skip, or fail when ``CI=true``.
    """
    session.install("-e", ".[test,redis,websockets,llm,otel]", OTEL_SDK)
    session.run("pytest", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """Branch coverage of the package by the test suite; fails under 95 % (pyproject.toml).

    ``coverage run`` starts measuring before pytest starts, so it sees the package imported while
    pytest loads its plugins: livehandle's own pytest11 plugin imports it then, before pytest-cov
    would start measuring, which would leave every module's import-time lines uncounted.
    """
    session.install("-e", ".[test,redis,websockets,llm,otel]", OTEL_SDK, COVERAGE)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")  # this process's data and its subprocesses'
    session.run("coverage", "report")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def fuzz(session: nox.Session) -> None:
    """Hypothesis fuzzing at 10,000 examples per test (tests/fuzz; the ``fuzz`` profile).

    Both decoders (bytes, JSON values, mutated messages), scenario parsing, and live handles fed
    mutated frames.  The other sessions run the same tests at 100 examples.  The seed is
    ``FUZZ_SEED`` when set, else a fresh random one; it is printed first, so any run (a CI
    failure included) can be replayed exactly with ``FUZZ_SEED=<seed> nox -s fuzz``.
    """
    session.install("-e", ".[test]")
    seed = os.environ.get("FUZZ_SEED") or str(random.SystemRandom().randrange(2**32))
    session.log(f"fuzz seed {seed}: replay with FUZZ_SEED={seed} nox -s fuzz")
    session.run(
        "pytest",
        "tests/fuzz",
        f"--hypothesis-seed={seed}",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"LIVEHANDLE_FUZZ_PROFILE": "fuzz"},
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    # websockets_trio.py is typed against websockets, the LlmExtractor against httpx, the
    # OpenTelemetry observer against opentelemetry-api
    session.install("-e", ".[test,websockets,llm,otel]", MYPY)
    session.run("mypy", "--strict", "livehandle")


@nox.session
def compat(session: nox.Session) -> None:
    """google-genai's own, unmodified live client against the emulator (tests/compat).

    Also against ``python -m livehandle emulator --tls`` (the ``tls`` extra) in a subprocess.
    """
    session.install("-e", ".[test,tls]", GOOGLE_GENAI)
    # The test module skips itself when google-genai is missing; make sure it is not missing here.
    session.run("python", "-c", "import google.genai")
    session.run("pytest", "tests/compat", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Client benchmarks (benchmarks/run_all.py): CPU, latency, memory, capacity; not tests."""
    # websockets: the bare websockets clients (Trio and asyncio) and the handle's optional
    # websockets transport are measured next to trio-websocket; pinned like google-genai.
    session.install("-e", ".[test]", GOOGLE_GENAI, "trustme", "websockets==17.4")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into docs/_build/html; any Sphinx warning fails the build."""
    session.install("-e", ".", SPHINX, FURO)
    # -E: read every page afresh, so a warning is reported on every run, not only the first one.
    session.run(
        "sphinx-build",
        *("-W", "--keep-going", "-n", "-E", "-b", "html"),
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session
def demo(session: nox.Session) -> None:
    """The README as a new user follows it, from the wheel: the demo and its testing example.

    Builds the wheel, installs it (not editable, with the ``test`` extra) and, from a folder
    outside the checkout, runs ``livehandle --version``, ``livehandle demo`` (~16 s) and the
    README's testing example (its pyproject.toml and test file) with the installed pytest plugin.
    """
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), ".")
    (wheel,) = dist.glob("livehandle-*.whl")
    session.install(f"livehandle[test] @ {wheel.as_uri()}")
    # The virtualenv is reused between runs: make sure this wheel, not an older build, is in it.
    session.install("--force-reinstall", "--no-deps", str(wheel))
    outside = tmp / "outside"
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir()
    section = Path("README.md").read_text().partition("\n## Testing your own bot\n")[2]
    (outside / "pyproject.toml").write_text(_fenced(section, "toml"))
    (outside / "test_readme_example.py").write_text(_fenced(section, "python"))
    session.chdir(outside)
    session.run("python", "-c", "import livehandle; assert 'site-packages' in livehandle.__file__")
    session.run("livehandle", "--version")
    session.run("livehandle", "demo", "--output", str(outside / "livehandle-demo.wav"))
    session.run("pytest", "-q", "-p", "no:cacheprovider", "test_readme_example.py")


def _fenced(markdown: str, language: str) -> str:
    """The one ```language block of a README section."""
    (block,) = re.findall(rf"^```{language}\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)
    return block
