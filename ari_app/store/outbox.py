"""The SMS outbox's look-ups and bulk changes used by the lifecycle (the sender has its own, in
``scheduler/sms_sender.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.statuses import SmsStatus
from .models import SmsOutbox


async def message_with_key(session: AsyncSession, key: str) -> SmsOutbox | None:
    return await session.scalar(select(SmsOutbox).where(SmsOutbox.idempotency_key == key))


async def key_used(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(SmsOutbox.id).where(SmsOutbox.idempotency_key == key)) is not None


async def cancel_queued(session: AsyncSession, contact_id: int, error: str, now: datetime) -> None:
    """Messages to the contact not sent yet are never sent."""
    await session.execute(
        update(SmsOutbox)
        .where(SmsOutbox.contact_id == contact_id, SmsOutbox.status == SmsStatus.QUEUED)
        .values(status=SmsStatus.CANCELLED, error=error, updated_at=now)
    )
