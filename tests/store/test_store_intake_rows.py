"""A number's first request is written by a faster path than a returning contact's (Core inserts, no ORM
unit of work), from the same row builders: both must add the same rows, in the same order, on SQLite and on
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.clock import VirtualClock
from ari_app.lifecycle import IntakeData, IntakeResult, Lifecycle
from ari_app.settings import load_settings
from ari_app.store.models import Attempt, CallbackRequest, Consent, ContactEvent, Note, WebhookDelivery

HOOKS = ["https://crm.example.com/a", "https://crm.example.com/b"]
TABLES = (CallbackRequest, Consent, Note, ContactEvent, WebhookDelivery, Attempt)
# Differ between any two requests: ids, times, and the scheduling evidence (it holds the time).
VARYING = {
    "id",
    "request_id",
    "event_id",
    "created_at",
    "updated_at",
    "given_at",
    "due_at",
    "next_try_at",
    "evidence",
    "at",
}


def _data(phone: str) -> IntakeData:
    return IntakeData(
        first_name="Ann",
        last_name="Lee",
        phone=phone,
        reason="A quote, please",
        consent_text="I agree to be called.",
        source="api",
        page_url="https://example.com/contact",
        ip="192.0.2.7",
        user_agent="test/1",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in VARYING}
    return value


async def _submit_and_collect(
    sessions: async_sessionmaker[AsyncSession], lifecycle: Lifecycle, data: IntakeData
) -> tuple[IntakeResult, dict[str, list[dict[str, Any]]]]:
    """Submit, and return the rows the submission added to each table (less what differs every time)."""
    async with sessions() as session:
        before = {m: await session.scalar(select(func.coalesce(func.max(m.id), 0))) for m in TABLES}
    async with sessions.begin() as session:
        result = await lifecycle.intake.submit(session, data)
    added: dict[str, list[dict[str, Any]]] = {}
    async with sessions() as session:
        for model in TABLES:
            rows = await session.scalars(select(model).where(model.id > before[model]).order_by(model.id))
            added[model.__tablename__] = [
                _plain({c.key: getattr(row, c.key) for c in model.__table__.columns}) for row in rows
            ]
    return result, added


async def test_a_first_request_and_a_returning_contacts_request_add_the_same_rows(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    settings = load_settings(environ={}, overrides={"webhooks": {"urls": HOOKS}})
    lifecycle = Lifecycle(settings, VirtualClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC)))
    first, rows_first = await _submit_and_collect(db_sessionmaker, lifecycle, _data("+12125550101"))
    async with db_sessionmaker.begin() as session:
        await lifecycle.closing.cancel(session, first.body["id"], reason="test", by="an admin")
    again, rows_again = await _submit_and_collect(db_sessionmaker, lifecycle, _data("+12125550101"))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.body["contact_id"] == first.body["contact_id"]
    assert rows_first["notes"] == [
        {"contact_id": 1, "kind": "system", "text": "Callback requested: A quote, please"},
        {
            "contact_id": 1,
            "kind": "tag",
            "text": "Status: +Request to Callback Pending; stage: Callback requested (callback requested)",
        },
    ]
    assert [e["type"] for e in rows_first["contact_events"]] == ["request.created", "tag.changed"]
    assert [d["url"] for d in rows_first["webhook_deliveries"]] == HOOKS
    # The returning contact's stage came from "Callback cancelled", the new one's from nothing.
    assert rows_first["contact_events"][1]["data"].pop("previous_stage") is None
    assert rows_again["contact_events"][1]["data"].pop("previous_stage") == "Callback cancelled"
    assert rows_again == rows_first
