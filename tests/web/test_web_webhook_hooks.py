"""Inbound SMS and delivery reports from the generic JSON webhook gateway, signed with the inbound secret."""

import json
import time
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from webkit import INBOUND_SECRET, LEAD, intake_body

from ari_app.services import Services
from ari_app.sms.webhook import SIGNATURE_HEADER, sign_webhook
from ari_app.store.models import Contact, SmsOutbox

API = "/api/v1/callback-requests"


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _signed(body: bytes, secret: str = INBOUND_SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign_webhook(secret, body, timestamp)}


async def _timeline(client: TestClient[Any, Any], auth: dict[str, str], contact_id: int) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth)).json()
    return body


async def _contact_id(client: TestClient[Any, Any], auth: dict[str, str]) -> int:
    created = await (await client.post(API, json=intake_body(), headers=auth)).json()
    return int(created["contact_id"])


async def test_a_signed_inbound_stop_opts_the_contact_out(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    contact_id = await _contact_id(client, auth)
    body = _json({"from": LEAD, "to": "+15550100", "text": "STOP"})
    answer = await client.post("/hooks/webhook/inbound", data=body, headers=_signed(body))
    assert answer.status == 204
    contact = await _timeline(client, auth, contact_id)
    assert contact["sms_opted_out"] is True
    assert contact["requests"][0]["status"] == "cancelled"
    # The webhook gateway confirms opt-outs itself by default: one confirmation is queued.
    assert [m["kind"] for m in contact["sms"] if m["status"] == "queued"] == ["opt_out_confirmation"]


async def test_a_forged_inbound_stop_is_refused_and_changes_nothing(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    contact_id = await _contact_id(client, auth)
    before = await _timeline(client, auth, contact_id)
    body = _json({"from": LEAD, "to": "+15550100", "text": "STOP"})
    other = _json({"from": LEAD, "to": "+15550100", "text": "HELLO"})
    forgeries = [
        {"Content-Type": "application/json"},  # unsigned
        _signed(body, secret="guess"),
        _signed(body, secret=INBOUND_SECRET[:-1]),
        _signed(other),  # a signature of another body
        _signed(body, timestamp=int(time.time()) - 3600),  # an old request replayed
        {"Content-Type": "application/json", SIGNATURE_HEADER: "t=x,v1=00"},
    ]
    for headers in forgeries:
        answer = await client.post("/hooks/webhook/inbound", data=body, headers=headers)
        assert answer.status == 403, headers
        assert (await answer.json())["error"] == "sms-inbound-forbidden"
    assert await _timeline(client, auth, contact_id) == before


async def _queued_message(services: Services, db_sessionmaker: Any, contact_id: int) -> str:
    async with db_sessionmaker() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        message = await services.lifecycle.outreach.queue_sms(
            session, contact, None, "help", key="webhook-dlr"
        )
        await session.commit()
    return message.idempotency_key


async def _status(db_sessionmaker: Any, key: str) -> tuple[str, bool]:
    async with db_sessionmaker() as session:
        message = await session.scalar(select(SmsOutbox).where(SmsOutbox.idempotency_key == key))
    assert message is not None
    return message.status, message.delivered_at is not None


async def test_a_signed_delivery_report_marks_the_text_delivered(
    client: TestClient[Any, Any], auth: dict[str, str], services: Services, db_sessionmaker: Any
) -> None:
    key = await _queued_message(services, db_sessionmaker, await _contact_id(client, auth))
    body = _json({"idempotency_key": key, "status": "delivered"})
    answer = await client.post("/hooks/webhook/dlr", data=body, headers=_signed(body))
    assert answer.status == 204
    assert await _status(db_sessionmaker, key) == ("delivered", True)


async def test_an_unsigned_delivery_report_is_refused(
    client: TestClient[Any, Any], auth: dict[str, str], services: Services, db_sessionmaker: Any
) -> None:
    key = await _queued_message(services, db_sessionmaker, await _contact_id(client, auth))
    body = _json({"idempotency_key": key, "status": "delivered"})
    for headers in ({"Content-Type": "application/json"}, _signed(body, secret="guess")):
        answer = await client.post("/hooks/webhook/dlr", data=body, headers=headers)
        assert answer.status == 403
    assert await _status(db_sessionmaker, key) == ("queued", False)


async def test_a_signed_report_with_an_unknown_status_is_refused(
    client: TestClient[Any, Any], auth: dict[str, str], services: Services, db_sessionmaker: Any
) -> None:
    key = await _queued_message(services, db_sessionmaker, await _contact_id(client, auth))
    body = _json({"idempotency_key": key, "status": "teleported"})
    answer = await client.post("/hooks/webhook/dlr", data=body, headers=_signed(body))
    assert answer.status == 422
    assert await _status(db_sessionmaker, key) == ("queued", False)
