"""Route ARI events to the object that owns the call, by channel id and bridge id.

There is no app-wide switch on event type: an owner (one attempt, one leg) takes a ``Subscription``,
registers the ids it chose *before* the request that creates the channel or bridge (we pick channel
ids ourselves, and a fast failure can produce events before the REST answer arrives), and reads its
own events in arrival order with ``await sub.next(timeout)``. ``EventRouter.dispatch`` is sync and
never blocks, so it can be the connection's ``on_event``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType

from .events import Event

log = logging.getLogger(__name__)

_BACKLOG_WARNING = 1000  # queued events for one owner: it is stuck, say so (once)


class SubscriptionClosed(Exception):
    """``next()`` on a closed subscription whose queue is empty."""


class Subscription:
    """One owner's view of the event stream. Create it with ``EventRouter.subscription()``."""

    def __init__(self, router: EventRouter) -> None:
        self._router = router
        # A deque and one future per waiting reader rather than an asyncio.Queue: an owner usually
        # waits for each event, and this path runs for every event (bench/README.md, ari_load).
        self._events: deque[Event] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._channels: set[str] = set()
        self._bridges: set[str] = set()
        self._closed = False
        self._warned = False

    @property
    def channel_ids(self) -> frozenset[str]:
        return frozenset(self._channels)

    @property
    def bridge_ids(self) -> frozenset[str]:
        return frozenset(self._bridges)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_channel(self, channel_id: str) -> None:
        """Own ``channel_id`` from now on. Raises ``ValueError`` if another subscription owns it."""
        self._check_open()
        self._router._claim(self._router._channels, channel_id, self, "channel")
        self._channels.add(channel_id)

    def add_bridge(self, bridge_id: str) -> None:
        self._check_open()
        self._router._claim(self._router._bridges, bridge_id, self, "bridge")
        self._bridges.add(bridge_id)

    def discard_channel(self, channel_id: str) -> None:
        if channel_id in self._channels:
            self._channels.discard(channel_id)
            self._router._release(self._router._channels, channel_id, self)

    def discard_bridge(self, bridge_id: str) -> None:
        if bridge_id in self._bridges:
            self._bridges.discard(bridge_id)
            self._router._release(self._router._bridges, bridge_id, self)

    async def next(self, timeout: float) -> Event:  # noqa: ASYNC109 - the public API
        """The next event for this owner, in arrival order. Raises ``TimeoutError``; after
        ``close()``, queued events are still returned, then ``SubscriptionClosed``."""
        if self._events:  # no timer, no suspension: the event is already here
            return self._events.popleft()
        if self._closed:
            raise SubscriptionClosed("subscription closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._events:
            if self._closed:
                raise SubscriptionClosed("subscription closed")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_at(deadline, _time_out, waiter)
            try:
                await waiter
            except BaseException:  # timed out or cancelled
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._wake_one()  # woken, then cancelled: hand the wake-up to another reader
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            finally:
                timer.cancel()
        return self._events.popleft()

    def interrupt(self) -> None:
        """Wake every reader waiting now as if its wait had timed out, so it looks at its condition again
        (something outside the event stream changed, e.g. the call must give way)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(TimeoutError())

    def pending(self) -> int:
        return len(self._events)

    def close(self) -> None:
        """Stop receiving: every id is released. Idempotent."""
        if self._closed:
            return
        for channel_id in list(self._channels):
            self.discard_channel(channel_id)
        for bridge_id in list(self._bridges):
            self.discard_bridge(bridge_id)
        self._closed = True
        while self._waiters:  # a reader waiting now learns it is closed instead of timing out
            self._wake_one()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _deliver(self, event: Event) -> None:
        self._events.append(event)
        if self._waiters:
            self._wake_one()
        if len(self._events) >= _BACKLOG_WARNING and not self._warned:
            self._warned = True
            log.warning(
                "event owner of channels %s is not reading: %d events queued",
                sorted(self._channels),
                len(self._events),
            )

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("subscription is closed")


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class EventRouter:
    """``conn = EventConnection(..., on_event=router.dispatch)``; owners take ``router.subscription()``."""

    def __init__(self) -> None:
        self._channels: dict[str, Subscription] = {}
        self._bridges: dict[str, Subscription] = {}
        self._fallback: Callable[[Event], None] | None = None
        self.unrouted = 0  # events no subscription owned (handed to the fallback, if any)
        self.routed = 0

    def subscription(self) -> Subscription:
        return Subscription(self)

    def set_fallback(self, fallback: Callable[[Event], None] | None) -> None:
        """Gets every event nobody owns (e.g. a StasisStart for a channel from a previous life)."""
        self._fallback = fallback

    def owner_of_channel(self, channel_id: str) -> Subscription | None:
        return self._channels.get(channel_id)

    def dispatch(self, event: Event) -> None:
        targets: list[Subscription] = []
        for channel_id in event.channel_ids():
            sub = self._channels.get(channel_id)
            if sub is not None and sub not in targets:
                targets.append(sub)
        for bridge_id in event.bridge_ids():
            sub = self._bridges.get(bridge_id)
            if sub is not None and sub not in targets:
                targets.append(sub)
        if not targets:
            self.unrouted += 1
            if self._fallback is not None:
                try:
                    self._fallback(event)
                except Exception:
                    log.exception("fallback event handler failed for %s", event.type)
            return
        self.routed += 1
        for sub in targets:
            sub._deliver(event)

    # -- used by Subscription -------------------------------------------------------------------

    @staticmethod
    def _claim(table: dict[str, Subscription], key: str, sub: Subscription, what: str) -> None:
        owner = table.get(key)
        if owner is not None and owner is not sub:
            raise ValueError(f"{what} {key!r} already has an owner")
        table[key] = sub

    @staticmethod
    def _release(table: dict[str, Subscription], key: str, sub: Subscription) -> None:
        if table.get(key) is sub:
            del table[key]
