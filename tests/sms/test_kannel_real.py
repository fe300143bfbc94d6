"""KannelGateway through real Kannel daemons: bearerbox, smsbox and the fake SMSC as the phone network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ari_app.sms.gateway import SmsTemporaryError
from ari_app.sms.kannel import KannelGateway, parse_kannel_dlr, parse_kannel_inbound
from ari_app.sms.replies import ReplyKind, classify_reply

from .conftest import Recorder
from .kannel_harness import KannelHarness

pytestmark = [pytest.mark.kannel, pytest.mark.slow]

LEAD = "+15551234567"
SENDER = "+15550100"


@pytest.fixture
async def gateway(kannel: KannelHarness, inbound_secret: str) -> AsyncIterator[KannelGateway]:
    gw = KannelGateway(
        url=kannel.sendsms_url,
        user=kannel.user,
        password=kannel.password,
        sender=SENDER,
        dlr_secret=inbound_secret,
        rate_per_second=0,
    )
    try:
        yield gw
    finally:
        await gw.close()


async def test_kannel_message_reaches_the_smsc_with_its_text_and_number(
    kannel: KannelHarness, gateway: KannelGateway
) -> None:
    text = "Sorry we missed you, Ann. Example Co will call again tomorrow at 10:00. Reply STOP to opt out."
    result = await gateway.send(LEAD, text, idempotency_key="outbox-1")

    assert result.status == "queued"
    received = await kannel.wait_for_smsc(lambda m: m.receiver == LEAD)
    assert (received.sender, received.kind, received.text) == (SENDER, "text", text)


async def test_kannel_ucs2_message_arrives_intact(kannel: KannelHarness, gateway: KannelGateway) -> None:
    text = "Merci Zoë, à bientôt 😀 — Café Ωmega"
    await gateway.send(LEAD, text, idempotency_key="outbox-ucs2")

    received = await kannel.wait_for_smsc(lambda m: m.receiver == LEAD)
    assert received.kind == "ucs-2"
    assert received.text == text


async def test_kannel_delivery_reports_come_back_as_sent_then_delivered(
    kannel: KannelHarness, gateway: KannelGateway, our_endpoints: Recorder, inbound_secret: str
) -> None:
    await gateway.send(
        LEAD, "Thanks Ann", idempotency_key="outbox-42.1", dlr_url=f"{our_endpoints.url}/sms/dlr"
    )

    queries = await our_endpoints.wait_for(lambda: our_endpoints.dlrs, 2)
    reports = [parse_kannel_dlr(query, inbound_secret) for query in queries]
    assert [(r.idempotency_key, r.status) for r in reports] == [
        ("outbox-42.1", "sent"),
        ("outbox-42.1", "delivered"),
    ]


async def test_kannel_inbound_stop_reaches_our_endpoint_with_the_secret(
    kannel: KannelHarness, our_endpoints: Recorder, inbound_secret: str
) -> None:
    await kannel.type_on_phone(LEAD, SENDER, "STOP")

    [query] = await our_endpoints.wait_for(lambda: our_endpoints.inbound, 1)
    sms = parse_kannel_inbound(query, inbound_secret)
    assert (sms.from_phone, sms.to, sms.text) == (LEAD, SENDER, "STOP")
    assert classify_reply(sms.text) is ReplyKind.stop
    # max-messages = 0: our HTTP answer was not texted back to the phone.
    await asyncio.sleep(0.5)
    assert kannel.smsc_received() == []


async def test_kannel_inbound_ucs2_reply_decodes_intact(
    kannel: KannelHarness, our_endpoints: Recorder, inbound_secret: str
) -> None:
    await kannel.type_on_phone(LEAD, SENDER, "Stop 🛑 thanks, Zoë")

    [query] = await our_endpoints.wait_for(lambda: our_endpoints.inbound, 1)
    sms = parse_kannel_inbound(query, inbound_secret)
    assert (sms.from_phone, sms.text) == (LEAD, "Stop 🛑 thanks, Zoë")


async def test_kannel_down_is_temporary_and_a_resend_goes_out_once(
    kannel: KannelHarness, gateway: KannelGateway
) -> None:
    await kannel.stop_smsbox()
    with pytest.raises(SmsTemporaryError) as caught:
        await gateway.send(LEAD, "We will call again at 3 pm", idempotency_key="outbox-7")
    assert caught.value.maybe_sent is False

    await kannel.start_smsbox()
    await gateway.send(LEAD, "We will call again at 3 pm", idempotency_key="outbox-7")

    await kannel.wait_for_smsc(lambda m: m.text == "We will call again at 3 pm")
    await asyncio.sleep(0.5)
    assert [m.text for m in kannel.smsc_received()] == ["We will call again at 3 pm"]


async def test_kannel_wrong_password_is_permanent(kannel: KannelHarness) -> None:
    from ari_app.sms.gateway import SmsPermanentError

    gw = KannelGateway(url=kannel.sendsms_url, user=kannel.user, password="wrong", sender=SENDER)
    try:
        with pytest.raises(SmsPermanentError, match="Authorization failed"):
            await gw.send(LEAD, "hello", idempotency_key="outbox-8")
    finally:
        await gw.close()
