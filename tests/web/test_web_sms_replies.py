"""Replies to our texts, through the real Kannel hook, on SQLite and PostgreSQL: a time moves the next call,
"no longer needed" cancels by the lead, anything else gets one help (never twice, never to ourselves)."""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from webkit import INBOUND_SECRET, intake_body, make_settings, start_client

from ari_app.services import Services
from ari_app.settings import Settings
from ari_app.store.models import Attempt, CallbackRequest, ContactEvent, SmsOutbox, WebhookDelivery

API = "/api/v1/callback-requests"
HOOK = "https://hooks.example.com/crm"
# The clock starts on Tuesday 4 March 2025 at 10:00 in New York; the lead (201, New Jersey) is there too.
TOMORROW_3PM = datetime(2025, 3, 5, 20, 0, tzinfo=UTC)


@pytest.fixture
def settings() -> Settings:
    return make_settings(webhooks={"urls": [HOOK]})


def _kannel(text: str) -> str:
    return "/hooks/kannel/inbound?" + urlencode(
        {"secret": INBOUND_SECRET, "from": "+12015550123", "to": "5550100", "text": text}
    )


async def _intake(client: TestClient[Any, Any], auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.post(API, json=intake_body(), headers=auth)
    assert answer.status == 201
    created: dict[str, Any] = await answer.json()
    return created


async def _text(client: TestClient[Any, Any], text: str) -> None:
    answer = await client.get(_kannel(text))
    assert answer.status == 200 and await answer.read() == b""


async def _contact(client: TestClient[Any, Any], auth: dict[str, str], contact_id: int) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth)).json()
    return body


async def _attempts(db_sessionmaker: Any, request_id: int) -> list[tuple[str, datetime]]:
    async with db_sessionmaker() as session:
        rows = await session.scalars(
            select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.id)
        )
        return [(a.status, a.due_at) for a in rows]


async def _events(db_sessionmaker: Any, contact_id: int, type_: str) -> list[ContactEvent]:
    async with db_sessionmaker() as session:
        rows = await session.scalars(
            select(ContactEvent)
            .where(ContactEvent.contact_id == contact_id, ContactEvent.type == type_)
            .order_by(ContactEvent.id)
        )
        return list(rows)


async def _deliveries(db_sessionmaker: Any, event_id: int) -> list[str]:
    async with db_sessionmaker() as session:
        return list(
            await session.scalars(select(WebhookDelivery.url).where(WebhookDelivery.event_id == event_id))
        )


def _sms(contact: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in contact["sms"] if m["kind"] == kind]


async def test_a_time_moves_the_next_call_and_is_confirmed_once_in_the_leads_zone(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _intake(client, auth)
    await _text(client, "tomorrow 3pm")
    await _text(client, "Tomorrow at 3pm!")  # the same time again: nothing new to confirm

    assert await _attempts(db_sessionmaker, created["id"]) == [("scheduled", TOMORROW_3PM)]
    contact = await _contact(client, auth, created["contact_id"])
    [confirmation] = _sms(contact, "reschedule_confirmation")
    assert "we will call you tomorrow at 3:00 PM (EST)" in confirmation["body"]
    assert contact["tags"] == ["Request to Callback Pending"]
    notes = [n["text"] for n in contact["notes"]]
    assert "SMS reply: tomorrow 3pm" in notes
    assert any("asked by SMS for 'tomorrow 3pm'" in n and "tomorrow at 3:00 PM (EST" in n for n in notes)

    [understood, _again] = await _events(db_sessionmaker, created["contact_id"], "sms.understood")
    assert understood.data["meaning"] == "time" and understood.data["applied"] is True
    [moved, _] = await _events(db_sessionmaker, created["contact_id"], "request.rescheduled")
    assert moved.data["due_at"] == TOMORROW_3PM.isoformat() and moved.data["request_id"] == created["id"]
    assert await _deliveries(db_sessionmaker, moved.id) == [HOOK]
    async with db_sessionmaker() as session:
        keys = list(await session.scalars(select(SmsOutbox.idempotency_key)))
    # Kannel carries the key in a URL: a "+00:00" in it made the real gateway refuse the text.
    assert all(re.fullmatch(r"[A-Za-z0-9._~:-]{1,200}", key) for key in keys), keys


async def test_a_time_outside_the_calendar_is_moved_to_the_next_allowed_one(
    make_services: Callable[[Settings], Services], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    office = make_settings(calendar={"always_open": False, "weekdays": [{"start": "09:00", "end": "17:00"}]})
    client = await start_client(make_services(office))
    try:
        created = await _intake(client, auth)
        await _text(client, "after 6pm")  # closed then: tomorrow (Wednesday) at the opening
        assert await _attempts(db_sessionmaker, created["id"]) == [
            ("scheduled", datetime(2025, 3, 5, 14, 0, tzinfo=UTC))
        ]
        [confirmation] = _sms(await _contact(client, auth, created["contact_id"]), "reschedule_confirmation")
        assert "tomorrow at 9:00 AM (EST)" in confirmation["body"]
    finally:
        await client.close()


async def test_no_longer_needed_cancels_by_the_lead_without_opting_out(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _intake(client, auth)
    await _text(client, "All sorted now, thanks!")
    await _text(client, "no longer needed")  # twice: confirmed once

    contact = await _contact(client, auth, created["contact_id"])
    assert contact["sms_opted_out"] is False
    assert contact["tags"] == []  # not Complete: nobody talked
    assert contact["pipeline_stage"] == "Cancelled by lead"
    assert contact["requests"][0]["status"] == "cancelled"
    async with db_sessionmaker() as session:
        request = await session.get(CallbackRequest, created["id"])
        assert request is not None and request.close_reason == "cancelled by lead"
    assert await _attempts(db_sessionmaker, created["id"]) == [
        ("cancelled", await _first_due(db_sessionmaker))
    ]
    assert len(_sms(contact, "cancel_confirmation")) == 1
    [tag_event] = [
        e
        for e in await _events(db_sessionmaker, created["contact_id"], "tag.changed")
        if e.data["stage"] == "Cancelled by lead"
    ]
    assert tag_event.data["removed"] == ["Request to Callback Pending"]
    assert await _deliveries(db_sessionmaker, tag_event.id) == [HOOK]

    # Changed their mind: a time opens the request again, with one call.
    await _text(client, "friday at 10am then")
    contact = await _contact(client, auth, created["contact_id"])
    assert contact["requests"][0]["status"] == "pending"
    assert contact["pipeline_stage"] == "Callback requested"
    assert (await _attempts(db_sessionmaker, created["id"]))[-1] == (
        "scheduled",
        datetime(2025, 3, 7, 15, 0, tzinfo=UTC),
    )


async def _first_due(db_sessionmaker: Any) -> datetime:
    async with db_sessionmaker() as session:
        due = await session.scalar(select(Attempt.due_at).order_by(Attempt.id).limit(1))
        assert due is not None
        return due


async def test_stop_and_a_bare_cancel_still_opt_out(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    created = await _intake(client, auth)
    await _text(client, "CANCEL")
    contact = await _contact(client, auth, created["contact_id"])
    assert contact["sms_opted_out"] is True
    assert contact["pipeline_stage"] == "Callback cancelled"
    assert _sms(contact, "cancel_confirmation") == []


async def test_anything_else_gets_one_help_and_an_auto_responder_is_not_answered(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _intake(client, auth)
    await _text(client, "Who is this?")
    await _text(client, "I'm driving right now, I'll get back to you")  # an auto-responder answering it
    await _text(client, "I'm driving right now, I'll get back to you")
    contact = await _contact(client, auth, created["contact_id"])
    [help_text] = _sms(contact, "reply_help")
    assert '"tomorrow at 3pm"' in help_text["body"] and "No longer needed" in help_text["body"]
    assert any("our last text was already the help" in n["text"] for n in contact["notes"])
    assert any("not read as a time or a cancel" in n["text"] for n in contact["notes"])

    # A new request, the same day: our last text is still that help, so an auto-reply gets nothing.
    async with db_sessionmaker() as session, session.begin():
        await session.execute(
            update(CallbackRequest).where(CallbackRequest.id == created["id"]).values(status="completed")
        )
    second = await _intake(client, auth)
    assert second["id"] != created["id"]
    await _text(client, "I'm driving right now, I'll get back to you")
    contact = await _contact(client, auth, created["contact_id"])
    assert len(_sms(contact, "reply_help")) == 1
    understood = await _events(db_sessionmaker, created["contact_id"], "sms.understood")
    assert [e.data["meaning"] for e in understood] == ["nothing"] * 4


async def test_a_time_for_a_request_that_ran_out_of_calls_gives_one_more_call(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _intake(client, auth)
    async with db_sessionmaker() as session, session.begin():
        await session.execute(
            update(Attempt)
            .where(Attempt.request_id == created["id"])
            .values(status="done", outcome="lead_no_answer")
        )
        await session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == created["id"])
            .values(status="incomplete", lead_attempts_used=2, close_reason="lead_no_answer")
        )
    await _text(client, "in 2 hours")
    status, due = (await _attempts(db_sessionmaker, created["id"]))[-1]
    # Two hours from the (running) clock: 12:00 in New York and a few seconds.
    assert status == "scheduled"
    assert datetime(2025, 3, 4, 17, 0, tzinfo=UTC) <= due < datetime(2025, 3, 4, 17, 1, tzinfo=UTC)
    contact = await _contact(client, auth, created["contact_id"])
    assert contact["requests"][0]["status"] == "pending"
    [confirmation] = _sms(contact, "reschedule_confirmation")
    assert "today at 12:00 PM (EST)" in confirmation["body"]


async def test_a_time_from_a_number_on_the_do_not_call_list_moves_nothing(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _intake(client, auth)
    before = await _attempts(db_sessionmaker, created["id"])
    answer = await client.post("/api/v1/dnc", json={"phone": "+12015550123", "reason": "asked"}, headers=auth)
    assert answer.status == 201
    await _text(client, "tomorrow 3pm")
    assert await _attempts(db_sessionmaker, created["id"]) == before
    contact = await _contact(client, auth, created["contact_id"])
    assert _sms(contact, "reschedule_confirmation") == []
    assert any("do-not-call list" in n["text"] for n in contact["notes"])


async def test_a_time_texted_while_the_call_is_starting_does_not_pull_it(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _intake(client, auth)
    async with db_sessionmaker() as session, session.begin():
        await session.execute(
            update(Attempt)
            .where(Attempt.request_id == created["id"])
            .values(status="claimed", lease_owner="w1")
        )
    before = await _attempts(db_sessionmaker, created["id"])
    await _text(client, "tomorrow 3pm")
    assert await _attempts(db_sessionmaker, created["id"]) == before
    contact = await _contact(client, auth, created["contact_id"])
    assert _sms(contact, "reschedule_confirmation") == []
    assert any("not applied: a call was starting" in n["text"] for n in contact["notes"])
