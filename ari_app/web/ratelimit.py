"""In-memory sliding-window limits, per process (a shared store comes with several web processes).

Wall time on purpose: it protects the server from bursts of requests, which happen in real seconds even
when the business clock runs faster.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class WindowLimiter:
    def __init__(
        self, limit: int, window_seconds: float, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._monotonic = monotonic
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float | None:
        """Count one hit for ``key``; None when allowed, else the seconds until the next one would be."""
        if self.limit <= 0:
            return None
        now = self._monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, math.ceil(hits[0] + self.window - now))
        hits.append(now)
        if len(self._hits) > 10_000:
            self._forget_idle(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
