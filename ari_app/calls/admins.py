"""The admin roster: who should take the next call, in order of preference.

"One call per admin at a time" is the database's to enforce across all workers (a partial unique index on
running attempts, see ``scheduler/admission.py``); the roster orders the candidates and holds, within this
worker, the admins its own starts and calls are using, so its concurrent starts never ask for the same one.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Sequence
from typing import Literal

from ..settings import AdminSettings


class AdminPool:
    def __init__(
        self,
        admins: Sequence[AdminSettings],
        selection: Literal["round_robin", "priority"] = "round_robin",
        *,
        worker: str = "",
    ) -> None:
        if not admins:
            raise ValueError("the admin roster is empty")
        self._selection = selection
        # Round robin: each worker goes round the roster in its own order (fixed by its name). Workers going
        # round the same order, even from different places, catch up with each other's latest picks and
        # then ask for one just-taken admin after another (bench/scale_out.py).
        self._admins = list(admins)
        if worker and selection == "round_robin":
            random.Random(worker).shuffle(self._admins)
        self._turn = itertools.count()
        self._held: set[str] = set()  # asked for by one of our starts, or on one of our calls

    @property
    def size(self) -> int:
        return len(self._admins)

    def free(self, busy: Collection[str] = ()) -> int:
        return sum(1 for a in self._admins if a.name not in busy and a.name not in self._held)

    def offer(self, *, busy: Collection[str] = (), avoid: str | None = None) -> AdminSettings | None:
        """The best candidate neither busy nor held, now held (until ``release``)."""
        candidates = self.candidates(avoid=avoid, busy={*busy, *self._held})
        if not candidates:
            return None
        self._held.add(candidates[0].name)
        return candidates[0]

    def picking(self, *, busy: Collection[str] = ()) -> AdminPicking:
        """One start's way through the roster: each admin it is offered is held until given back."""
        return AdminPicking(self, frozenset(busy))

    def release(self, name: str) -> None:
        self._held.discard(name)

    def candidates(self, *, avoid: str | None = None, busy: Collection[str] = ()) -> list[AdminSettings]:
        """Admins not in ``busy``, best first; ``avoid`` (who just failed to answer) goes last."""
        candidates = [a for a in self._admins if a.name not in busy]
        if not candidates:
            return []
        if self._selection == "priority":
            candidates.sort(key=lambda a: -a.priority)
        else:
            start = next(self._turn) % len(self._admins)
            order = {a.name: (i - start) % len(self._admins) for i, a in enumerate(self._admins)}
            candidates.sort(key=lambda a: order[a.name])
        if avoid is not None and len(candidates) > 1:
            candidates.sort(key=lambda a: a.name == avoid)
        return candidates


class AdminPicking:
    """The admins offered to one start, one at a time: the next free one in the pool's order, held for this
    start (no other start of this worker is offered it) until the call ends or the database refuses it."""

    def __init__(self, pool: AdminPool, busy: frozenset[str]) -> None:
        self._pool = pool
        self._busy = busy
        self._avoid: str | None = None  # asked last (``ask_last``)
        self._refused: set[str] = set()
        self.current: AdminSettings | None = None

    def next(self) -> AdminSettings | None:
        self.drop()
        self.current = self._pool.offer(busy=self._busy | self._refused, avoid=self._avoid)
        return self.current

    def ask_last(self, name: str | None) -> None:
        """Offer ``name`` (who failed to answer the request's previous try) after every other free admin; the
        start learns it in its own read, after the picking was made."""
        self._avoid = name

    def refused(self) -> None:
        """The database says the current admin is on another worker's call: not offered again."""
        if self.current is not None:
            self._refused.add(self.current.name)
        self.drop()

    def drop(self) -> None:
        """Give the current admin back (the start didn't happen, or moved on)."""
        if self.current is not None:
            self._pool.release(self.current.name)
            self.current = None
