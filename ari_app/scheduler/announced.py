"""Attempts announced by id, and which worker claims them: one, by rank, while the others wait.

On PostgreSQL every worker hears every announcement (``callback_attempts``: a due time and the ids made due
then) and every claim (``callback_claimed``: the claimer and the ids it took, sent by the claim's own
statement). For each announcement every worker knows its rank among the live workers (``peers.py``; a batch
is ranked by its smallest id, so one worker claims it all): rank 0 claims when it is due, rank k looks ``k``
slots later and claims only if an attempt it holds was not heard claimed by then. Ranks past ``MAX_RANK``
look with it, so an attempt whose first workers died unheard waits at most that many slots. A worker without
room (or without ARI) passes: the next rank claims after its slot, and it keeps the ids until a claim of them
is heard.

A slot is ``scheduler.claim_slot`` wall seconds, or twice the time this worker lately took to hear the
first-ranked worker's claim of an attempt since it was due, if that is longer (up to ``MAX_SLOT``): a loaded
machine or database hears claims later, and a slot shorter than that makes the next rank claim in vain.

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
# The longest slot, however late claims are heard (a first worker dead unheard delays by MAX_RANK slots).
MAX_SLOT = 0.25
HEARD_WEIGHT = 0.2  # of the latest claim heard, in the running mean of how long claims take to be heard
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
        # Attempt id -> when it was due (monotonic) and the worker ranked first for it, till a claim is heard.
        self._since: dict[int, tuple[float, str]] = {}
        self.heard_in = 0.0  # wall seconds from due to the first-ranked worker's claim heard (running mean)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def announced(self, due: datetime, ids: Iterable[int]) -> None:
        if len(self._due) > MAX_HELD:
            self._due.clear()
            self._looks.clear()
            self._since.clear()
            self.wake()
        ids = list(ids)
        if not ids:
            return
        order = ranking(min(ids), self.peers.live())
        rank = min(MAX_RANK, order.index(self.peers.me))
        at = time.monotonic() + max(0.0, (due - self.clock.now()).total_seconds() / self.clock.speed)
        look = at + rank * self.slot_now()
        for attempt_id in ids:
            self._due[attempt_id] = due
            self._looks[attempt_id] = look
            self._since[attempt_id] = (at, order[0])
        self._plan()

    def claimed(self, ids: Iterable[int], by: str | None = None) -> None:
        if by is not None:
            self.peers.heard(by)
        now = time.monotonic()
        for attempt_id in ids:
            self._due.pop(attempt_id, None)
            self._looks.pop(attempt_id, None)
            since, first = self._since.pop(attempt_id, (now, ""))
            if by == first != self.peers.me:  # (a later rank's claim waited its slots: not counted)
                self.heard_in += HEARD_WEIGHT * (max(0.0, now - since) - self.heard_in)

    def slot_now(self) -> float:
        """Wall seconds per rank: long enough for the claims of the ranks before to be heard."""
        return max(self.slot, min(MAX_SLOT, 2 * self.heard_in))

    def settle(self, now: datetime) -> None:
        """Our claim round at ``now`` took everything due: forget the ids due by then."""
        self._due = {i: at for i, at in self._due.items() if at > now}
        self._looks = {i: at for i, at in self._looks.items() if i in self._due}
        self._since = {i: at for i, at in self._since.items() if i in self._due}

    def holds(self, at: datetime) -> bool:
        """An announced attempt due at ``at`` is held: its look is planned, it needs no timer of its own."""
        return at in self._due.values()

    def looking(self, at: datetime) -> bool:
        """This worker will look at an announced attempt due at ``at`` unless a claim of it is heard first."""
        return any(self._due[i] == at for i in self._looks)

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
