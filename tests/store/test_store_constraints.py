from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from store_seed import T0, contact, request, seed_attempts

from ari_app.store import CallbackRequest, Leg, Note, SmsOutbox


async def new_contact(session_maker: async_sessionmaker[AsyncSession], phone: str = "+15551230000") -> int:
    async with session_maker() as session, session.begin():
        c = contact(phone)
        session.add(c)
        await session.flush()
        return c.id


@pytest.mark.parametrize("open_status", ["pending", "calling"])
async def test_a_contact_cannot_have_two_open_requests(
    db_sessionmaker: async_sessionmaker[AsyncSession], open_status: str
) -> None:
    contact_id = await new_contact(db_sessionmaker)
    async with db_sessionmaker() as session, session.begin():
        session.add(request(contact_id, status=open_status))

    async with db_sessionmaker() as session:
        session.add(request(contact_id, status="pending"))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_closed_requests_do_not_block_a_new_open_one(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    contact_id = await new_contact(db_sessionmaker)
    async with db_sessionmaker() as session, session.begin():
        session.add_all([request(contact_id, status=s) for s in ("completed", "incomplete", "cancelled")])
        session.add(request(contact_id, status="pending"))

    async with db_sessionmaker() as session, session.begin():
        await session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.status == "pending")
            .values(status="completed", closed_at=T0)
        )
        session.add(request(contact_id, status="pending"))


async def test_a_channel_id_is_used_by_one_leg_only(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first, second = await seed_attempts(db_sessionmaker, [T0, T0 + timedelta(hours=1)])

    def leg(attempt_id: int, try_no: int) -> Leg:
        return Leg(
            attempt_id=attempt_id,
            role="admin",
            try_no=try_no,
            channel_id=f"cb-{first}-admin-1",
            endpoint="PJSIP/admin",
            state="intent",
            created_at=T0,
            updated_at=T0,
        )

    async with db_sessionmaker() as session, session.begin():
        session.add(leg(first, 1))
    async with db_sessionmaker() as session:
        session.add(leg(second, 1))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_an_sms_idempotency_key_queues_one_message_only(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    contact_id = await new_contact(db_sessionmaker)

    def sms() -> SmsOutbox:
        return SmsOutbox(
            contact_id=contact_id,
            kind="missed_call",
            to_phone="+15551230000",
            body="Sorry we missed you",
            idempotency_key="attempt-1:missed_call",
            status="queued",
            next_try_at=T0,
            created_at=T0,
            updated_at=T0,
        )

    async with db_sessionmaker() as session, session.begin():
        session.add(sms())
    async with db_sessionmaker() as session:
        session.add(sms())
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_foreign_keys_are_enforced(db_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with db_sessionmaker() as session:
        session.add(Note(contact_id=424242, kind="admin", text="nobody", created_at=T0))
        with pytest.raises(IntegrityError):
            await session.commit()
