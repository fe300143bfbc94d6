"""Rows the store tests need, written the way the app writes them (aware UTC timestamps from a clock)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.store import Attempt, CallbackRequest, Contact

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def contact(phone: str = "+15551230000", at: datetime = T0) -> Contact:
    return Contact(phone=phone, first_name="Ada", last_name="Lovelace", created_at=at, updated_at=at)


def request(contact_id: int, status: str = "pending", at: datetime = T0) -> CallbackRequest:
    return CallbackRequest(
        contact_id=contact_id, reason="quote", status=status, source="form", created_at=at, updated_at=at
    )


async def seed_attempts(
    session_maker: async_sessionmaker[AsyncSession], due: list[datetime], phone: str = "+15551230000"
) -> list[int]:
    """One contact, one request, one scheduled attempt per due time; returns the attempt ids."""
    async with session_maker() as session, session.begin():
        c = contact(phone)
        session.add(c)
        await session.flush()
        r = request(c.id)
        session.add(r)
        await session.flush()
        attempts = [
            Attempt(
                request_id=r.id,
                number=n,
                lead_attempt=1,
                kind="lead",
                status="scheduled",
                due_at=at,
                evidence={"window": "test"},
                created_at=T0,
                updated_at=T0,
            )
            for n, at in enumerate(due, start=1)
        ]
        session.add_all(attempts)
        await session.flush()
        return [a.id for a in attempts]
