"""``@extractor``: what it checks at decoration, and how it converts results strictly."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence  # noqa: TC003 (hints resolved at run time)
from typing import Any

import attrs
import pytest

from livehandle import (
    ExtractionFailed,
    ExtractionTrigger,
    FunctionExtractor,
    Promotion,
    TranscriptTurn,
    TurnExtractor,
    extractor,
)

TURNS = (TranscriptTurn(1, "a table for four", "For how many?"),)


@attrs.frozen
class Booking:
    name: str | None = None
    party_size: int | None = None


@dataclasses.dataclass(frozen=True)
class Intent:
    label: str
    score: float


def test_bare_decorator_defaults() -> None:
    @extractor
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    assert isinstance(booking, FunctionExtractor)
    assert isinstance(booking, TurnExtractor)
    assert booking.name == "booking"
    assert booking.window == 1
    assert booking.trigger == ExtractionTrigger.EVERY_TURN
    assert booking.promotions == ()
    assert booking.timeout == 10.0
    assert booking.should_extract(TURNS) is True


def test_options_are_kept() -> None:
    rules = [Promotion.keep_known("name")]

    @extractor(
        name="slots",
        window=3,
        trigger=ExtractionTrigger.every(2),
        promotions=rules,
        timeout=2.5,
        should_extract=lambda turns: len(turns) > 1,
    )
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    assert (booking.name, booking.window, booking.timeout) == ("slots", 3, 2.5)
    assert booking.trigger == ExtractionTrigger.every(2)
    assert booking.promotions == tuple(rules)
    assert booking.should_extract(TURNS) is False
    assert booking.should_extract(TURNS * 2) is True


def test_repr_says_what_it_is() -> None:
    @extractor(name="slots", window=3, trigger=ExtractionTrigger.every(2), timeout=4)
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    text = repr(booking)
    assert text.startswith("FunctionExtractor('slots', fn=")
    assert "booking()" in text
    assert "window=3" in text and "every 2 turns" in text and "timeout=4" in text
    assert "Booking | None" in text


def test_missing_return_annotation_is_a_type_error_naming_the_function() -> None:
    async def guess(turns):  # type: ignore[no-untyped-def]
        return 1

    with pytest.raises(TypeError, match=r"guess\(\) has no return annotation"):
        extractor(guess)


def test_none_return_annotation_is_refused() -> None:
    async def nothing(turns: Sequence[TranscriptTurn]) -> None:
        return None

    with pytest.raises(TypeError, match=r"nothing\(\) is annotated -> None"):
        extractor(nothing)


def test_sync_function_is_a_type_error() -> None:
    def sync(turns: Sequence[TranscriptTurn]) -> int:
        return 1

    with pytest.raises(TypeError, match=r"sync\(\) must be an async function"):
        extractor(sync)  # type: ignore[arg-type]


def test_unresolvable_hint_is_a_type_error() -> None:
    async def odd(turns: Sequence[TranscriptTurn]) -> NoSuchType:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(TypeError, match=r"odd\(\): cannot resolve the return annotation"):
        extractor(odd)


def test_only_the_return_annotation_is_resolved() -> None:
    # The window's annotation may be a name imported under TYPE_CHECKING only.
    async def fine(turns: NotImportedAtRunTime) -> int:  # type: ignore[name-defined]  # noqa: F821
        return len(turns)

    assert extractor(fine).name == "fine"


def test_decorating_twice_is_refused() -> None:
    @extractor
    async def once(turns: Sequence[TranscriptTurn]) -> int:
        return 1

    with pytest.raises(TypeError, match="already an extractor"):
        extractor(once)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"window": 0}, ValueError, "window must be at least 1"),
        ({"window": 1.5}, TypeError, "window must be an int"),
        ({"window": True}, TypeError, "window must be an int"),
        ({"timeout": 0}, ValueError, "timeout must be a positive"),
        ({"timeout": float("inf")}, ValueError, "timeout must be a positive"),
        ({"timeout": "3"}, TypeError, "timeout must be a number"),
        ({"name": ""}, ValueError, "name must be a non-empty string"),
        ({"name": 3}, TypeError, "name must be a string"),
        ({"trigger": "every_turn"}, TypeError, "trigger"),
        ({"should_extract": 3}, TypeError, "should_extract must be callable"),
        ({"promotions": [("name",)]}, TypeError, "promotions must be Promotion"),
        ({"promotions": Promotion.overwrite("name")}, TypeError, "not one rule"),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], match: str) -> None:
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    with pytest.raises(error, match=match):
        extractor(**options)(booking)


def test_async_should_extract_is_refused() -> None:
    async def wanted(turns: Sequence[TranscriptTurn]) -> bool:
        return True

    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    with pytest.raises(TypeError, match="sync"):
        extractor(should_extract=wanted)(booking)  # type: ignore[arg-type]


def test_promotion_of_an_unknown_field_is_refused_at_decoration() -> None:
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    with pytest.raises(ValueError, match=r"'date', which the result type does not have"):
        extractor(promotions=[Promotion.overwrite("date")])(booking)


def test_promotion_onto_the_extractors_own_key_or_twice_onto_one_key_is_refused() -> None:
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    with pytest.raises(ValueError, match="overwrite the extractor's own result"):
        extractor(promotions=[Promotion.overwrite("name").to("booking")])(booking)
    with pytest.raises(ValueError, match="two promotions write key 'who'"):
        extractor(
            promotions=[
                Promotion.overwrite("name").to("who"),
                Promotion.keep_known("party_size").to("who"),
            ]
        )(booking)


async def test_dict_result_is_structured_into_the_annotated_class() -> None:
    @extractor
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return {"name": "Ann", "party_size": 4.0}

    assert await booking(TURNS) == Booking("Ann", 4)
    assert await booking.extract(TURNS) == Booking("Ann", 4)


async def test_typed_result_is_checked_by_a_round_trip() -> None:
    @extractor
    async def intent(turns: Sequence[TranscriptTurn]) -> Intent:
        return Intent("book", 0.5)

    @extractor
    async def lying(turns: Sequence[TranscriptTurn]) -> Intent:
        return Intent("book", "high")  # type: ignore[arg-type]

    assert await intent(TURNS) == Intent("book", 0.5)
    with pytest.raises(ExtractionFailed, match=r"does not fit Intent: .*at \$\.score") as info:
        await lying(TURNS)
    assert info.value.extractor == "lying"
    assert isinstance(info.value.__cause__, TypeError)


async def test_none_is_a_result_only_where_the_annotation_allows_it() -> None:
    @extractor
    async def maybe(turns: Sequence[TranscriptTurn]) -> Booking | None:
        return None

    @extractor
    async def always(turns: Sequence[TranscriptTurn]) -> Booking:
        return None  # type: ignore[return-value]

    assert await maybe(TURNS) is None
    with pytest.raises(ExtractionFailed, match="does not fit Booking"):
        await always(TURNS)


async def test_a_result_with_no_json_form_is_an_extraction_failure() -> None:
    @extractor
    async def blob(turns: Sequence[TranscriptTurn]) -> dict[str, Any]:
        return {"data": b"\x00"}

    with pytest.raises(ExtractionFailed, match="blob") as info:
        await blob(TURNS)
    assert isinstance(info.value.__cause__, TypeError)


async def test_a_wrong_value_of_the_right_kind_is_refused() -> None:
    @extractor
    async def size(turns: Sequence[TranscriptTurn]) -> int:
        return 2.5  # type: ignore[return-value]

    with pytest.raises(ExtractionFailed, match="does not fit int") as info:
        await size(TURNS)
    assert isinstance(info.value.__cause__, ValueError)


async def test_the_function_receives_the_window_and_its_exceptions_propagate_when_called() -> None:
    seen: list[Sequence[TranscriptTurn]] = []

    @extractor
    async def boom(turns: Sequence[TranscriptTurn]) -> int:
        seen.append(turns)
        raise KeyError("nope")

    with pytest.raises(KeyError):
        await boom(TURNS)
    assert seen == [TURNS]


def test_extraction_failed_pickles_with_its_attributes() -> None:
    error = ExtractionFailed("booking", "timed out after 2 s", TimeoutError("x"), timed_out=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.extractor, copy.reason, copy.timed_out) == ("booking", "timed out after 2 s", True)
    assert str(copy) == "extractor 'booking' failed: timed out after 2 s"
