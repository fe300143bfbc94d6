"""Attempts announced by id, and which worker claims them: usually the least busy, alone.

On PostgreSQL every worker hears every announcement (``callback_attempts``: a due time and the ids made due
then) and every claim (``callback_claimed``: the ids it took, sent by the claim's own statement). When an
announced attempt is due, each worker waits a short delay that grows with the calls it runs, plus jitter,
then looks only if an attempt it was told of is still unclaimed. The least busy worker usually claims first
and the others hear of it before their delay ends: one claim transaction per attempt, not one per worker.

The ids only choose who claims; the claim itself takes what is due, as always (due order, SKIP LOCKED, room,
pace). So a lost ``claimed`` message costs one claim round that finds nothing, a worker without room keeps
the ids until another worker's claim is heard (or its own round settles them), and the safety net still
finds whatever nobody claimed. A round of ours that took all that was due forgets every id due by then
(``settle``): each was claimed by someone, or is no longer waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from datetime import datetime

from ..clock import Clock

# Wall seconds a worker waits per call it runs before claiming an announced attempt: the least busy goes
# first. The jitter parts workers equally busy; the whole is capped, so an attempt starts at most this late.
DELAY_PER_CALL = 0.002
JITTER = 0.04
MAX_DELAY = 0.05
# More ids than this held (claims never heard of for long): forget them and claim as without names.
MAX_HELD = 10_000


class Announced:
    """The announced attempts a worker has not seen claimed, with their due times, and the one pending look
    at the earliest of them. ``wake`` starts a claim round; ``calls`` is how many calls the worker runs,
    ``gap`` the wall seconds before its next round may start anyway (one that just claimed waits more)."""

    def __init__(
        self, clock: Clock, wake: Callable[[], None], calls: Callable[[], int], gap: Callable[[], float]
    ) -> None:
        self.clock = clock
        self.wake = wake
        self.calls = calls
        self.gap = gap
        self._due: dict[int, datetime] = {}
        self._look_at: datetime | None = None  # the due time the pending look is for
        self._look: asyncio.TimerHandle | None = None

    def announced(self, due: datetime, ids: Iterable[int]) -> None:
        if len(self._due) > MAX_HELD:
            self._due.clear()
            self.wake()
        self._due.update(dict.fromkeys(ids, due))
        self._plan(due)

    def claimed(self, ids: Iterable[int]) -> None:
        for attempt_id in ids:
            self._due.pop(attempt_id, None)

    def settle(self, now: datetime) -> None:
        """Our claim round at ``now`` took everything due: forget the ids due by then."""
        self._due = {i: at for i, at in self._due.items() if at > now}

    def holds(self, at: datetime) -> bool:
        """An announced attempt due at ``at`` is held: its look is planned, it needs no timer of its own."""
        return at in self._due.values()

    def unclaimed(self) -> list[int]:
        return sorted(self._due)

    def close(self) -> None:
        if self._look is not None:
            self._look.cancel()
        self._look = self._look_at = None

    def delay(self) -> float:
        """Wall seconds to wait past an announced due time before looking."""
        return self.gap() + min(MAX_DELAY, DELAY_PER_CALL * self.calls() + random.uniform(0.0, JITTER))

    def _plan(self, due: datetime) -> None:
        if self._look is not None and self._look_at is not None and self._look_at <= due:
            return  # an earlier look comes first; it plans the next one
        if self._look is not None:
            self._look.cancel()
        wall = max(0.0, (due - self.clock.now()).total_seconds() / self.clock.speed)
        self._look_at = due
        self._look = asyncio.get_running_loop().call_later(wall + self.delay(), self._looked)

    def _looked(self) -> None:
        self._look = self._look_at = None
        now = self.clock.now()
        if any(at <= now for at in self._due.values()):
            self.wake()
        later = [at for at in self._due.values() if at > now]
        if later:
            self._plan(min(later))
