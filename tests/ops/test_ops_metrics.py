"""/metrics: what a Prometheus scrape shows after real calls, who may scrape, and the database-read gauges."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from e2ekit import OPEN_INSTANT, Stack
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.ops.metrics import Metrics
from ari_app.store.models import Attempt, CallbackRequest, Contact, SmsOutbox

LEAD = "+12125550142"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(stack: Stack, **headers: str) -> tuple[int, str]:
    async with stack.http.get(f"{stack.web}/metrics", headers=headers) as resp:
        return resp.status, await resp.text()


async def test_a_completed_call_shows_in_the_metrics(stack: Stack) -> None:
    request_id = await stack.submit(LEAD)
    assert await stack.wait_request(request_id) == "completed"
    status, text = await scrape(stack)
    assert status == 200
    m = samples(text)
    assert m[("callback_attempts_total", (("outcome", "completed"),))] == 1
    assert m[("callback_talk_seconds_count", ())] == 1
    assert m[("callback_talk_seconds_sum", ())] >= 15  # completed means at least min_talk_seconds
    assert m[("callback_call_setup_seconds_count", (("leg", "admin"),))] == 1
    assert m[("callback_call_setup_seconds_count", (("leg", "lead"),))] == 1
    lead_setup = m[("callback_call_setup_seconds_sum", (("leg", "lead"),))]
    assert lead_setup > m[("callback_call_setup_seconds_sum", (("leg", "admin"),))]
    assert m[("callback_active_calls", ())] == 0
    assert m[("callback_ari_connected", ())] == 1
    assert m[("callback_ari_reconnects_total", ())] == 0
    assert m[("callback_queue_depth", (("when", "due"),))] == 0
    assert m[("callback_queue_lateness_seconds", ())] == 0
    intake = (("method", "POST"), ("route", "/api/v1/callback-requests"), ("status", "201"))
    assert m[("callback_http_requests_total", intake)] == 1
    # Set-up times are read once: a second scrape does not count the same attempt again.
    _, again = await scrape(stack)
    assert samples(again)[("callback_call_setup_seconds_count", (("leg", "lead"),))] == 1


async def test_http_requests_are_counted_by_route_pattern_and_status(stack: Stack) -> None:
    for contact_id in ("1", "2", "3"):
        async with stack.http.get(f"{stack.web}/api/v1/contacts/{contact_id}") as resp:
            assert resp.status == 401
    async with stack.http.get(f"{stack.web}/no/such/page") as resp:
        assert resp.status == 404
    m = samples((await scrape(stack))[1])
    contacts = (("method", "GET"), ("route", "/api/v1/contacts/{id}"), ("status", "401"))
    assert m[("callback_http_requests_total", contacts)] == 3
    assert (
        m[("callback_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))]
        == 1
    )


async def test_metrics_need_the_token_when_not_asked_from_loopback(stack: Stack) -> None:
    # A reverse proxy on the same host: the client is not on loopback, whatever the socket says.
    status, _ = await scrape(stack, **{"X-Forwarded-For": "203.0.113.9"})
    assert status == 401
    status, text = await scrape(
        stack, **{"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {stack.token}"}
    )
    assert status == 200 and "callback_attempts" in text


@pytest.mark.parametrize("stack_overrides", [{"web": {"metrics_public": True}}])
async def test_metrics_can_be_made_public(stack: Stack, stack_overrides: dict[str, Any]) -> None:
    status, _ = await scrape(stack, **{"X-Forwarded-For": "203.0.113.9"})
    assert status == 200


async def test_sms_by_status_and_queue_lateness_come_from_the_database(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = OPEN_INSTANT
    async with db_sessionmaker.begin() as session:
        contact = Contact(phone=LEAD, created_at=now, updated_at=now)
        session.add(contact)
        await session.flush()
        request = CallbackRequest(
            contact_id=contact.id, status="pending", source="api", created_at=now, updated_at=now
        )
        session.add(request)
        await session.flush()
        for number, due in (
            (1, now - timedelta(seconds=90)),
            (2, now - timedelta(seconds=10)),
            (3, now + timedelta(hours=1)),
        ):
            session.add(
                Attempt(
                    request_id=request.id,
                    number=number,
                    lead_attempt=number,
                    kind="lead",
                    status="scheduled",
                    due_at=due,
                    evidence={},
                    created_at=now,
                    updated_at=now,
                )
            )
        for i, status in enumerate(("sent", "sent", "failed", "queued")):
            session.add(
                SmsOutbox(
                    contact_id=contact.id,
                    kind="missed_call",
                    to_phone=LEAD,
                    body="We missed you",
                    idempotency_key=f"k{i}",
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )
    metrics = Metrics()
    await metrics.refresh(db_sessionmaker, now)
    m = samples(metrics.render().decode())
    assert m[("callback_queue_depth", (("when", "due"),))] == 2
    assert m[("callback_queue_depth", (("when", "later"),))] == 1
    assert m[("callback_queue_lateness_seconds", ())] == 90
    assert m[("callback_sms_messages", (("status", "sent"),))] == 2
    assert m[("callback_sms_messages", (("status", "failed"),))] == 1
    assert m[("callback_sms_messages", (("status", "delivered"),))] == 0
