"""An attempt's end writes its outcome's rows as one statement per table: the same tags, stage, notes,
events, webhook deliveries, SMS and next attempt as the tag router and the outreach write elsewhere, and the
process is told what it queued (the commit's wake-ups), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ari_app.calls.admins import AdminPool
from ari_app.clock import VirtualClock
from ari_app.domain.attempts import AttemptResult
from ari_app.domain.outcomes import Outcome
from ari_app.lifecycle import IntakeData, Lifecycle
from ari_app.scheduler.admission import start_attempt
from ari_app.settings import AdminSettings, load_settings
from ari_app.store import make_sessionmaker
from ari_app.store.claims import claim_due_attempts
from ari_app.store.models import (
    Attempt,
    CallbackRequest,
    Contact,
    ContactEvent,
    ContactTag,
    Note,
    SmsOutbox,
    WebhookDelivery,
)
from ari_app.store.queued import Queued, Topic

OPEN = datetime.fromisoformat("2026-03-03T17:00:00+00:00")  # a Tuesday, noon in New York
ADA = AdminSettings(name="ada", endpoint="PJSIP/ada")
HOOKS = ["https://crm.example.com/a", "https://crm.example.com/b"]


def _lifecycle() -> Lifecycle:
    settings = load_settings(
        None,
        environ={},
        overrides={
            "admins": [ADA.model_dump()],
            "calendar": {"first_call_delay": 0.0},
            "webhooks": {"urls": HOOKS},
        },
    )
    return Lifecycle(settings, VirtualClock(start=OPEN, speed=1.0))


async def _running_attempt(sessions: async_sessionmaker[AsyncSession], lifecycle: Lifecycle) -> int:
    """A request submitted, its attempt claimed and started with ada: running, as before a call's end."""
    async with sessions.begin() as session:
        await lifecycle.intake.submit(
            session, IntakeData("Ada", "Lovelace", "+12125551000", "quote", "ok", "api")
        )
    later = lifecycle.clock.now() + timedelta(seconds=1)
    [attempt_id] = await claim_due_attempts(sessions, now=later, worker="w1", lease_seconds=120.0, limit=1)
    admission = await start_attempt(
        sessions,
        lifecycle,
        attempt_id,
        picking=AdminPool([ADA]).picking(),
        app="w1",
        server="pbx",
        max_concurrent=20,
    )
    assert admission.why == "started"
    return attempt_id


async def _since(session: AsyncSession, model: Any, first_id: int) -> list[Any]:
    return list(await session.scalars(select(model).where(model.id > first_id).order_by(model.id)))


@pytest.mark.parametrize(
    ("outcome", "tag", "stage", "sms", "next_attempt"),
    [
        (Outcome.COMPLETED, "Request to Callback Complete", "Connected", "confirmation", False),
        (Outcome.LEAD_NO_ANSWER, "Request to Callback Incomplete", "Callback missed", "missed_call", True),
    ],
)
async def test_an_attempts_end_writes_the_outcomes_rows_and_wakes_their_senders(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    outcome: Outcome,
    tag: str,
    stage: str,
    sms: str,
    next_attempt: bool,
) -> None:
    lifecycle = _lifecycle()
    attempt_id = await _running_attempt(db_sessionmaker, lifecycle)
    async with db_sessionmaker() as session:
        last_note = max(n.id for n in await session.scalars(select(Note)))
        last_event = max(e.id for e in await session.scalars(select(ContactEvent)))
        last_delivery = max(d.id for d in await session.scalars(select(WebhookDelivery)))
    told: list[Queued] = []
    engine = db_sessionmaker.kw["bind"]
    sessions = make_sessionmaker(engine, on_commit=told.append)

    result = AttemptResult(outcome, "test", admin_name="ada", talk_seconds=60.0)
    async with sessions.begin() as session:
        decision = await lifecycle.attempts.finish(session, attempt_id, result)
    assert decision is not None

    async with db_sessionmaker() as session:
        attempts = list(await session.scalars(select(Attempt).order_by(Attempt.id)))
        request = await session.scalar(select(CallbackRequest))
        contact = await session.scalar(select(Contact))
        tags = list(await session.scalars(select(ContactTag.tag)))
        notes = await _since(session, Note, last_note)
        events = await _since(session, ContactEvent, last_event)
        deliveries = await _since(session, WebhookDelivery, last_delivery)
        [message] = list(await session.scalars(select(SmsOutbox)))
    assert request is not None and contact is not None
    done = attempts[0]
    assert (done.status, done.outcome, done.admin_name, done.lease_owner) == (
        "done",
        outcome.value,
        "ada",
        None,
    )
    assert (tags, contact.pipeline_stage) == ([tag], stage)
    assert [n.kind for n in notes] == ["system", "tag"]
    assert notes[1].text.startswith(f"Status: +{tag}, -Request to Callback Pending; stage: {stage}")
    assert [e.type for e in events] == ["attempt.outcome", "tag.changed", "sms.queued"]
    assert events[1].data["tags"] == [tag] and events[1].data["previous_stage"] == "Callback requested"
    assert events[2].data == {"sms_id": message.id, "kind": sms, "status": "queued"}
    assert [(d.event_id, d.url, d.status) for d in deliveries] == [
        (events[1].id, url, "pending") for url in HOOKS
    ]
    assert (message.kind, message.idempotency_key, message.status) == (
        sms,
        f"{sms}:{request.id}:{attempt_id}",
        "queued",
    )
    assert request.lead_attempts_used == 1
    wakes = {Topic.SMS: message.next_try_at, Topic.WEBHOOKS: deliveries[0].next_try_at}
    if next_attempt:
        retry = attempts[1]
        assert (retry.number, retry.lead_attempt, retry.kind, retry.status) == (2, 2, "lead", "scheduled")
        assert (request.status, request.closed_at) == ("pending", None)
        wakes[Topic.ATTEMPTS] = retry.due_at
    else:
        assert len(attempts) == 1
        assert (request.status, request.close_reason) == ("completed", "completed")
    assert told == [wakes]


class _Statements:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.texts.append(" ".join(statement.split()[:3]))


@contextmanager
def _counting(engine: AsyncEngine) -> Iterator[_Statements]:
    seen = _Statements()
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("outcome", [Outcome.COMPLETED, Outcome.LEAD_NO_ANSWER])
async def test_an_attempts_end_costs_one_statement_per_table(
    db_sessionmaker: async_sessionmaker[AsyncSession], outcome: Outcome
) -> None:
    """Each statement costs ~0.3-0.5 ms of a worker's CPU through SQLAlchemy (bench/README.md, issue 17):
    the end of a call was ~15 of them (a read per helper, a flush per id needed, the request updated twice).
    Now: one read (attempt, request, contact, tags, last attempt number), one UPDATE each of the attempt, the
    request and the contact, and one statement per table for the new rows: tags removed, tags added, the
    next attempt (a retry only), the SMS, the notes, the events (with their ids), the webhook deliveries."""
    lifecycle = _lifecycle()
    attempt_id = await _running_attempt(db_sessionmaker, lifecycle)
    bound = 11 if outcome is Outcome.LEAD_NO_ANSWER else 10
    result = AttemptResult(outcome, "test", admin_name="ada", talk_seconds=60.0)
    with _counting(db_sessionmaker.kw["bind"]) as seen:
        async with db_sessionmaker.begin() as session:
            assert await lifecycle.attempts.finish(session, attempt_id, result) is not None
    assert len(seen.texts) <= bound, "\n".join(seen.texts)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_attempts_start_costs_one_read_and_one_update_per_row(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The start was 6 statements on PostgreSQL (7 on SQLite): a read per check, the attempt updated twice
    (running, then its admin). Now, on SQLite: the trunk's count (PostgreSQL's trigger needs none), one read
    (attempt, request, contact, do-not-call, a live return call), the attempt running with its admin in one
    guarded UPDATE, the request calling."""
    lifecycle = _lifecycle()
    async with db_sessionmaker.begin() as session:
        await lifecycle.intake.submit(
            session, IntakeData("Ada", "Lovelace", "+12125551000", "quote", "ok", "api")
        )
    later = lifecycle.clock.now() + timedelta(seconds=1)
    [attempt_id] = await claim_due_attempts(
        db_sessionmaker, now=later, worker="w1", lease_seconds=120.0, limit=1
    )
    with _counting(db_sessionmaker.kw["bind"]) as seen:
        admission = await start_attempt(
            db_sessionmaker,
            lifecycle,
            attempt_id,
            picking=AdminPool([ADA]).picking(),
            app="w1",
            server="pbx",
            max_concurrent=20,
        )
    assert admission.why == "started"
    assert len(seen.texts) <= 4, "\n".join(seen.texts)
    async with db_sessionmaker() as session:
        attempt = await session.get(Attempt, attempt_id)
        request = await session.scalar(select(CallbackRequest))
    assert attempt is not None and request is not None
    assert (attempt.status, attempt.admin_name, attempt.ari_app, request.status) == (
        "running",
        "ada",
        "w1",
        "calling",
    )
    assert attempt.evidence["at_dial"]["dnc"] is False and attempt.started_at is not None
