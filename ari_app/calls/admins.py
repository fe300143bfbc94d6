"""The admin roster: who should take the next call, in order of preference.

"One call per admin at a time" is the database's to enforce across all workers (a partial unique index on
running attempts, see ``scheduler/admission.py``); the roster only orders the candidates.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Sequence
from typing import Literal

from ..settings import AdminSettings


class AdminPool:
    def __init__(
        self, admins: Sequence[AdminSettings], selection: Literal["round_robin", "priority"] = "round_robin"
    ) -> None:
        if not admins:
            raise ValueError("the admin roster is empty")
        self._admins = list(admins)
        self._selection = selection
        # Each worker starts its round robin somewhere else, so workers don't all ask the same admin first.
        self._turn = itertools.count(random.randrange(len(self._admins)))

    @property
    def size(self) -> int:
        return len(self._admins)

    def free(self, busy: Collection[str] = ()) -> int:
        return sum(1 for a in self._admins if a.name not in busy)

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
