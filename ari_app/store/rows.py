"""Rows as plain dicts, built in one place for both ways we write them.

Intake writes a new number's rows as Core inserts (no ORM unit of work: profiled, its flushes were ~60 % of
an intake's CPU) and everything else through the ORM (``Model(**row)``). Both take their rows from these
builders, so the two paths can't drift apart. Pure: no session, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..domain.statuses import AttemptStatus, WebhookStatus

Row = dict[str, Any]


def note_row(contact_id: int, request_id: int | None, kind: str, text: str, now: datetime) -> Row:
    return {"contact_id": contact_id, "request_id": request_id, "kind": kind, "text": text, "created_at": now}


def event_row(contact_id: int, type_: str, data: dict[str, Any], now: datetime) -> Row:
    return {"contact_id": contact_id, "type": type_, "data": data, "created_at": now}


def delivery_row(event_id: int, url: str, now: datetime) -> Row:
    return {
        "event_id": event_id,
        "url": url,
        "status": WebhookStatus.PENDING,
        "tries": 0,
        "next_try_at": now,
        "created_at": now,
        "updated_at": now,
    }


def tag_rows(contact_id: int, tags: Iterable[str], now: datetime) -> list[Row]:
    return [{"contact_id": contact_id, "tag": tag, "added_at": now} for tag in sorted(tags)]


def attempt_row(
    request_id: int,
    *,
    number: int,
    lead_attempt: int,
    final: bool,
    kind: str,
    due_at: datetime,
    evidence: dict[str, Any],
    now: datetime,
) -> Row:
    """A scheduled attempt."""
    return {
        "request_id": request_id,
        "number": number,
        "lead_attempt": lead_attempt,
        "final": final,
        "kind": kind,
        "status": AttemptStatus.SCHEDULED,
        "due_at": due_at,
        "evidence": evidence,
        "created_at": now,
        "updated_at": now,
    }
