"""How events and context are delivered.

:class:`Delivery` holds the fast-lane policies; :class:`ContextDelivery` says when context built
at a turn boundary reaches the model.
"""

from __future__ import annotations

import enum
from typing import Literal, TypeAlias

import attrs

from livehandle._config.checks import one_of

__all__ = ["ContextDelivery", "Delivery", "DeliveryPolicy"]

#: What a fast lane does when its consumer is behind.
DeliveryPolicy: TypeAlias = Literal["lossless", "drop_newest"]

_DELIVERY_POLICIES: tuple[str, ...] = ("lossless", "drop_newest")


_check_policy = one_of(_DELIVERY_POLICIES, "delivery policy")


@attrs.frozen(kw_only=True)
class Delivery:
    """Delivery policy of each fast-lane event class.

    Fast-lane events reach the LiveEvent broadcast as they arrive; nothing waits and nothing is
    dropped on the way (each subscriber's own bounded buffer reports ``Lagged`` if it falls
    behind).  The policy matters while a barge-in is being handled: ``"lossless"`` (the default)
    holds the next reply's events until ``Interrupted`` has been published (bounded by
    ``lane_capacity``; beyond it they are dropped and counted), ``"drop_newest"`` drops them at
    once and counts the drops in telemetry.  Choose ``drop_newest`` where a late event is worth
    less than a missing one, never for data you must account for.

    Attributes:
        audio: model audio chunks.
        media: other model media (images, video frames).
        text: model text parts.
        transcript: input and output transcription fragments.
        thought: model thought parts.
        vad: voice-activity edges.

    Raises:
        ValueError: a policy is neither ``"lossless"`` nor ``"drop_newest"``.
    """

    audio: DeliveryPolicy = attrs.field(default="lossless", validator=_check_policy)
    media: DeliveryPolicy = attrs.field(default="lossless", validator=_check_policy)
    text: DeliveryPolicy = attrs.field(default="lossless", validator=_check_policy)
    transcript: DeliveryPolicy = attrs.field(default="lossless", validator=_check_policy)
    thought: DeliveryPolicy = attrs.field(default="lossless", validator=_check_policy)
    vad: DeliveryPolicy = attrs.field(default="lossless", validator=_check_policy)


class ContextDelivery(enum.Enum):
    """When context built at a turn boundary reaches the model.

    Attributes:
        IMMEDIATE: sent during the turn-boundary processing (the default).
        DEFERRED: queued in a :class:`PendingContext` and sent with the user's next audio, text
            or video; an armed prompt waits for the voice reactor.
    """

    IMMEDIATE = "immediate"
    DEFERRED = "deferred"
