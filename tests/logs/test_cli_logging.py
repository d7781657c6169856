"""``-v/--verbose`` and ``--log-level`` on every command, and the CLI's log format."""

from __future__ import annotations

import argparse
import logging
import re
from typing import TYPE_CHECKING

import pytest
import trio

from livehandle._cli import build_parser, main
from livehandle._cli._logging import IdsFormatter, add_logging_options, level_of
from livehandle._logs import LogScope, library_logger, scoped
from tests.testing.test_cli import (
    URL_LINE,
    interrupt,
    posix_signals,
    read_line,
    start_cli,
    text_turn,
)

if TYPE_CHECKING:
    from collections.abc import Callable

COMMANDS = ("demo", "emulator", "talk")
#: The arguments each command needs to parse.
REQUIRED = {"talk": ["--input", "question.wav"]}


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_has_the_logging_options() -> None:
    found = subcommands()
    assert set(COMMANDS) <= set(found)
    for name, parser in found.items():  # a command added later gets them too
        options = {option for action in parser._actions for option in action.option_strings}
        assert {"-v", "--verbose", "--log-level"} <= options, name
        add_logging_options(parser)  # a command that added them itself is left as it is
        assert level_of(parser.parse_args(["-vv", *REQUIRED.get(name, [])])) == logging.DEBUG


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["-v"], logging.INFO),
        (["-vv"], logging.DEBUG),
        (["--verbose", "--verbose", "--verbose"], logging.DEBUG),
        (["--log-level", "debug"], logging.DEBUG),
        (["--log-level", "ERROR"], logging.ERROR),
        (["-vv", "--log-level", "WARNING"], logging.WARNING),  # the explicit level wins
    ],
)
def test_verbosity_and_log_level_set_the_level(
    command: str, flags: list[str], expected: int
) -> None:
    assert level_of(parse(command, *REQUIRED.get(command, []), *flags)) == expected


def test_the_default_is_warning_except_for_the_emulator_whose_log_is_its_output() -> None:
    assert level_of(parse("demo")) == logging.WARNING
    assert level_of(parse("talk", "--input", "q.wav")) == logging.WARNING
    assert level_of(parse("emulator")) == logging.INFO
    assert level_of(parse("emulator", "-v")) == logging.INFO
    assert level_of(parse("emulator", "-vv")) == logging.DEBUG


def test_an_unknown_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--log-level", "chatty"]) == 2
    assert "unknown log level 'chatty'" in capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_main_logs_to_stderr_at_the_level_for_the_command_then_restores(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[int] = []

    def handler(args: argparse.Namespace) -> int:
        seen.append(logging.getLogger().level)
        log = library_logger("livehandle.session")
        log.debug("debug line")
        with scoped(LogScope("s-1", 2)):
            log.info("info line")
        logging.getLogger("elsewhere").warning("a warning from another library")
        return 0

    module = __import__(f"livehandle._cli.{command}", fromlist=["run"])
    monkeypatch.setattr(module, "run", handler)
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    assert main([command, *REQUIRED.get(command, []), "-v"]) == 0
    assert seen == [logging.INFO]
    assert (root.level, root.handlers) == before  # nothing left behind
    err = capsys.readouterr().err
    assert "debug line" not in err
    assert re.search(
        r"^\S+ \S+ INFO livehandle\.session \[session=s-1 connection=2\]: info line$", err, re.M
    ), err
    assert re.search(r" WARNING elsewhere: a warning from another library$", err, re.M), err


def test_the_format_shows_the_ids_only_when_a_record_has_them() -> None:
    formatter = IdsFormatter()

    def line(**fields: object) -> str:
        record = logging.LogRecord("livehandle.x", logging.INFO, __file__, 1, "m", None, None)
        record.__dict__.update(fields)
        return formatter.format(record).split(" ", 2)[2]

    assert line() == "INFO livehandle.x: m"
    assert line(session_id=None, connection_id=None) == "INFO livehandle.x: m"
    assert line(session_id="a", connection_id=1) == "INFO livehandle.x [session=a connection=1]: m"
    assert line(session_id=None, connection_id=3) == "INFO livehandle.x [session=- connection=3]: m"


@posix_signals
async def test_the_emulator_command_logs_each_connection_and_turn_on_stderr() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            process = await start_cli(nursery, "emulator", "--port", "0", "--api-key", "k-123456")
            assert process.stdout is not None
            match = URL_LINE.fullmatch(await read_line(process.stdout))
            assert match is not None
            reply, _ = await text_turn(match[1] + "?key=k-123456", "hello")
            assert reply == "You said: hello"
            status, stderr = await interrupt(process)
    assert status == 0
    lines = stderr.decode().splitlines()
    expect: list[Callable[[str], bool]] = [
        lambda s: bool(
            re.search(
                r" INFO livehandle\.emulator \[session=conversation-1 connection=0\]: "
                r"connection 0 opened from 127\.0\.0\.1:\d+: model models/gemini-3\.8-live, "
                r"starts conversation 1$",
                s,
            )
        ),
        lambda s: s.endswith(
            ": connection 0 turn 1: user sent text 'hello'; model answered 'You said: hello'"
        ),
        lambda s: bool(re.search(r": connection 0 closed: code 1000, \d+\.\d s, 1 turn$", s)),
    ]
    assert len(lines) == len(expect), lines
    for check, text in zip(expect, lines, strict=True):
        assert check(text), text
    assert "k-123456" not in stderr.decode()
