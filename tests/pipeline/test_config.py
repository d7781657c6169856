"""``LiveConfig(extractors=..., turn_step_timeout=...)`` and ``add_context``'s argument checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehandle import ExtractionTrigger, LiveConfig
from livehandle._runtime.pipeline import context_contents
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livehandle import TranscriptTurn


class Named:
    """A hand-written extractor: the protocol's members, nothing else."""

    def __init__(self, name: object) -> None:
        self.name = name
        self.window = 1
        self.trigger = ExtractionTrigger.EVERY_TURN

    def should_extract(self, window: Sequence[TranscriptTurn]) -> bool:
        return True

    async def extract(self, window: Sequence[TranscriptTurn]) -> object:
        return {"turns": len(window)}


def test_extractors_are_stored_as_a_tuple_in_order() -> None:
    first, second = Named("a"), Named("b")
    config = LiveConfig(extractors=[first, second])
    assert config.extractors == (first, second)
    assert LiveConfig().extractors == ()


def test_two_extractors_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two extractors are named 'a'"):
        LiveConfig(extractors=[Named("a"), Named("a")])


@pytest.mark.parametrize("name", ["", 3])
def test_an_extractor_needs_a_non_empty_name(name: object) -> None:
    with pytest.raises(ValueError, match=r"extractors\[0\]: the name must be a non-empty string"):
        LiveConfig(extractors=[Named(name)])


def test_something_that_is_no_extractor_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"extractors\[1\]: expected .*got function"):
        LiveConfig(extractors=[Named("a"), lambda turns: None])
    with pytest.raises(TypeError, match="expected an iterable of extractors, got str"):
        LiveConfig(extractors="booking")


def test_the_step_timeout_must_be_positive() -> None:
    assert LiveConfig().turn_step_timeout == 30.0
    with pytest.raises(ValueError, match="turn_step_timeout"):
        LiveConfig(turn_step_timeout=0)


def test_context_is_a_text_a_content_or_contents() -> None:
    content = m.Content(parts=(m.Part(text="x"),), role="model")
    assert context_contents("Remember the party size.") == [
        m.Content(parts=(m.Part(text="Remember the party size."),), role="user")
    ]
    assert context_contents(content) == [content]
    assert context_contents((content, content)) == [content, content]
    with pytest.raises(ValueError, match="context"):
        context_contents("")
    with pytest.raises(ValueError, match="must not be empty"):
        context_contents([])
    with pytest.raises(TypeError, match=r"context\[1\] must be a Content, got str"):
        context_contents([content, "text"])
    with pytest.raises(TypeError, match="got bytes"):
        context_contents(b"raw")
