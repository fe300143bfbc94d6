"""A new request's rows, built once for both of intake's writers: Core inserts for a number never seen (the
fast path), the ORM for a returning contact (``Model(**row)``). Pure: ids and time are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..domain.statuses import RequestStatus
from ..store.rows import Row, event_row, note_row


@dataclass(frozen=True)
class IntakeData:
    first_name: str
    last_name: str
    phone: str  # E.164, already validated
    reason: str
    consent_text: str
    source: str  # form | api
    page_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    preferred_at: datetime | None = None  # the time the lead chose (aware); None: as soon as possible
    preferred_tz: str | None = None  # the zone the form showed it in, when the browser told us


def contact_row(data: IntakeData, stage: str, now: datetime) -> Row:
    return {
        "phone": data.phone,
        "first_name": data.first_name,
        "last_name": data.last_name,
        "pipeline_stage": stage,
        "created_at": now,
        "updated_at": now,
    }


def request_row(contact_id: int, data: IntakeData, now: datetime) -> Row:
    return {
        "contact_id": contact_id,
        "reason": data.reason,
        "status": RequestStatus.PENDING,
        "source": data.source,
        "page_url": data.page_url,
        "ip": data.ip,
        "user_agent": data.user_agent,
        "preferred_at": data.preferred_at,
        "preferred_tz": data.preferred_tz if data.preferred_at is not None else None,
        "created_at": now,
        "updated_at": now,
    }


def request_rows(contact_id: int, request_id: int, data: IntakeData, now: datetime) -> tuple[Row, Row, Row]:
    """What comes with a new request, once it has its id: ``(consent, note, request.created event)``."""
    consent = {
        "request_id": request_id,
        "contact_id": contact_id,
        "text": data.consent_text,
        "ip": data.ip,
        "user_agent": data.user_agent,
        "page_url": data.page_url,
        "source": data.source,
        "given_at": now,
    }
    note = note_row(contact_id, request_id, "system", f"Callback requested: {data.reason}", now)
    created = event_row(contact_id, "request.created", {"request_id": request_id, "source": data.source}, now)
    return consent, note, created
