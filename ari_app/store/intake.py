"""Intake's reads and its fast writer: Core statements built once (a statement object keeps its compiled-cache
key, so intake neither rebuilds nor rehashes them), run on the session's connection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Insert, bindparam, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.statuses import OPEN_REQUEST_STATUSES
from .models import Base
from .rows import Row

_TABLES = Base.metadata.tables
_CONTACTS, _REQUESTS, _DNC = _TABLES["contacts"], _TABLES["callback_requests"], _TABLES["dnc"]

_INSERT_CONTACT = insert(_CONTACTS)
_INSERT_REQUEST = insert(_REQUESTS)
_INSERT_CONSENT = insert(_TABLES["consents"])
_INSERT_NOTES = insert(_TABLES["notes"])
_INSERT_EVENTS = insert(_TABLES["contact_events"])
_INSERT_TAGS = insert(_TABLES["contact_tags"])
_INSERT_ATTEMPT = insert(_TABLES["attempts"])
_INSERT_DELIVERIES = insert(_TABLES["webhook_deliveries"])

# A number's open request and its requests since a time (the per-number daily limit).
_OPEN_OR_RECENT = (
    select(_REQUESTS.c.status, _REQUESTS.c.created_at)
    .join(_CONTACTS, _CONTACTS.c.id == _REQUESTS.c.contact_id)
    .where(
        _CONTACTS.c.phone == bindparam("phone"),
        or_(_REQUESTS.c.status.in_(OPEN_REQUEST_STATUSES), _REQUESTS.c.created_at > bindparam("since")),
    )
)
_DNC_AND_CONTACT = select(
    exists().where(_DNC.c.phone == bindparam("phone")),
    select(_CONTACTS.c.id).where(_CONTACTS.c.phone == bindparam("phone")).scalar_subquery(),
)


async def dnc_and_contact(session: AsyncSession, phone: str) -> tuple[bool, int | None]:
    """Is the number on the do-not-call list, and whose is it: one look-up, so the common case (a number
    never seen) needs no ORM unit of work."""
    on_dnc, contact_id = (await session.execute(_DNC_AND_CONTACT, {"phone": phone})).one()
    return bool(on_dnc), contact_id


async def open_or_recent_requests(
    session: AsyncSession, phone: str, since: datetime
) -> list[tuple[str, datetime]]:
    """``(status, created_at)`` of the number's open request and of its requests made since ``since``."""
    rows = await session.execute(_OPEN_OR_RECENT, {"phone": phone, "since": since})
    return [(status, created) for status, created in rows]


def _insert_id(conn: Connection, statement: Insert, row: Row) -> int:
    """Insert one row and return its new id (lastrowid on SQLite, RETURNING on PostgreSQL)."""
    key = conn.execute(statement, row).inserted_primary_key
    assert key is not None  # a single-row insert always has one
    return int(key[0])


def insert_contact(conn: Connection, row: Row) -> int:
    return _insert_id(conn, _INSERT_CONTACT, row)


def insert_request(conn: Connection, row: Row) -> int:
    return _insert_id(conn, _INSERT_REQUEST, row)


def insert_request_rows(
    conn: Connection,
    *,
    consent: Row,
    notes: list[Row],
    events: list[Row],
    deliveries: Callable[[int], list[Row]] | None,
    tags: list[Row],
    attempt: Row,
) -> int:
    """A new request's other rows, one batch per table, in the order the ORM path writes them; returns the
    attempt's id. ``deliveries``: the webhook deliveries of the last event, given its id (None when there are
    none)."""
    conn.execute(_INSERT_CONSENT, [consent])
    conn.execute(_INSERT_NOTES, notes)
    if deliveries is not None:  # the deliveries need the last event's id
        if events[:-1]:
            conn.execute(_INSERT_EVENTS, events[:-1])
        event_id = _insert_id(conn, _INSERT_EVENTS, events[-1])
        conn.execute(_INSERT_DELIVERIES, deliveries(event_id))
    else:
        conn.execute(_INSERT_EVENTS, events)
    conn.execute(_INSERT_TAGS, tags)
    return _insert_id(conn, _INSERT_ATTEMPT, attempt)
