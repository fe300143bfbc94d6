"""The workers alive, as one worker hears them, and each one's rank for an attempt (rendezvous hashing).

On PostgreSQL every worker says hello (``callback_workers``) when its listener connects and then every
``scheduler.safety_poll`` seconds, and goodbye when it stops; a claim's ``callback_claimed`` names its worker
too. A worker counts as alive while it was heard within ``LIVE_FOR`` hellos; this worker always is.

For each attempt every worker sorts the live workers by a stable hash of (attempt id, worker id): the same
order on every worker that has the same view, a different one per attempt, so the first places spread evenly
and a worker that leaves hands each of its attempts to a different next one. Views differ for a moment (a
worker just started, or died unheard): then two workers may think themselves first (one claim finds
nothing) or none does (the next rank waits one slot more). The rank only chooses who claims first.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable

# A worker unheard for this many hello intervals is taken for dead (one lost hello is not enough).
LIVE_FOR = 3.0


def place(attempt_id: int, worker: str) -> int:
    """A stable hash of (attempt, worker): the same in every process and run (not Python's salted hash)."""
    digest = hashlib.blake2b(f"{attempt_id}/{worker}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def ranking(attempt_id: int, workers: Iterable[str]) -> list[str]:
    """The workers in the order they claim ``attempt_id``: first the one that claims at once."""
    return sorted(workers, key=lambda w: (place(attempt_id, w), w))


class Peers:
    """The live workers as this one (``me``) heard them; ``every`` is the wall seconds between two hellos."""

    def __init__(self, me: str, every: float, now: Callable[[], float] = time.monotonic) -> None:
        self.me = me
        self.every = every
        self._now = now
        self._heard: dict[str, float] = {}  # worker -> when last heard (monotonic)

    def heard(self, worker: str) -> bool:
        """``worker`` said something; True when it was not counted alive (new, or back)."""
        if worker == self.me:
            return False
        new = worker not in self.live()
        self._heard[worker] = self._now()
        return new

    def gone(self, worker: str) -> None:
        """``worker`` said goodbye."""
        self._heard.pop(worker, None)

    def live(self) -> list[str]:
        """This worker and the others heard lately, sorted."""
        oldest = self._now() - LIVE_FOR * self.every
        self._heard = {w: at for w, at in self._heard.items() if at >= oldest}
        return sorted({self.me, *self._heard})

    def rank(self, attempt_id: int) -> int:
        """This worker's place among the live ones for ``attempt_id`` (0: it claims at once)."""
        return ranking(attempt_id, self.live()).index(self.me)
