"""New calls per second on the trunk, shared by every worker: the start slots PostgreSQL hands out."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ari_app.scheduler.pacing import DatabasePacer, LocalPacer, Unpaced, make_pacer


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    return sessions.kw["bind"]  # type: ignore[no-any-return]


@pytest.fixture
def pg_engine(db_sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    engine = engine_of(db_sessionmaker)
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one worker, which paces in memory")
    return engine


async def test_workers_sharing_the_trunk_get_start_slots_one_gap_apart(pg_engine: AsyncEngine) -> None:
    rate = 20.0
    workers = [DatabasePacer(pg_engine, rate) for _ in range(3)]  # three workers' pacers, one trunk

    waits = await asyncio.gather(*(workers[i % 3].slot_in() for i in range(30)))

    slots = sorted(waits)
    # Relative to when each was asked, but asked within moments: slot n is at least n gaps after the first.
    assert slots[0] <= 0.05
    assert slots[-1] >= 29 / rate - 0.5
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert sum(gaps) / len(gaps) >= 1 / rate * 0.8


async def test_a_trunk_idle_for_a_while_starts_the_next_call_at_once(pg_engine: AsyncEngine) -> None:
    pacer = DatabasePacer(pg_engine, rate=1000.0)

    await pacer.slot_in()
    await asyncio.sleep(0.05)  # fifty gaps pass unused: they are not saved up for a burst

    assert await pacer.slot_in() <= 0.0


def test_the_pacer_follows_the_database_and_the_rate(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    engine = engine_of(db_sessionmaker)
    expected = DatabasePacer if engine.dialect.name == "postgresql" else LocalPacer

    assert isinstance(make_pacer(engine, 5.0), expected)
    assert isinstance(make_pacer(engine, 0.0), Unpaced)
