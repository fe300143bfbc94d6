"""Inbound SMS and delivery reports, as Kannel and Twilio call us."""

from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from webkit import INBOUND_SECRET, intake_body
from yarl import URL

from ari_app.sms.kannel import dlr_signature
from ari_app.sms.twilio import SIGNATURE_HEADER, twilio_signature
from ari_app.store.models import SmsOutbox

API = "/api/v1/callback-requests"


async def _contact(client: TestClient[Any, Any], auth: dict[str, str]) -> dict[str, Any]:
    created = await (await client.post(API, json=intake_body(), headers=auth)).json()
    return created


async def _timeline(client: TestClient[Any, Any], auth: dict[str, str], contact_id: int) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth)).json()
    return body


def _kannel(text: str, sender: str = "+12015550123", secret: str = INBOUND_SECRET) -> str:
    return "/hooks/kannel/inbound?" + urlencode(
        {"secret": secret, "from": sender, "to": "5550100", "text": text, "coding": "0", "charset": "UTF-8"}
    )


async def test_kannel_inbound_with_a_wrong_secret_is_refused(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    created = await _contact(client, auth)
    answer = await client.get(_kannel("STOP", secret="guess"))
    assert answer.status == 403
    contact = await _timeline(client, auth, created["contact_id"])
    assert contact["sms_opted_out"] is False


async def test_stop_opts_out_cancels_and_confirms_once(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _contact(client, auth)
    for _ in range(2):
        answer = await client.get(_kannel("Stop"))
        assert answer.status == 200
        assert await answer.read() == b""  # Kannel would text a body back to the phone
    contact = await _timeline(client, auth, created["contact_id"])
    assert contact["sms_opted_out"] is True
    assert contact["pipeline_stage"] == "Callback cancelled"
    assert contact["tags"] == []
    assert contact["requests"][0]["status"] == "cancelled"
    confirmations = [m for m in contact["sms"] if m["kind"] == "opt_out_confirmation"]
    assert len(confirmations) == 1
    assert "unsubscribed" in confirmations[0]["body"]


async def test_the_stop_confirmation_is_left_to_be_sent(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    created = await _contact(client, auth)
    await client.get(_kannel("STOP"))
    contact = await _timeline(client, auth, created["contact_id"])
    [confirmation] = [m for m in contact["sms"] if m["kind"] == "opt_out_confirmation"]
    assert confirmation["status"] == "queued"


async def test_start_help_and_other_replies(client: TestClient[Any, Any], auth: dict[str, str]) -> None:
    created = await _contact(client, auth)
    # Kannel may give the sender without "+": the country code is still there.
    assert (await client.get(_kannel("STOP", sender="12015550123"))).status == 200
    assert (await client.get(_kannel("start"))).status == 200
    assert (await client.get(_kannel("HELP"))).status == 200
    assert (await client.get(_kannel("Can you call after 5pm? <b>thanks</b>"))).status == 200
    contact = await _timeline(client, auth, created["contact_id"])
    assert contact["sms_opted_out"] is False
    assert [m["kind"] for m in contact["sms"] if m["status"] == "queued"] == ["opt_out_confirmation", "help"]
    replies = [n["text"] for n in contact["notes"] if n["kind"] == "sms_reply"]
    assert replies == ["SMS reply: Can you call after 5pm? <b>thanks</b>"]


async def test_texts_from_unknown_senders_are_ignored(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    for sender in ("+12015550999", "not a number"):
        answer = await client.get(_kannel("STOP", sender=sender))
        assert answer.status == 200 and await answer.read() == b""


async def _queued_message(client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any) -> str:
    created = await _contact(client, auth)
    await client.get(_kannel("HELP"))
    async with db_sessionmaker() as session:
        message = await session.scalar(select(SmsOutbox).where(SmsOutbox.contact_id == created["contact_id"]))
    assert message is not None
    return message.idempotency_key


def _dlr(key: str, dlr_type: int, reply: str = "", sig: str | None = None) -> str:
    sig = dlr_signature(INBOUND_SECRET, key) if sig is None else sig
    return "/hooks/kannel/dlr?" + urlencode({"key": key, "sig": sig, "type": str(dlr_type), "reply": reply})


async def _status(db_sessionmaker: Any, key: str) -> tuple[str, str | None, bool]:
    async with db_sessionmaker() as session:
        message = await session.scalar(select(SmsOutbox).where(SmsOutbox.idempotency_key == key))
    assert message is not None
    return message.status, message.error, message.delivered_at is not None


async def test_kannel_delivery_reports_mark_delivered_and_never_downgrade(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    key = await _queued_message(client, auth, db_sessionmaker)
    assert (await client.get(_dlr(key, 1, sig="0" * 64))).status == 403
    assert (await _status(db_sessionmaker, key))[0] == "queued"
    for dlr_type in (8, 1, 16, 8):  # ack, delivered, then a late failure and ack that must not win
        answer = await client.get(_dlr(key, dlr_type, reply="late"))
        assert answer.status == 200 and await answer.read() == b""
    assert await _status(db_sessionmaker, key) == ("delivered", None, True)


async def test_kannel_failure_reports_keep_the_reason(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    key = await _queued_message(client, auth, db_sessionmaker)
    assert (
        await client.get(_dlr(key, 16, reply="NACK/0x0000000b/Invalid Destination Address"))
    ).status == 200
    assert await _status(db_sessionmaker, key) == (
        "failed",
        "NACK/0x0000000b/Invalid Destination Address",
        False,
    )


async def test_twilio_hooks_check_the_signature(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    created = await _contact(client, auth)
    form = {"From": "+12015550123", "To": "+15550100", "Body": "Please call me tomorrow", "MessageSid": "SM1"}
    url = "https://callback.example.com/hooks/twilio/inbound"
    forged = await client.post("/hooks/twilio/inbound", data=form, headers={SIGNATURE_HEADER: "AAAA"})
    assert forged.status == 403
    signed = {SIGNATURE_HEADER: twilio_signature("twilio-auth-token", url, form)}
    answer = await client.post("/hooks/twilio/inbound", data=form, headers=signed)
    assert answer.status == 200 and "<Response>" in await answer.text()
    contact = await _timeline(client, auth, created["contact_id"])
    assert [n["text"] for n in contact["notes"] if n["kind"] == "sms_reply"] == [
        "SMS reply: Please call me tomorrow"
    ]

    key = await _queued_message(client, auth, db_sessionmaker)
    # Signed over the URL exactly as sent (the client re-quotes the query the way yarl does).
    path = URL("/hooks/twilio/status?" + urlencode({"key": key})).raw_path_qs
    status_form = {"MessageSid": "SM2", "MessageStatus": "delivered"}
    signature = twilio_signature("twilio-auth-token", "https://callback.example.com" + path, status_form)
    headers = {SIGNATURE_HEADER: signature}
    assert (await client.post(path, data=status_form, headers=headers)).status == 204
    assert (await _status(db_sessionmaker, key))[0] == "delivered"
