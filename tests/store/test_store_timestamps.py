from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from store_seed import T0, contact

from ari_app.store import Contact

PARIS_SUMMER = timezone(timedelta(hours=2))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


async def test_timestamps_come_back_as_the_same_instant_in_aware_utc(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    written = datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    async with db_sessionmaker() as session, session.begin():
        session.add(contact(at=written))

    async with db_sessionmaker() as session:
        read = (await session.scalars(select(Contact.created_at))).one()

    assert read == written
    assert read.tzinfo == UTC
    assert read.isoformat() == "2026-07-01T07:30:15.123456+00:00"


async def test_queries_compare_instants_not_wall_clock_text(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # 10:00 in New York is 15:00 UTC: later than 14:00 UTC although "10:00" < "14:00".
    async with db_sessionmaker() as session, session.begin():
        session.add(contact("+15551230001", at=datetime(2026, 1, 5, 10, 0, tzinfo=NEW_YORK_WINTER)))
        session.add(contact("+15551230002", at=datetime(2026, 1, 5, 14, 0, tzinfo=UTC)))

    async with db_sessionmaker() as session:
        later = await session.scalars(
            select(Contact.phone).where(Contact.created_at > datetime(2026, 1, 5, 14, 30, tzinfo=UTC))
        )
        ordered = await session.scalars(select(Contact.phone).order_by(Contact.created_at))
        assert later.all() == ["+15551230001"]
        assert ordered.all() == ["+15551230002", "+15551230001"]


async def test_a_naive_timestamp_is_refused(db_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with db_sessionmaker() as session:
        session.add(contact(at=T0.replace(tzinfo=None)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()
