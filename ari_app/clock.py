"""The one clock. Business time (schedules, retries, talk-time thresholds) comes from here.

Network timeouts stay in wall time; only business waits go through ``Clock.sleep``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    speed: float

    def now(self) -> datetime:
        """Current business time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of business time."""
        ...


class RealClock:
    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Business time that starts at ``start`` and runs ``speed`` times faster than the wall clock."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._t0 = time.monotonic()
        self.speed = float(speed)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def make_clock(speed: float = 1.0, start: datetime | None = None) -> Clock:
    if speed == 1.0 and start is None:
        return RealClock()
    return VirtualClock(start=start, speed=speed)
