"""What a package index and ``pip install`` see: metadata, LICENSE, URLs, the console script.

The metadata tests read pyproject.toml; one slow test builds the wheel with pip, offline, with the
installed hatchling (no build isolation: tests never reach beyond loopback; the ``test`` extra
installs hatchling), and reads what it holds.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import livehandle
from livehandle._cli.script import console_main

ROOT = Path(livehandle.__file__).resolve().parent.parent
REPOSITORY = "https://github.com/livehandle/livehandle"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
WHEEL_BUILD_BOUND = 120  # seconds to build the wheel


def test_the_license_file_is_the_mit_license_the_metadata_names() -> None:
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) the livehandle authors\n")
    assert "Permission is hereby granted, free of charge" in text


def test_project_urls_are_absolute_and_point_at_the_repository() -> None:
    urls = PROJECT["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())


def test_the_console_script_names_a_function_that_exists() -> None:
    target = PROJECT["scripts"]["livehandle"]
    module, _, function = target.partition(":")
    assert getattr(importlib.import_module(module), function) is console_main


def test_the_console_script_exits_with_mains_status_and_names_itself_livehandle(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["livehandle", "--version"])
    with pytest.raises(SystemExit) as caught:
        console_main()
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"livehandle {livehandle.__version__}\n"

    monkeypatch.setattr(sys, "argv", ["livehandle", "no-such-command"])
    with pytest.raises(SystemExit) as caught:
        console_main()
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("usage: livehandle [-h]")


def test_the_long_description_reads_right_on_a_package_index() -> None:
    """The index shows README.pypi.md: installing from the index, no clone, no relative link."""
    assert PROJECT["readme"] == "README.pypi.md"
    for name in ("README.pypi.md", "README.md"):
        text = (ROOT / name).read_text()
        targets = re.findall(r"\]\(([^)]+)\)", text)  # [text](target) links and images
        assert targets
        relative = [target for target in targets if not target.startswith("https://")]
        assert relative == [], name  # a relative link is broken on the index and off GitHub
    description = (ROOT / "README.pypi.md").read_text()
    assert "pip install livehandle\n" in description
    assert "clone" not in description
    assert "pip install -e" not in description


def test_the_readme_starts_with_the_two_commands_for_a_fresh_machine() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert first_block.strip().splitlines() == [
        "pip install -e . && python -m livehandle demo",
        "pip install nox && nox -s tests",
    ]


@pytest.mark.slow
def test_the_wheel_holds_the_metadata_license_and_script(tmp_path: Path) -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("hatchling", reason="the wheel is built offline with hatchling")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*command, "--no-index", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=WHEEL_BUILD_BOUND,
    )
    (wheel,) = tmp_path.glob("livehandle-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        info = f"livehandle-{livehandle.__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert "[console_scripts]\nlivehandle = livehandle._cli.script:console_main\n" in entry_points
    assert "[pytest11]\nlivehandle = livehandle.testing.pytest_plugin\n" in entry_points
    assert license_text == (ROOT / "LICENSE").read_text()
    headers, _, description = metadata.partition("\n\n")
    assert "License-Expression: MIT" in headers
    assert "Description-Content-Type: text/markdown" in headers
    assert f"Project-URL: Source, {REPOSITORY}" in headers
    assert f"Project-URL: Issues, {REPOSITORY}/issues" in headers
    assert description.strip() == (ROOT / "README.pypi.md").read_text().strip()


def test_the_script_runs_in_a_fresh_interpreter() -> None:
    # What the installed `livehandle` wrapper does: import the entry point and call it.
    code = "import sys; from livehandle._cli.script import console_main; console_main()"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code, "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"livehandle {livehandle.__version__}\n")


def test_the_installed_livehandle_command_prints_the_version() -> None:
    script = Path(sys.executable).parent / ("livehandle.exe" if os.name == "nt" else "livehandle")
    if not script.exists():
        pytest.skip("livehandle is not installed with its console script here (pip install -e .)")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert re.fullmatch(r"livehandle \S+\n", result.stdout)
