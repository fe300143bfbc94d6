"""Attempts announced by id, and which worker claims them: one, by rank, while the others wait.

On PostgreSQL every worker hears every announcement (``callback_attempts``: a due time and the ids made due
then) and every claim (``callback_claimed``: the claimer and the ids it took, sent by the claim's own
statement). For each announced attempt every worker knows its rank among the live workers (``peers.py``):
rank 0 claims when it is due, rank k looks ``k`` slots (``scheduler.claim_slot`` wall seconds) later and
claims only if an attempt it holds was not heard claimed by then. Ranks past ``MAX_RANK`` look with it, so an
attempt whose first workers died unheard waits at most that many slots. Of a batch announced together a
worker looks at its best rank among them. A worker without room (or without ARI) passes: the next rank
claims after its slot, and it keeps the ids until a claim of them is heard.

The ids only choose who claims and when; the claim itself takes what is due, as always (due order, SKIP
LOCKED, room, pace). So a lost ``claimed`` message or a stale view of the live workers costs a claim round
that finds nothing, or a few slots' wait; the safety net still finds whatever nobody claimed. A round of ours
that took all that was due forgets every id due by then (``settle``): each was claimed, or isn't waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from ..clock import Clock
from .peers import Peers, ranking

# Ranks past this look with it: an attempt whose first workers died unheard waits at most this many slots.
MAX_RANK = 3
# More ids than this held (claims never heard of for long): forget them and claim as without names.
MAX_HELD = 10_000


class Announced:
    """The announced attempts a worker has not seen claimed, with their due times, and when it looks at each
    (monotonic: the due time plus its rank's slots). ``look`` is called when a look is reached and an id is
    still held: the worker claims if it has room. ``wake`` starts a claim round at once."""

    def __init__(
        self, clock: Clock, peers: Peers, slot: float, look: Callable[[], None], wake: Callable[[], None]
    ) -> None:
        self.clock = clock
        self.peers = peers
        self.slot = slot
        self.look = look
        self.wake = wake
        self._due: dict[int, datetime] = {}
        self._looks: dict[int, float] = {}  # attempt id -> when this worker looks (monotonic)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def announced(self, due: datetime, ids: Iterable[int]) -> None:
        if len(self._due) > MAX_HELD:
            self._due.clear()
            self._looks.clear()
            self.wake()
        live, me = self.peers.live(), self.peers.me
        at = time.monotonic() + max(0.0, (due - self.clock.now()).total_seconds() / self.clock.speed)
        for attempt_id in ids:
            self._due[attempt_id] = due
            rank = min(MAX_RANK, ranking(attempt_id, live).index(me))
            self._looks[attempt_id] = at + rank * self.slot
        self._plan()

    def claimed(self, ids: Iterable[int], by: str | None = None) -> None:
        if by is not None:
            self.peers.heard(by)
        for attempt_id in ids:
            self._due.pop(attempt_id, None)
            self._looks.pop(attempt_id, None)

    def settle(self, now: datetime) -> None:
        """Our claim round at ``now`` took everything due: forget the ids due by then."""
        self._due = {i: at for i, at in self._due.items() if at > now}
        self._looks = {i: at for i, at in self._looks.items() if i in self._due}

    def holds(self, at: datetime) -> bool:
        """An announced attempt due at ``at`` is held: its look is planned, it needs no timer of its own."""
        return at in self._due.values()

    def unclaimed(self) -> list[int]:
        return sorted(self._due)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, float("inf")

    def _plan(self) -> None:
        first = min(self._looks.values(), default=float("inf"))
        if first >= self._timer_at:
            return  # an earlier timer comes first; it plans the next one
        self.close()
        if first < float("inf"):
            self._timer_at = first
            self._timer = asyncio.get_running_loop().call_later(first - time.monotonic(), self._looked)

    def _looked(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        now = time.monotonic() + 0.001  # (a timer may fire a hair early)
        reached = [i for i, at in self._looks.items() if at <= now]
        for attempt_id in reached:
            del self._looks[attempt_id]  # one look each; still held until a claim of it is heard
        if reached:
            self.look()
        self._plan()
