"""Scenarios: a small declarative way to say how the emulated model behaves.

A :class:`Scenario` is a list of :class:`Rule` s.  Each user turn (typed text, a speech turn, or
the late result of a background tool) is matched against the rules in order; the first rule that
matches and has uses left supplies the reply, a sequence of steps:

* :class:`Say` -- the model answers with text (TEXT modality) or speech (AUDIO: synthesized audio
  plus an output transcription of the same words);
* :class:`Audio` -- N milliseconds of model audio, optionally with its transcript;
* :class:`Transcript` -- a bare transcription fragment (of the model, or of the user);
* :class:`CallTools` -- one ``toolCall`` message with one or more calls; the reply waits for the
  matching ``toolResponse`` (BLOCKING functions) and continues with ``{result}`` filled in;
* :class:`Pause` -- the model says nothing for a while (Trio time, so MockClock tests are instant);
* :class:`Fault` -- something goes wrong: a dropped connection, a close code, a malformed frame...

Text in steps is a template: ``{user_text}``, ``{instruction}``, ``{turn}``, ``{result}`` and
``{results}`` (tool outputs), ``{name}`` (the tool) are filled in; unknown names stay as they are.
No rule matching means the ``default`` reply, an echo: ``"You said: {user_text}"``.

The same scenario can be written as JSON (:meth:`Scenario.from_dict`, :meth:`Scenario.load`)::

    {"rules": [
        {"when": {"text": "weather"},
         "reply": [{"call": [{"name": "get_weather", "args": {"city": "Paris"}}]},
                   {"say": "It is {result} in Paris."}]},
        {"when": {"kind": "speech"}, "reply": [{"audio_ms": 1200, "transcript": "Go on."}]}],
     "default": [{"say": "You said: {user_text}"}],
     "go_away_after": 540,
     "extractions": [{"status": 429, "times": 1}, {"when": "book", "reply": {"party": 4}}]}

``extractions`` script the emulator's ``generateContent`` endpoint (what an
:class:`~livehandle.LlmExtractor` is answered): see :class:`Extract`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs

from livehandle.testing._extractions import Extract, extractions_from_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "Audio",
    "CallTools",
    "Fault",
    "FaultKind",
    "Pause",
    "Rule",
    "Say",
    "Scenario",
    "Step",
    "ToolCallSpec",
    "Transcript",
    "TurnKind",
    "UserTurn",
    "When",
]

TurnKind = Literal["text", "speech", "tool_result"]

FaultKind = Literal[
    "drop",  # close the TCP connection without a close frame
    "close",  # close with `code` and `reason`
    "malformed",  # send a frame that is not JSON
    "unknown_kind",  # send a message of a kind no client knows
    "usage_only",  # send a message that carries only usageMetadata
    "empty_content",  # send an empty serverContent
    "stall",  # stop mid-reply and never continue (barge-in still works)
    "go_away",  # send goAway with `time_left`, then close 1011 when it runs out
]
_FAULT_KINDS = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]


@attrs.frozen
class UserTurn:
    """What the user (or a background tool) just said, as the rules see it."""

    kind: TurnKind
    text: str
    duration_ms: float | None = None
    tool_name: str | None = None
    tool_result: str | None = None


@attrs.frozen
class Say:
    """The model answers with this text (a template)."""

    text: str


@attrs.frozen
class Audio:
    """``ms`` milliseconds of model audio, with an optional output transcript."""

    ms: int = attrs.field(validator=attrs.validators.gt(0))
    transcript: str | None = None


@attrs.frozen
class Transcript:
    """A transcription fragment: of the model's output, or of the user's input (``of_user``)."""

    text: str
    of_user: bool = False


@attrs.frozen
class ToolCallSpec:
    """One function call; ``id`` is generated when None."""

    name: str
    args: dict[str, Any] = attrs.field(factory=dict)
    id: str | None = None


def _calls(calls: Iterable[ToolCallSpec]) -> tuple[ToolCallSpec, ...]:
    return tuple(calls)


@attrs.frozen
class CallTools:
    """Send one ``toolCall`` with these calls, then wait for the BLOCKING ones to be answered."""

    calls: tuple[ToolCallSpec, ...] = attrs.field(converter=_calls)

    def __attrs_post_init__(self) -> None:
        if not self.calls:
            raise ValueError("CallTools needs at least one call")


@attrs.frozen
class Pause:
    """Say nothing for ``seconds`` (Trio time)."""

    seconds: float = attrs.field(validator=attrs.validators.ge(0))


@attrs.frozen
class Fault:
    """Something goes wrong at this point of the reply (see :data:`FaultKind`)."""

    kind: FaultKind
    code: int = 1011
    reason: str = "Internal error occurred."
    time_left: float = 50.0

    def __attrs_post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(_FAULT_KINDS)}")
        # RFC 6455 §7.4: 1004-1006 and 1015 never travel in a close frame, 1016-2999 are
        # reserved; a real server can send only the others (a drop is the "drop" fault).
        code: object = self.code
        if isinstance(code, bool) or not isinstance(code, int) or not _sendable_close_code(code):
            raise ValueError(
                f"fault close code {code!r} cannot be sent in a close frame; use 1000-1003, "
                "1007-1014 or 3000-4999"
            )


def _sendable_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


Step: TypeAlias = Say | Audio | Transcript | CallTools | Pause | Fault

# Converters: accept lists (what people write), store tuples (frozen and hashable).


def _step_tuple(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


def _rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(rules)


def _extractions(rules: Iterable[Extract]) -> tuple[Extract, ...]:
    return tuple(rules)


@attrs.frozen
class When:
    """Which user turns a rule answers.

    Attributes:
        text: a regular expression searched (case-insensitively) in the turn's text: what was
            typed, the transcript of a speech turn, or the tool result.
        kind: ``"any"`` (default), ``"text"``, ``"speech"`` or ``"tool_result"``.
    """

    text: str | None = None
    kind: Literal["any", "text", "speech", "tool_result"] = "any"
    _pattern: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        try:
            pattern = None if self.text is None else re.compile(self.text, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {self.text!r}: {exc}") from None
        object.__setattr__(self, "_pattern", pattern)

    def matches(self, turn: UserTurn) -> bool:
        """True when ``turn`` is of the right kind and its text matches."""
        if self.kind == "any":
            if turn.kind == "tool_result":
                return False  # background results go to rules that ask for them
        elif self.kind != turn.kind:
            return False
        return self._pattern is None or self._pattern.search(turn.text) is not None


@attrs.frozen
class Rule:
    """When a turn matches ``when``, answer with ``reply``; at most ``times`` times if set."""

    when: When
    reply: tuple[Step, ...] = attrs.field(converter=_step_tuple)
    times: int | None = None


_ECHO: tuple[Step, ...] = (Say("You said: {user_text}"),)
_TOOL_RESULT: tuple[Step, ...] = (Say("{name} finished: {result}"),)


@attrs.frozen
class Scenario:
    """How the emulated model behaves on one session (its rules survive resumption).

    Attributes:
        rules: tried in order for every user turn.
        default: the reply when no rule matches (an echo).
        on_tool_result: the reply to a background (NON_BLOCKING) tool result scheduled
            ``WHEN_IDLE`` or ``INTERRUPT``, unless a ``tool_result`` rule matches.
        setup_delay: seconds to wait before answering ``setup``.
        setup_complete: False never answers ``setup`` (the client should time out).
        go_away_after: seconds after connecting to send ``goAway`` (None: never).
        go_away_after_turns: send ``goAway`` after this many completed turns on one connection.
        go_away_time_left: the ``timeLeft`` of ``goAway`` (its lead time); the connection closes
            with 1011 ``Deadline expired before operation could complete.`` when it runs out
            (wire-protocol.md §3.5, §5.4).
        connection_lifetime: seconds a connection lives (None: no limit; the real server's is
            about 600, wire-protocol.md §5.2): ``goAway`` at ``connection_lifetime -
            go_away_time_left``, then the 1011 deadline close at ``connection_lifetime``.
        silent_after_go_away: after ``goAway`` the server sends nothing more (no replies, no
            handles) until its deadline close, as the real server can (tau2-bench PR #461).
        handle_ttl: seconds a resumption handle stays valid after the connection that issued it
            ended (wire-protocol.md §5.2: 2 h); later it is refused like an unknown one.
        checkpoint_every_messages: Vertex transparent mode only: also take a checkpoint (and
            send a new handle) at a quiet point once this many client messages have been
            consumed since the last one (None: only at turn and tool boundaries).
        extractions: how the emulator's ``generateContent`` answers (what an
            :class:`~livehandle.LlmExtractor` gets): tried in order for every request, the
            first :class:`Extract` that matches and has uses left answering.  With none
            matching, the request is refused with HTTP 400 (the cause in its message).
    """

    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules)
    default: tuple[Step, ...] = attrs.field(default=_ECHO, converter=_step_tuple)
    on_tool_result: tuple[Step, ...] = attrs.field(default=_TOOL_RESULT, converter=_step_tuple)
    setup_delay: float = 0.0
    setup_complete: bool = True
    go_away_after: float | None = None
    go_away_after_turns: int | None = None
    go_away_time_left: float = attrs.field(default=50.0, validator=attrs.validators.ge(0))
    connection_lifetime: float | None = attrs.field(default=None)
    silent_after_go_away: bool = False
    handle_ttl: float = attrs.field(default=7200.0, validator=attrs.validators.gt(0))
    checkpoint_every_messages: int | None = attrs.field(default=None)
    extractions: tuple[Extract, ...] = attrs.field(default=(), converter=_extractions)

    def __attrs_post_init__(self) -> None:
        lifetime = self.connection_lifetime
        if lifetime is not None and not lifetime >= self.go_away_time_left:
            raise ValueError(
                f"connection_lifetime ({lifetime}) must be at least go_away_time_left "
                f"({self.go_away_time_left}): goAway comes that long before the end"
            )
        every = self.checkpoint_every_messages
        if every is not None and every < 1:
            raise ValueError(f"checkpoint_every_messages must be at least 1, got {every}")

    @classmethod
    def echo(cls) -> Scenario:
        """The default: every turn is answered with ``"You said: <what the user said>"``."""
        return cls()

    def reply_for(self, turn: UserTurn, uses: dict[int, int]) -> tuple[Step, ...]:
        """Pick the reply for ``turn``; ``uses`` counts how often each rule was used (updated)."""
        for index, rule in enumerate(self.rules):
            if rule.times is not None and uses.get(index, 0) >= rule.times:
                continue
            if rule.when.matches(turn):
                uses[index] = uses.get(index, 0) + 1
                return rule.reply
        return self.on_tool_result if turn.kind == "tool_result" else self.default

    # -- JSON ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario from a JSON file (see the module docstring for the format).

        Raises:
            ValueError: naming the file and saying which of three things is wrong: it
                ``cannot read scenario file`` (missing, unreadable, not UTF-8), it holds
                ``invalid JSON at line L column C``, or it is ``not a valid scenario`` (what
                :meth:`from_dict` rejects, with the path inside the JSON).
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read scenario file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"cannot read scenario file {path}: not UTF-8 text ({exc})") from None
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError(f"scenario file {path}: invalid JSON: nesting too deep") from None
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"scenario file {path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                f"{exc.msg}"
            ) from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"scenario file {path}: not a valid scenario: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """Parse a scenario from JSON text."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("scenario is not valid JSON: nesting too deep") from None
        except ValueError as exc:
            raise ValueError(f"scenario is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> Scenario:
        """Build a scenario from decoded JSON; raises ValueError naming what is wrong and where."""
        obj = _mapping(data, "scenario")
        known = {
            "rules", "default", "on_tool_result", "setup_delay", "setup_complete",
            "go_away_after", "go_away_after_turns", "go_away_time_left", "connection_lifetime",
            "silent_after_go_away", "handle_ttl", "checkpoint_every_messages", "extractions",
        }  # fmt: skip
        _no_extra(obj, known, "scenario")
        kwargs: dict[str, Any] = {}
        if "rules" in obj:
            kwargs["rules"] = [
                _rule(item, f"rules[{i}]") for i, item in enumerate(_list(obj["rules"], "rules"))
            ]
        for key in ("default", "on_tool_result"):
            if key in obj:
                kwargs[key] = _steps(obj[key], key)
        numbers = ("setup_delay", "go_away_after", "go_away_time_left", "connection_lifetime")
        for key in (*numbers, "handle_ttl"):
            if key in obj and obj[key] is not None:
                kwargs[key] = _number(obj[key], key)
        for key in ("go_away_after_turns", "checkpoint_every_messages"):
            if key in obj and obj[key] is not None:
                kwargs[key] = _int(obj[key], key)
        for key in ("setup_complete", "silent_after_go_away"):
            if key in obj:
                kwargs[key] = _bool(obj[key], key)
        if "extractions" in obj:
            kwargs["extractions"] = extractions_from_json(obj["extractions"], "extractions")
        try:
            return cls(**kwargs)
        except ValueError as exc:
            raise ValueError(f"scenario: {exc}") from None


# -- JSON parsing helpers: every error names the path of the bad value ------------------------


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}")
    return float(value)


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, got {type(value).__name__}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {type(value).__name__}")
    return value


def _no_extra(obj: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(obj) - known)
    if extra:
        raise ValueError(f"{where}: unknown key(s) {', '.join(extra)}; expected {sorted(known)}")


def _rule(value: object, where: str) -> Rule:
    obj = _mapping(value, where)
    _no_extra(obj, {"when", "reply", "times"}, where)
    when_obj = _mapping(obj.get("when", {}), f"{where}.when")
    _no_extra(when_obj, {"text", "kind"}, f"{where}.when")
    kind = when_obj.get("kind", "any")
    if kind not in ("any", "text", "speech", "tool_result"):
        raise ValueError(f"{where}.when.kind: expected any, text, speech or tool_result")
    text = when_obj.get("text")
    try:
        when = When(None if text is None else _str(text, f"{where}.when.text"), kind)
    except ValueError as exc:
        raise ValueError(f"{where}.when: {exc}") from None
    if "reply" not in obj:
        raise ValueError(f"{where}: a rule needs a reply")
    times = obj.get("times")
    return Rule(
        when,
        _steps(obj["reply"], f"{where}.reply"),
        None if times is None else _int(times, f"{where}.times"),
    )


def _steps(value: object, where: str) -> tuple[Step, ...]:
    return tuple(_step(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where)))


def _step(value: object, where: str) -> Step:
    obj = _mapping(value, where)
    try:
        if "say" in obj:
            _no_extra(obj, {"say"}, where)
            return Say(_str(obj["say"], f"{where}.say"))
        if "audio_ms" in obj:
            _no_extra(obj, {"audio_ms", "transcript"}, where)
            transcript = obj.get("transcript")
            return Audio(
                _int(obj["audio_ms"], f"{where}.audio_ms"),
                None if transcript is None else _str(transcript, f"{where}.transcript"),
            )
        if "transcript" in obj:
            _no_extra(obj, {"transcript", "of_user"}, where)
            return Transcript(
                _str(obj["transcript"], f"{where}.transcript"),
                _bool(obj.get("of_user", False), f"{where}.of_user"),
            )
        if "call" in obj:
            _no_extra(obj, {"call"}, where)
            calls = []
            for i, item in enumerate(_list(obj["call"], f"{where}.call")):
                call = _mapping(item, f"{where}.call[{i}]")
                _no_extra(call, {"name", "args", "id"}, f"{where}.call[{i}]")
                call_id = call.get("id")
                calls.append(
                    ToolCallSpec(
                        _str(call.get("name"), f"{where}.call[{i}].name"),
                        dict(_mapping(call.get("args", {}), f"{where}.call[{i}].args")),
                        None if call_id is None else _str(call_id, f"{where}.call[{i}].id"),
                    )
                )
            return CallTools(tuple(calls))
        if "pause" in obj:
            _no_extra(obj, {"pause"}, where)
            return Pause(_number(obj["pause"], f"{where}.pause"))
        if "fault" in obj:
            _no_extra(obj, {"fault", "code", "reason", "time_left"}, where)
            return Fault(
                _str(obj["fault"], f"{where}.fault"),  # type: ignore[arg-type]  # checked by Fault
                _int(obj.get("code", 1011), f"{where}.code"),
                _str(obj.get("reason", "Internal error occurred."), f"{where}.reason"),
                _number(obj.get("time_left", 50.0), f"{where}.time_left"),
            )
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None
    raise ValueError(
        f"{where}: a step is one of say, audio_ms, transcript, call, pause, fault; "
        f"got {sorted(obj)}"
    )
