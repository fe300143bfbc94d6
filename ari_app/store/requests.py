"""Look-ups and bulk changes of contacts, requests and attempts that the lifecycle's use cases share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, String, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ..domain.outcomes import Outcome
from ..domain.return_calls import RETURN_CALL_KIND
from ..domain.statuses import (
    OPEN_REQUEST_STATUSES,
    UNFINISHED_ATTEMPT_STATUSES,
    UNSTARTED_ATTEMPT_STATUSES,
    AttemptStatus,
)
from .models import Attempt, Base, CallbackRequest, Contact, ContactTag, Dnc, Leg

_OTHER = aliased(Attempt)
# Tags travel in one column (a status tag is a configured name: never a control character).
TAG_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Starting:
    """What the start of a call reads (one statement): the attempt, its request and contact (ORM objects of
    the session), whether the number is on the do-not-call list, whether the lead is on a return call about
    this request right now, whether the attempt has legs (it was in flight when its worker stopped: to be
    reconciled, never dialled again), and the admin who failed the request's previous try (asked last)."""

    attempt: Attempt
    request: CallbackRequest
    contact: Contact
    listed: bool
    on_return_call: bool
    in_flight: bool
    failed_admin: str | None


_STARTING = (
    select(
        Attempt,
        CallbackRequest,
        Contact,
        exists().where(Dnc.phone == Contact.phone),
        exists().where(
            _OTHER.request_id == CallbackRequest.id,
            _OTHER.kind == RETURN_CALL_KIND,
            _OTHER.status == AttemptStatus.RUNNING,
        ),
        exists().where(Leg.attempt_id == Attempt.id),
        select(_OTHER.admin_name)
        .where(
            _OTHER.request_id == CallbackRequest.id,
            _OTHER.id != Attempt.id,
            _OTHER.outcome == Outcome.ADMIN_UNAVAILABLE.value,
        )
        .order_by(_OTHER.number.desc())
        .limit(1)
        .scalar_subquery(),
    )
    .join(CallbackRequest, CallbackRequest.id == Attempt.request_id)
    .join(Contact, Contact.id == CallbackRequest.contact_id)
    .where(Attempt.id == bindparam("attempt_id"))
)
# On PostgreSQL the start also tells the trunk's commit trigger its limit (``scheduler/admission.py``), for
# this transaction alone: a column of the same read, not a round trip of its own.
_STARTING_UNDER_LIMIT = _STARTING.add_columns(
    func.set_config("callback.max_concurrent", bindparam("limit"), True)
)


async def attempt_starting(
    session: AsyncSession, attempt_id: int, *, trunk_limit: str | None
) -> Starting | None:
    """The start's read; ``trunk_limit``: the value for ``callback.max_concurrent`` (PostgreSQL), or None."""
    if trunk_limit is None:
        result = await session.execute(_STARTING, {"attempt_id": attempt_id})
    else:
        result = await session.execute(
            _STARTING_UNDER_LIMIT, {"attempt_id": attempt_id, "limit": trunk_limit}
        )
    row = result.one_or_none()
    if row is None:
        return None
    return Starting(row[0], row[1], row[2], bool(row[3]), bool(row[4]), bool(row[5]), row[6])


@dataclass(frozen=True)
class Ending:
    """What the end of a call reads (one statement): the attempt, its request and contact (ORM objects of
    the session), the contact's tags, and the request's highest attempt number (the next: one more)."""

    attempt: Attempt
    request: CallbackRequest
    contact: Contact
    tags: frozenset[str]
    last_number: int


_ENDING = (
    select(
        Attempt,
        CallbackRequest,
        Contact,
        select(func.aggregate_strings(ContactTag.tag, TAG_SEPARATOR))
        .where(ContactTag.contact_id == Contact.id)
        .scalar_subquery(),
        select(func.max(_OTHER.number)).where(_OTHER.request_id == CallbackRequest.id).scalar_subquery(),
    )
    .join(CallbackRequest, CallbackRequest.id == Attempt.request_id)
    .join(Contact, Contact.id == CallbackRequest.contact_id)
    .where(Attempt.id == bindparam("attempt_id"))
)


async def attempt_ending(session: AsyncSession, attempt_id: int) -> Ending | None:
    row = (await session.execute(_ENDING, {"attempt_id": attempt_id})).one_or_none()
    if row is None:
        return None
    attempt, request, contact, tags, last_number = row
    return Ending(
        attempt,
        request,
        contact,
        frozenset(tags.split(TAG_SEPARATOR)) if tags else frozenset(),
        int(last_number),
    )


_ATTEMPTS = Base.metadata.tables["attempts"]
_BUSY = _ATTEMPTS.alias("busy")
# The columns a start writes (``Attempts.begin``), with the admin, in one statement built once: built per
# call, the alias's column adaptation alone cost ~1 ms of CPU per start (profiled).
RUNNING_COLUMNS = frozenset(
    {"status", "started_at", "updated_at", "ari_app", "ari_server", "final", "evidence"}
)
_START_WITH_ADMIN = (
    update(_ATTEMPTS)
    .where(
        _ATTEMPTS.c.id == bindparam("attempt_id"),
        ~exists().where(
            _BUSY.c.status == AttemptStatus.RUNNING,
            _BUSY.c.admin_name == bindparam("admin", type_=String()),
            _BUSY.c.id != bindparam("attempt_id"),
        ),
    )
    .values(
        {
            **{
                _ATTEMPTS.c[k]: bindparam(f"new_{k}", type_=_ATTEMPTS.c[k].type)
                for k in sorted(RUNNING_COLUMNS)
            },
            _ATTEMPTS.c.admin_name: bindparam("admin", type_=String()),
        }
    )
)


async def start_with_admin(
    session: AsyncSession, attempt_id: int, admin: str, running: dict[str, Any]
) -> bool:
    """Mark the attempt running (``running``: the ``RUNNING_COLUMNS``) with ``admin``, unless a running
    attempt the database knows of (committed, or this transaction's) has that admin: whether it did."""
    assert running.keys() == RUNNING_COLUMNS, sorted(running)
    params = {f"new_{k}": v for k, v in running.items()}
    result = await session.execute(_START_WITH_ADMIN, {"attempt_id": attempt_id, "admin": admin, **params})
    return cast(CursorResult[Any], result).rowcount == 1


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
