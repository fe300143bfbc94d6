"""The admin roster: who may take the next call, one call per admin at a time (within this worker)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
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
        self._busy: set[str] = set()
        self._turn = itertools.count()

    @property
    def size(self) -> int:
        return len(self._admins)

    def free(self) -> int:
        return len(self._admins) - len(self._busy)

    def acquire(self, avoid: str | None = None) -> AdminSettings | None:
        """Take a free admin, preferring one other than ``avoid`` (who just failed to answer)."""
        candidates = [a for a in self._admins if a.name not in self._busy]
        if not candidates:
            return None
        if self._selection == "priority":
            candidates.sort(key=lambda a: -a.priority)
        else:
            start = next(self._turn) % len(self._admins)
            order = {a.name: (i - start) % len(self._admins) for i, a in enumerate(self._admins)}
            candidates.sort(key=lambda a: order[a.name])
        if avoid is not None and len(candidates) > 1:
            candidates.sort(key=lambda a: a.name == avoid)
        chosen = candidates[0]
        self._busy.add(chosen.name)
        return chosen

    def release(self, name: str) -> None:
        self._busy.discard(name)
