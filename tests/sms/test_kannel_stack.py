"""Real Kannel with our whole app: the ARI simulator as the PBX, our Runtime (web, worker, SMS sender) with
``sms.gateway = "kannel"``, and bearerbox, smsbox and the fake SMSC as the phone network. Kannel reaches our
real hooks: the dlr-url (``/hooks/kannel/dlr``) and the sms-service get-url (``/hooks/kannel/inbound``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2ekit import Stack, free_port, open_stack
from sqlalchemy import select

from ari_app.sms.kannel import kannel_sms_service_url
from ari_app.store.models import Attempt, SmsOutbox

from .kannel_harness import KannelHarness, SmscMessage

pytestmark = [pytest.mark.kannel, pytest.mark.slow]

LEAD = "+12025550142"  # Washington, DC: inside quiet hours at the stack's open instant
SENDER = "+15550100"
INBOUND_ROUTE = "/hooks/kannel/inbound"
WITHIN = 20.0  # wall seconds for anything to cross Kannel and our app


@dataclass
class KannelStack:
    stack: Stack
    kannel: KannelHarness

    async def outbox(self, contact_id: int) -> list[SmsOutbox]:
        services = self.stack.runtime.services
        assert services is not None
        async with services.sessions() as session:
            rows = await session.scalars(
                select(SmsOutbox).where(SmsOutbox.contact_id == contact_id).order_by(SmsOutbox.id)
            )
            return list(rows)

    async def wait_outbox(
        self, contact_id: int, ready: Callable[[list[SmsOutbox]], bool], within: float = WITHIN
    ) -> list[SmsOutbox]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            rows = await self.outbox(contact_id)
            if ready(rows):
                return rows
            assert loop.time() < deadline, [(m.kind, m.status, m.error) for m in rows]
            await asyncio.sleep(0.05)

    def inbound_hook_calls(self) -> float:
        """Kannel's calls to our inbound hook that we answered 200, as /metrics counts them."""
        value = self.stack.runtime.metrics.registry.get_sample_value(
            "callback_http_requests_total", {"method": "GET", "route": INBOUND_ROUTE, "status": "200"}
        )
        return value or 0.0

    async def wait_inbound_hook_calls(self, count: int, within: float = WITHIN) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.inbound_hook_calls() < count:
            assert loop.time() < deadline, f"our inbound hook answered {self.inbound_hook_calls()} times"
            await asyncio.sleep(0.05)

    def to_lead(self) -> list[SmscMessage]:
        return [m for m in self.kannel.smsc_received() if m.receiver == LEAD]

    async def missed_call(self, first_name: str) -> tuple[int, int]:
        """A request whose first call is missed (busy); the retry is far away, so the request stays open."""
        await self.stack.scenario([{"match": LEAD, "behaviour": "busy"}])
        request_id = await self.stack.submit(LEAD, first_name, "Lovelace")
        assert await self.stack.wait_outcomes(request_id, 1) == ["lead_busy"]
        state = await self.stack.state(request_id)
        return request_id, int(state["contact_id"])


@pytest.fixture
async def kannel_stack(tmp_path: Path) -> AsyncIterator[KannelStack]:
    port = free_port()
    our_url = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(16)
    (tmp_path / "kannel").mkdir()
    kannel = KannelHarness(
        tmp_path / "kannel",
        get_url=kannel_sms_service_url(our_url + INBOUND_ROUTE, secret),
        user="callback",
        password=secrets.token_urlsafe(12),
    )
    overrides: dict[str, dict[str, Any]] = {
        "web": {"port": port, "public_url": our_url},
        "sms": {
            "gateway": "kannel",
            "url": kannel.sendsms_url,
            "user": kannel.user,
            "password": kannel.password,
            "sender": SENDER,
            "inbound_secret": secret,
        },
        # Two virtual hours (over a minute of wall time): the request stays open after its first miss.
        "calls": {"retry_delay": 7200.0},
    }
    try:
        await kannel.start()
        async with open_stack(tmp_path, overrides, configured_sms=True) as stack:
            yield KannelStack(stack, kannel)
    finally:
        await kannel.close()


async def test_kannel_stack_missed_call_sms_reaches_the_phone_and_is_marked_delivered(
    kannel_stack: KannelStack,
) -> None:
    request_id, contact_id = await kannel_stack.missed_call("Ada")

    # The fake SMSC's own log line can come after Kannel's delivery report: wait for both.
    received = await kannel_stack.kannel.wait_for_smsc(lambda m: m.receiver == LEAD, within=WITHIN)
    [message] = await kannel_stack.wait_outbox(
        contact_id, lambda rows: [m.status for m in rows] == ["delivered"]
    )
    assert message.kind == "missed_call"
    assert (received.sender, received.kind, received.text) == (SENDER, "text", message.body)
    assert received.text.startswith("Sorry we missed you, Ada.")
    assert "will call again" in received.text and "Reply STOP" in received.text
    assert message.delivered_at is not None and message.request_id == request_id
    assert kannel_stack.to_lead() == [received]


async def test_kannel_stack_stop_opts_out_cancels_and_confirms_once(kannel_stack: KannelStack) -> None:
    stack, kannel = kannel_stack.stack, kannel_stack.kannel
    request_id, contact_id = await kannel_stack.missed_call("Grace")
    await kannel.wait_for_smsc(lambda m: m.text.startswith("Sorry we missed you"), within=WITHIN)

    await kannel.type_on_phone(LEAD, SENDER, "STOP")

    assert await stack.wait_request(request_id, until=("cancelled",), within=WITHIN) == "cancelled"
    state = await stack.state(request_id)
    assert state["stage"] == "Callback cancelled"
    assert state["tags"] == []  # no status tag: the request left the module
    assert (await stack.contact(contact_id))["sms_opted_out"] is True
    confirmation = await kannel.wait_for_smsc(lambda m: "unsubscribed" in m.text, within=WITHIN)
    assert confirmation.receiver == LEAD

    # The same person sends STOP again: our hook takes it, and nothing new is texted.
    await kannel.type_on_phone(LEAD, SENDER, "STOP")
    await kannel_stack.wait_inbound_hook_calls(2)
    rows = await kannel_stack.wait_outbox(
        contact_id, lambda rows: all(m.status not in ("queued", "sending") for m in rows)
    )
    assert [m.kind for m in rows] == ["missed_call", "opt_out_confirmation"]
    # Exactly two texts reached the phone, and none is our HTTP answer (max-messages = 0).
    assert [m.text for m in kannel_stack.to_lead()] == [rows[0].body, rows[1].body]
    assert await stack.outcomes(request_id) == ["lead_busy"]  # the retry was cancelled, not dialled


async def test_kannel_stack_smsbox_down_message_waits_then_goes_out_once(
    kannel_stack: KannelStack,
) -> None:
    kannel = kannel_stack.kannel
    await kannel.stop_smsbox()
    _request_id, contact_id = await kannel_stack.missed_call("Alan")

    [waiting] = await kannel_stack.wait_outbox(
        contact_id, lambda rows: len(rows) == 1 and rows[0].tries >= 1 and rows[0].status == "queued"
    )
    assert waiting.error is not None and "cannot connect to the SMS gateway" in waiting.error
    assert kannel.smsc_received() == []

    await kannel.start_smsbox()

    received = await kannel.wait_for_smsc(lambda m: m.receiver == LEAD, within=40.0)
    [message] = await kannel_stack.wait_outbox(
        contact_id, lambda rows: [m.status for m in rows] == ["delivered"]
    )
    assert received.text == message.body
    # Delivered, so no further try can happen, and the phone got it exactly once.
    assert kannel_stack.to_lead() == [received]


async def _next_call(kannel_stack: KannelStack, request_id: int, within: float = WITHIN) -> datetime:
    """The due time of the request's next scheduled call once a lead's text has moved it."""
    services = kannel_stack.stack.runtime.services
    assert services is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with services.sessions() as session:
            attempt = await session.scalar(
                select(Attempt).where(Attempt.request_id == request_id, Attempt.status == "scheduled")
            )
        if attempt is not None and (attempt.evidence or {}).get("asked_by_lead"):
            return attempt.due_at
        assert loop.time() < deadline, "the next call was not moved"
        await asyncio.sleep(0.05)


async def test_kannel_stack_tomorrow_3pm_by_sms_moves_the_next_call_to_3pm_lead_time(
    kannel_stack: KannelStack,
) -> None:
    kannel = kannel_stack.kannel
    request_id, contact_id = await kannel_stack.missed_call("Ada")
    await kannel.wait_for_smsc(lambda m: m.text.startswith("Sorry we missed you"), within=WITHIN)

    await kannel.type_on_phone(LEAD, SENDER, "tomorrow 3pm")

    due = await _next_call(kannel_stack, request_id)
    # The lead is in Washington, DC: 15:00 there on Wednesday 4 March 2026 (the stack starts Tuesday noon).
    assert due.astimezone(ZoneInfo("America/New_York")) == datetime(
        2026, 3, 4, 15, 0, tzinfo=ZoneInfo("America/New_York")
    )
    confirmation = await kannel.wait_for_smsc(lambda m: "we will call you" in m.text, within=WITHIN)
    assert confirmation.receiver == LEAD
    assert "tomorrow at 3:00 PM (EST)" in confirmation.text
    state = await kannel_stack.stack.state(request_id)
    assert state["tags"] == ["Request to Callback Pending"] and state["status"] == "pending"
    assert await kannel_stack.stack.outcomes(request_id) == ["lead_busy"]  # nothing dialled early
    rows = await kannel_stack.wait_outbox(
        contact_id, lambda rows: all(m.status not in ("queued", "sending") for m in rows)
    )
    assert [m.kind for m in rows] == ["missed_call", "reschedule_confirmation"]


async def test_kannel_stack_an_auto_responder_gets_one_help_then_no_longer_needed_cancels(
    kannel_stack: KannelStack,
) -> None:
    stack, kannel = kannel_stack.stack, kannel_stack.kannel
    request_id, contact_id = await kannel_stack.missed_call("Grace")
    await kannel.wait_for_smsc(lambda m: m.text.startswith("Sorry we missed you"), within=WITHIN)

    # An auto-responder answers our text, then answers our help: the second is not answered.
    await kannel.type_on_phone(LEAD, SENDER, "I'm driving. I'll text you back later.")
    await kannel.wait_for_smsc(lambda m: "reply with a time" in m.text, within=WITHIN)
    await kannel.type_on_phone(LEAD, SENDER, "I'm driving. I'll text you back later.")
    await kannel_stack.wait_inbound_hook_calls(2)

    await kannel.type_on_phone(LEAD, SENDER, "no longer needed, thanks")
    assert await stack.wait_request(request_id, until=("cancelled",), within=WITHIN) == "cancelled"
    await kannel.wait_for_smsc(lambda m: "your callback is cancelled" in m.text, within=WITHIN)
    state = await stack.state(request_id)
    assert state["stage"] == "Cancelled by lead" and state["tags"] == []
    assert (await stack.contact(contact_id))["sms_opted_out"] is False
    rows = await kannel_stack.wait_outbox(
        contact_id, lambda rows: all(m.status not in ("queued", "sending") for m in rows)
    )
    assert [m.kind for m in rows] == ["missed_call", "reply_help", "cancel_confirmation"]
    assert [m.text for m in kannel_stack.to_lead()] == [m.body for m in rows]
    assert await stack.outcomes(request_id) == ["lead_busy"]
