"""Look-ups and bulk changes of contacts, requests and attempts that the lifecycle's use cases share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.statuses import (
    OPEN_REQUEST_STATUSES,
    UNFINISHED_ATTEMPT_STATUSES,
    UNSTARTED_ATTEMPT_STATUSES,
    AttemptStatus,
)
from .models import Attempt, CallbackRequest, Contact, Dnc

# An attempt with its request and contact, and whether the number is on the do-not-call list: one read where
# three ORM gets and a look-up were four round trips at every start and end of a call (bench/scale_out.py).
_ATTEMPT_WITH_CONTACT = (
    select(Attempt, CallbackRequest, Contact, exists().where(Dnc.phone == Contact.phone))
    .join(CallbackRequest, CallbackRequest.id == Attempt.request_id)
    .join(Contact, Contact.id == CallbackRequest.contact_id)
    .where(Attempt.id == bindparam("attempt_id"))
)


async def attempt_with_contact(
    session: AsyncSession, attempt_id: int
) -> tuple[Attempt, CallbackRequest, Contact, bool] | None:
    """The attempt, its request, its contact (ORM objects of this session) and whether the contact's number
    is on the do-not-call list; None if there is no such attempt."""
    row = (await session.execute(_ATTEMPT_WITH_CONTACT, {"attempt_id": attempt_id})).one_or_none()
    if row is None:
        return None
    attempt, request, contact, listed = row
    return attempt, request, contact, bool(listed)


async def on_dnc(session: AsyncSession, phone: str) -> bool:
    return await session.get(Dnc, phone) is not None


async def contact_by_phone(session: AsyncSession, phone: str) -> Contact | None:
    return await session.scalar(select(Contact).where(Contact.phone == phone))


async def open_request(session: AsyncSession, contact_id: int) -> CallbackRequest | None:
    """The contact's open request (there is at most one: intake merges into it)."""
    return await session.scalar(
        select(CallbackRequest).where(
            CallbackRequest.contact_id == contact_id, CallbackRequest.status.in_(OPEN_REQUEST_STATUSES)
        )
    )


async def open_request_ids(session: AsyncSession, contact_id: int) -> list[int]:
    ids = await session.scalars(
        select(CallbackRequest.id).where(
            CallbackRequest.contact_id == contact_id, CallbackRequest.status.in_(OPEN_REQUEST_STATUSES)
        )
    )
    return list(ids)


async def next_attempt_number(session: AsyncSession, request_id: int) -> int:
    numbers = await session.scalars(select(Attempt.number).where(Attempt.request_id == request_id))
    return max(numbers, default=0) + 1


async def next_scheduled(session: AsyncSession, request_id: int) -> Attempt | None:
    """The request's next attempt still to come (scheduled, or already claimed or running)."""
    return await session.scalar(
        select(Attempt)
        .where(Attempt.request_id == request_id, Attempt.status.in_(UNFINISHED_ATTEMPT_STATUSES))
        .order_by(Attempt.due_at)
        .limit(1)
    )


async def cancel_unstarted_attempts(session: AsyncSession, request_id: int, now: datetime) -> None:
    """Drop the request's calls not started yet; one already ringing ends on its own and is recorded."""
    await session.execute(
        update(Attempt)
        .where(Attempt.request_id == request_id, Attempt.status.in_(UNSTARTED_ATTEMPT_STATUSES))
        .values(status=AttemptStatus.CANCELLED, updated_at=now)
    )
