"""A contact's timeline, read once for both who show it: the API (``web/api_reads.contact_detail``, JSON) and
the dashboard (``web/dashboard_reads.contact_view``, sentences). Rows come back in a fixed order; a renderer
that wants another sorts them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import (
    Attempt,
    CallbackRequest,
    Consent,
    Contact,
    ContactEvent,
    ContactTag,
    Leg,
    Note,
    SmsOutbox,
)


@dataclass(frozen=True)
class Timeline:
    contact: Contact
    tags: list[str]  # by name
    notes: list[Note]  # the rest by time, then id
    requests: list[CallbackRequest]
    attempts: list[Attempt]  # by request, then number
    legs: dict[int, list[Leg]]  # by attempt id; by role, then try
    sms: list[SmsOutbox]
    consents: list[Consent]
    events: list[ContactEvent]  # oldest first


async def attempts_with_legs(
    session: AsyncSession, request_ids: Sequence[int]
) -> tuple[list[Attempt], dict[int, list[Leg]]]:
    """The requests' attempts (by request, then number) and each one's legs (by role, then try)."""
    if not request_ids:
        return [], {}
    attempts = list(
        await session.scalars(
            select(Attempt)
            .where(Attempt.request_id.in_(request_ids))
            .order_by(Attempt.request_id, Attempt.number)
        )
    )
    legs: dict[int, list[Leg]] = {}
    if attempts:
        for leg in await session.scalars(
            select(Leg)
            .where(Leg.attempt_id.in_([a.id for a in attempts]))
            .order_by(Leg.attempt_id, Leg.role, Leg.try_no)
        ):
            legs.setdefault(leg.attempt_id, []).append(leg)
    return attempts, legs


async def read_timeline(
    session: AsyncSession, contact_id: int, *, newest_events: int | None = None, event_type: str | None = None
) -> Timeline | None:
    """Everything on a contact's timeline; None for no such contact. Events: only ``event_type`` when given,
    only the ``newest_events`` newest when given (the log is append-only and can grow long)."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        return None

    tags = await session.scalars(
        select(ContactTag.tag).where(ContactTag.contact_id == contact_id).order_by(ContactTag.tag)
    )
    notes = await session.scalars(
        select(Note).where(Note.contact_id == contact_id).order_by(Note.created_at, Note.id)
    )
    requests = list(
        await session.scalars(
            select(CallbackRequest)
            .where(CallbackRequest.contact_id == contact_id)
            .order_by(CallbackRequest.created_at, CallbackRequest.id)
        )
    )
    sms = await session.scalars(
        select(SmsOutbox)
        .where(SmsOutbox.contact_id == contact_id)
        .order_by(SmsOutbox.created_at, SmsOutbox.id)
    )
    consents = await session.scalars(
        select(Consent).where(Consent.contact_id == contact_id).order_by(Consent.given_at, Consent.id)
    )
    events_query = select(ContactEvent).where(ContactEvent.contact_id == contact_id)
    if event_type is not None:
        events_query = events_query.where(ContactEvent.type == event_type)
    events_query = events_query.order_by(ContactEvent.id.desc())
    if newest_events is not None:
        events_query = events_query.limit(newest_events)
    events = list(await session.scalars(events_query))
    attempts, legs = await attempts_with_legs(session, [r.id for r in requests])
    return Timeline(
        contact=contact,
        tags=list(tags),
        notes=list(notes),
        requests=requests,
        attempts=attempts,
        legs=legs,
        sms=list(sms),
        consents=list(consents),
        events=events[::-1],
    )
