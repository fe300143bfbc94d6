"""Read models: what the API shows, answered as JSON-ready dicts. A contact's timeline is read by
``store/timeline.py`` (the dashboard renders the same read in ``web/dashboard_reads.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.statuses import UNFINISHED_ATTEMPT_STATUSES
from ..store.models import Attempt, CallbackRequest, Contact, Leg
from ..store.timeline import attempts_with_legs, read_timeline

EVENTS_SHOWN = 500  # the newest events of a contact; the log is append-only and can grow long


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_json(r: CallbackRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "contact_id": r.contact_id,
        "status": r.status,
        "reason": r.reason,
        "source": r.source,
        "page_url": r.page_url,
        "created_at": _iso(r.created_at),
        "closed_at": _iso(r.closed_at),
        "close_reason": r.close_reason,
        "lead_attempts_used": r.lead_attempts_used,
        "preferred_at": _iso(r.preferred_at),
    }


def _leg_json(leg: Leg) -> dict[str, Any]:
    return {
        "role": leg.role,
        "channel_id": leg.channel_id,
        "endpoint": leg.endpoint,
        "state": leg.state,
        "dial_status": leg.dial_status,
        "cause": leg.cause,
        "cause_txt": leg.cause_txt,
        "amd_status": leg.amd_status,
        "amd_cause": leg.amd_cause,
        "amd_seconds": leg.amd_seconds,
        "greeting_end_seconds": leg.greeting_end_seconds,
        "drop_early": leg.drop_early,
        "answered_at": _iso(leg.answered_at),
        "bridged_at": _iso(leg.bridged_at),
        "ended_at": _iso(leg.ended_at),
    }


def _attempt_json(a: Attempt, legs: Sequence[Leg]) -> dict[str, Any]:
    return {
        "id": a.id,
        "request_id": a.request_id,
        "number": a.number,
        "lead_attempt": a.lead_attempt,
        "final": a.final,
        "kind": a.kind,
        "status": a.status,
        "due_at": _iso(a.due_at),
        "started_at": _iso(a.started_at),
        "ended_at": _iso(a.ended_at),
        "outcome": a.outcome,
        "outcome_detail": a.outcome_detail,
        "talk_seconds": a.talk_seconds,
        "admin_name": a.admin_name,
        "evidence": a.evidence or {},
        "lead_label": a.lead_label,
        "lead_label_by": a.lead_label_by,
        "lead_label_at": _iso(a.lead_label_at),
        "legs": [_leg_json(leg) for leg in legs],
    }


async def attempt_detail(session: AsyncSession, attempt_id: int) -> dict[str, Any] | None:
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        return None
    legs = await session.scalars(
        select(Leg).where(Leg.attempt_id == attempt_id).order_by(Leg.role, Leg.try_no)
    )
    return _attempt_json(attempt, list(legs))


async def attempts_of(session: AsyncSession, request_ids: Sequence[int]) -> list[dict[str, Any]]:
    attempts, legs = await attempts_with_legs(session, request_ids)
    return [_attempt_json(a, legs.get(a.id, [])) for a in attempts]


async def contact_detail(session: AsyncSession, contact_id: int) -> dict[str, Any] | None:
    t = await read_timeline(session, contact_id, newest_events=EVENTS_SHOWN)
    if t is None:
        return None
    contact = t.contact
    return {
        "id": contact.id,
        "phone": contact.phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "tags": t.tags,
        "pipeline_stage": contact.pipeline_stage,
        "sms_opted_out": contact.sms_opted_out,
        "number_invalid": contact.number_invalid,
        "notes": [
            {"kind": n.kind, "text": n.text, "request_id": n.request_id, "created_at": _iso(n.created_at)}
            for n in t.notes
        ],
        "requests": [request_json(r) for r in t.requests],
        "attempts": [_attempt_json(a, t.legs.get(a.id, [])) for a in t.attempts],
        "sms": [
            {
                "id": m.id,
                "kind": m.kind,
                "body": m.body,
                "status": m.status,
                "error": m.error,
                "tries": m.tries,
                "created_at": _iso(m.created_at),
                "sent_at": _iso(m.sent_at),
                "delivered_at": _iso(m.delivered_at),
            }
            for m in t.sms
        ],
        "consents": [
            {
                "id": c.id,
                "request_id": c.request_id,
                "text": c.text,
                "ip": c.ip,
                "user_agent": c.user_agent,
                "page_url": c.page_url,
                "source": c.source,
                "given_at": _iso(c.given_at),
            }
            for c in t.consents
        ],
        "events": [
            {"id": e.id, "type": e.type, "data": e.data, "created_at": _iso(e.created_at)} for e in t.events
        ],
    }


def _next_attempt_at() -> Any:
    """Correlated subquery: the earliest attempt still to come for a request."""
    return (
        select(func.min(Attempt.due_at))
        .where(Attempt.request_id == CallbackRequest.id, Attempt.status.in_(UNFINISHED_ATTEMPT_STATUSES))
        .correlate(CallbackRequest)
        .scalar_subquery()
    )


async def list_requests(
    session: AsyncSession, *, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    next_at = _next_attempt_at().label("next_attempt_at")
    query = select(CallbackRequest, Contact.first_name, Contact.last_name, Contact.phone, next_at).join(
        Contact, Contact.id == CallbackRequest.contact_id
    )
    count = select(func.count()).select_from(CallbackRequest)
    if status is not None:
        query = query.where(CallbackRequest.status == status)
        count = count.where(CallbackRequest.status == status)
    rows = await session.execute(
        query.order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = []
    for request, first_name, last_name, phone, next_attempt_at in rows:
        item = request_json(request)
        item.update(
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            next_attempt_at=_iso(_aware(next_attempt_at)),
        )
        items.append(item)
    total = await session.scalar(count)
    return {"items": items, "total": int(total or 0), "limit": limit, "offset": offset}


def _aware(value: datetime | str | None) -> datetime | None:
    """A subquery's value skips the column type's conversion on SQLite: re-read it as UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def request_detail(session: AsyncSession, request_id: int) -> dict[str, Any] | None:
    request = await session.get(CallbackRequest, request_id)
    if request is None:
        return None
    contact = await session.get(Contact, request.contact_id)
    assert contact is not None
    attempts = await attempts_of(session, [request.id])
    upcoming = [a["due_at"] for a in attempts if a["status"] in UNFINISHED_ATTEMPT_STATUSES]
    body = request_json(request)
    body.update(
        contact={
            "id": contact.id,
            "phone": contact.phone,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "pipeline_stage": contact.pipeline_stage,
        },
        next_attempt_at=min(upcoming) if upcoming else None,
        attempts=attempts,
    )
    return body
