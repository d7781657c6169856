"""Non-blocking fan-out of events from one producer to any number of subscribers.

The session's reader task publishes every decoded server event to a :class:`Broadcast`; each
consumer (audio player, transcript view, logger) holds its own :class:`Subscription`.

Guarantees:

* :meth:`Broadcast.publish` is synchronous and never blocks or fails because of a slow
  subscriber, so one stuck consumer cannot stall the reader or the other consumers.
* Each subscription has its own bounded buffer.  When it is full the *oldest* item is dropped
  and counted; the subscriber learns how many it missed through :class:`~livehandle.Lagged`
  (``on_lag="raise"``) or :attr:`Subscription.total_missed` (``on_lag="skip"``).
* Every subscriber sees the items published while it is subscribed, in publish order, minus
  the ones dropped from its own buffer.
* :meth:`Subscription.receive` is a Trio checkpoint on every path and cancellation-safe: a
  cancelled receive takes nothing out of the buffer.
* After :meth:`Broadcast.close`, subscribers drain what is buffered for them, then receive
  :exc:`trio.EndOfChannel` (``async for`` loops simply end).
* While the broadcast **retains** (from :meth:`Broadcast.retain` to :meth:`Broadcast.release`)
  it also keeps the newest ``capacity`` items it published, and a subscription made then starts
  with them: it sees every item from the start of the retention, minus what overflowed, which
  it learns about like any lag.  The sessions retain from their start until the body of their
  ``async with`` reaches its first checkpoint, so a subscription made on the body's first line
  misses nothing, ``Connected`` included; one made later sees only what follows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Generic, Literal, TypeVar, final

import attrs
import trio

from livehandle._errors import Lagged
from livehandle._public import NoPublicConstructor

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Broadcast", "BroadcastStatistics", "Subscription"]

T = TypeVar("T")

OnLag = Literal["raise", "skip"]


def _check_capacity(capacity: int) -> int:
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1 (got {capacity})")
    return capacity


@attrs.frozen
class BroadcastStatistics:
    """A snapshot of a :class:`Broadcast`'s state.

    Attributes:
        subscribers: how many subscriptions currently receive new items.
        published: how many items were published while the broadcast was open.
        capacity: the default per-subscriber buffer size.
        closed: whether :meth:`Broadcast.close` was called.
    """

    subscribers: int
    published: int
    capacity: int
    closed: bool


_SHORT = 8  # items a subscription keeps in a list before it needs a ring


@final
@attrs.define(eq=False)
class Subscription(trio.abc.ReceiveChannel[T], metaclass=NoPublicConstructor):
    """One subscriber's view of a :class:`Broadcast`; get one from :meth:`Broadcast.subscribe`.

    It is a :class:`trio.abc.ReceiveChannel`: use ``async for item in sub``, and ``with sub`` or
    ``async with sub`` to unsubscribe on exit.  :meth:`close` unsubscribes; afterwards
    :meth:`receive` raises :exc:`trio.ClosedResourceError` (as for a closed Trio channel) and
    anything still buffered is discarded.

    It has no public constructor (``Subscription(...)`` raises ``TypeError``) and is not meant
    to be subclassed: :meth:`Broadcast.subscribe` is the only way to get one.
    """

    _get_one_from: ClassVar[str] = "Broadcast.subscribe()"

    _broadcast: Broadcast[T] | None = attrs.field(repr=False)
    _capacity: int = attrs.field(repr=False)
    _on_lag: OnLag
    _accept: Callable[[T], bool] | None = attrs.field(default=None, repr=False)
    # empty until the first item, then a short list (a deque costs 760 bytes from the start),
    # then a deque bounded to the capacity once more than a few items wait
    _buffer: deque[T] | list[T] | tuple[()] = attrs.field(default=(), init=False, repr=False)
    # made when a receiver first waits: a subscriber that is only published to keeps none
    _lot: trio.lowlevel.ParkingLot | None = attrs.field(default=None, init=False, repr=False)
    _missed: int = attrs.field(default=0, init=False)
    _total_missed: int = attrs.field(default=0, init=False)
    _ended: bool = attrs.field(default=False, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    @property
    def capacity(self) -> int:
        """The most items this subscription buffers before dropping the oldest."""
        return self._capacity

    @property
    def pending(self) -> int:
        """How many items are buffered now, waiting to be received."""
        return len(self._buffer)

    @property
    def total_missed(self) -> int:
        """How many items were dropped from this subscription's buffer over its whole life."""
        return self._total_missed

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called on this subscription."""
        return self._closed

    def _push(self, value: T) -> None:
        buffer = self._buffer
        if isinstance(buffer, list) and len(buffer) < min(_SHORT, self._capacity):
            buffer.append(value)
        elif isinstance(buffer, tuple):  # the first item (capacity is at least 1)
            self._buffer = [value]
        else:
            if isinstance(buffer, list):  # a list at its limit: a ring from now on
                buffer = self._buffer = deque(buffer, maxlen=self._capacity)
            if len(buffer) == self._capacity:
                self._missed += 1  # the deque evicts the oldest item itself
                self._total_missed += 1
            buffer.append(value)
        if self._lot is not None:
            self._lot.unpark_all()

    def _end(self) -> None:
        self._ended = True
        if self._lot is not None:
            self._lot.unpark_all()

    def receive_nowait(self) -> T:
        """Like :meth:`receive`, but never waits and is not a checkpoint.

        Raises:
            trio.WouldBlock: nothing is buffered yet (plus the errors :meth:`receive` raises).
        """
        if self._closed:
            raise trio.ClosedResourceError("this subscription was closed")
        if self._missed:
            missed, self._missed = self._missed, 0
            if self._on_lag == "raise":
                raise Lagged(missed)
        if buffer := self._buffer:
            return buffer.pop(0) if isinstance(buffer, list) else buffer.popleft()
        if self._ended:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> T:
        """Take the oldest buffered item, waiting for one if necessary.

        Always a checkpoint; if cancelled, nothing is taken from the buffer.

        Raises:
            Lagged: items were dropped since the last receive and ``on_lag="raise"``; raised once,
                then the next call returns the oldest retained item.
            trio.EndOfChannel: the broadcast is closed and everything buffered was received.
            trio.ClosedResourceError: this subscription was closed (also while waiting).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                value = self.receive_nowait()
            except trio.WouldBlock:
                if self._lot is None:
                    self._lot = trio.lowlevel.ParkingLot()
                await self._lot.park()
            except Exception:
                await trio.lowlevel.cancel_shielded_checkpoint()
                raise
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return value

    def close(self) -> None:
        """Unsubscribe: stop receiving new items and discard buffered ones.  Idempotent.

        Tasks waiting in :meth:`receive` wake up with :exc:`trio.ClosedResourceError`.
        """
        if self._closed:
            return
        self._closed = True
        if self._broadcast is not None:
            self._broadcast._subscriptions.pop(self, None)
            self._broadcast = None
        self._buffer = ()
        if self._lot is not None:
            self._lot.unpark_all()

    async def aclose(self) -> None:
        """Like :meth:`close`, but also a checkpoint (used by ``async with``)."""
        self.close()
        await trio.lowlevel.checkpoint()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Broadcast(Generic[T]):
    """Publish each value to every current subscriber without ever blocking the publisher.

    Args:
        capacity: the default number of items each subscription buffers before it starts
            dropping the oldest.

    Raises:
        ValueError: ``capacity`` is smaller than 1.
    """

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = _check_capacity(capacity)
        self._subscriptions: dict[Subscription[T], None] = {}  # insertion-ordered set
        self._published = 0
        self._closed = False
        # What subscriptions made during a retention start with (None: not retaining); bounded
        # by the capacity, the oldest dropped first and counted in _evicted.
        self._retained: deque[T] | None = None
        self._evicted = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions currently receive new items."""
        return len(self._subscriptions)

    def statistics(self) -> BroadcastStatistics:
        """Return a snapshot of the subscriber count, items published, capacity and state."""
        return BroadcastStatistics(
            subscribers=len(self._subscriptions),
            published=self._published,
            capacity=self._capacity,
            closed=self._closed,
        )

    def publish(self, value: T) -> bool:
        """Append ``value`` to every subscription's buffer; never blocks.

        A full buffer drops its oldest item.  With no subscribers the value is discarded.

        Returns:
            True if the value was published; False (and nothing happens) once the broadcast is
            closed.
        """
        if self._closed:
            return False
        self._published += 1
        if (retained := self._retained) is not None:
            if len(retained) == retained.maxlen:
                self._evicted += 1  # the deque drops the oldest itself
            retained.append(value)
        for subscription in self._subscriptions:
            accept = subscription._accept
            if accept is None or accept(value):
                subscription._push(value)
        return True

    def retain(self) -> None:
        """Keep what is published from now on for subscriptions made before :meth:`release`.

        At most ``capacity`` items are kept (the oldest go first, and a subscription made later
        learns how many it missed, as for any lag).  Idempotent while retaining.
        """
        if self._retained is None:
            self._retained = deque(maxlen=self._capacity)
            self._evicted = 0

    def release(self) -> None:
        """Stop retaining and drop what was kept: later subscriptions see only new items."""
        self._retained = None
        self._evicted = 0

    @property
    def retaining(self) -> bool:
        """Whether subscriptions made now start with the items kept since :meth:`retain`."""
        return self._retained is not None

    def subscribe(
        self,
        *,
        capacity: int | None = None,
        on_lag: OnLag = "raise",
        accept: Callable[[T], bool] | None = None,
    ) -> Subscription[T]:
        """Register a subscriber that sees every value published from now on.

        While the broadcast retains (see :meth:`retain`), the subscription starts with the
        values kept so far, in publish order (what overflowed is reported as lag), even when
        the broadcast has been closed since.

        Args:
            capacity: this subscription's buffer size; defaults to the broadcast's.
            on_lag: when items were dropped, ``"raise"`` makes the next receive raise
                :class:`~livehandle.Lagged` once; ``"skip"`` only counts them in
                :attr:`Subscription.total_missed`.
            accept: only values for which this returns True are buffered (the rest never take
                room in this subscriber's buffer); called synchronously by ``publish``.

        Returns:
            The subscription; if the broadcast is already closed it is already ended, so
            receiving from it raises :exc:`trio.EndOfChannel`.

        Raises:
            ValueError: ``capacity`` is smaller than 1 or ``on_lag`` is not a known policy.
        """
        size = self._capacity if capacity is None else _check_capacity(capacity)
        if on_lag not in ("raise", "skip"):
            raise ValueError(f'on_lag must be "raise" or "skip" (got {on_lag!r})')
        subscription = Subscription[T]._create(self, size, on_lag, accept)
        if self._retained is not None:
            if self._evicted:
                subscription._missed += self._evicted
                subscription._total_missed += self._evicted
            for value in self._retained:
                if accept is None or accept(value):
                    subscription._push(value)
        if self._closed:
            subscription._end()
        else:
            self._subscriptions[subscription] = None
        return subscription

    def close(self) -> None:
        """Stop publishing; subscribers drain their buffers, then get :exc:`trio.EndOfChannel`."""
        if self._closed:
            return
        self._closed = True
        subscriptions, self._subscriptions = self._subscriptions, {}
        for subscription in subscriptions:
            subscription._end()
