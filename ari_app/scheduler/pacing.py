"""At most ``calls.calls_per_second`` new calls on the trunk, whatever the number of workers.

Each new call takes the next start slot, ``1 / rate`` seconds after the previous one (or now, if that has
passed), and waits for it. On PostgreSQL the slots are handed out by one row that every worker updates in a
single autocommit statement, on the database server's clock: the row is locked for that statement alone,
so workers never wait on each other's round trips. SQLite runs one worker, which keeps the slot in memory.
Wall time: pacing protects the trunk, not the schedule.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TRUNK = "trunk"  # one deployment, one trunk: the same scope as calls.max_concurrent

_TAKE_SLOT = text(
    """
    INSERT INTO trunk_pace AS p (trunk, last_slot) VALUES (:trunk, extract(epoch FROM clock_timestamp()))
    ON CONFLICT (trunk) DO UPDATE
        SET last_slot = greatest(p.last_slot + :gap, extract(epoch FROM clock_timestamp()))
    RETURNING p.last_slot - extract(epoch FROM clock_timestamp())
    """
)


class Pacer(Protocol):
    async def wait_for_slot(self) -> None:
        """Return when this call may start."""


class Unpaced:
    async def wait_for_slot(self) -> None:
        return None


class LocalPacer:
    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._last = float("-inf")

    async def wait_for_slot(self) -> None:
        now = time.monotonic()
        self._last = max(self._last + self._gap, now)  # taken before sleeping: the next caller queues behind
        if self._last > now:
            await asyncio.sleep(self._last - now)


class DatabasePacer:
    def __init__(self, engine: AsyncEngine, rate: float, trunk: str = TRUNK) -> None:
        self._engine = engine
        self._gap = 1.0 / rate
        self._trunk = trunk

    async def slot_in(self) -> float:
        """Take the trunk's next slot; seconds until it (zero or less: now)."""
        async with self._engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            wait = await auto.scalar(_TAKE_SLOT, {"trunk": self._trunk, "gap": self._gap})
        return float(wait or 0.0)

    async def wait_for_slot(self) -> None:
        wait = await self.slot_in()
        if wait > 0:
            await asyncio.sleep(wait)


def make_pacer(engine: AsyncEngine, rate: float) -> Pacer:
    if rate <= 0:
        return Unpaced()
    if engine.dialect.name == "postgresql":
        return DatabasePacer(engine, rate)
    return LocalPacer(rate)
