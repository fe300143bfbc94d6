"""The leg journal on both databases: what it promises the orchestrator and recovery, one transaction for
what many calls journal at once."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from store_seed import T0, seed_attempts

from ari_app.ari.events import parse_event
from ari_app.clock import VirtualClock
from ari_app.logs import bind_log_ids, current_log_ids
from ari_app.store.leg_journal import StoreJournal
from ari_app.store.models import Attempt, Leg, LegEvent


def channel_event(kind: str, channel_id: str, state: str = "Up", **extra: Any) -> Any:
    channel = {"id": channel_id, "name": f"PJSIP/x-{channel_id}", "state": state}
    raw = {"type": kind, "application": "callback", "timestamp": "2026-03-02T15:00:00.000+0000"}
    return parse_event({**raw, "channel": channel, **extra})


async def legs(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Leg]:
    async with sessions() as session:
        return {leg.channel_id: leg for leg in await session.scalars(select(Leg))}


async def events_of(sessions: async_sessionmaker[AsyncSession], channel_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(LegEvent.type).join(Leg).where(Leg.channel_id == channel_id).order_by(LegEvent.id)
        )
        return list(rows)


@pytest.fixture
async def journal(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    journal = StoreJournal(db_sessionmaker, VirtualClock(start=T0, speed=1.0))
    yield journal
    await journal.aclose()


async def test_an_intent_is_stored_when_leg_intent_returns(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    (attempt,) = await seed_attempts(db_sessionmaker, [T0])

    await journal.leg_intent(attempt, "admin", 1, f"cb-{attempt}-admin-1", "PJSIP/ada")

    stored = (await legs(db_sessionmaker))[f"cb-{attempt}-admin-1"]
    assert (stored.state, stored.endpoint, stored.role) == ("intent", "PJSIP/ada", "admin")


async def test_observed_facts_are_stored_in_order_by_the_time_the_call_settles(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    (attempt,) = await seed_attempts(db_sessionmaker, [T0])
    lead = f"cb-{attempt}-lead-1"
    await journal.leg_intent(attempt, "lead", 1, lead, "PJSIP/trunk/+12125550100")

    journal.observed(lead, channel_event("StasisStart", lead, args=[]), {"state": "up", "answered_at": T0})
    journal.observed(lead, None, {"dial_status": "ANSWER"})  # a change worth keeping, an event not
    journal.observed(lead, channel_event("ChannelEnteredBridge", lead, bridge={"id": "b"}), {})
    ended = T0 + timedelta(seconds=30)
    journal.observed(
        lead,
        channel_event("ChannelDestroyed", lead, cause=16, cause_txt="Normal Clearing"),
        {"state": "ended", "ended_at": ended},
    )
    await journal.settle([lead])

    stored = (await legs(db_sessionmaker))[lead]
    assert (stored.state, stored.dial_status, stored.answered_at, stored.ended_at) == (
        "ended",
        "ANSWER",
        T0,
        ended,
    )
    assert await events_of(db_sessionmaker, lead) == [
        "StasisStart",
        "ChannelEnteredBridge",
        "ChannelDestroyed",
    ]


async def test_what_many_calls_journal_at_once_shares_one_transaction(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    attempts = await seed_attempts(db_sessionmaker, [T0] * 20)
    commits: list[int] = []
    engine = db_sessionmaker.kw["bind"].sync_engine
    event.listen(engine, "commit", lambda _conn: commits.append(1))

    await asyncio.gather(
        *(journal.leg_intent(a, "admin", 1, f"cb-{a}-admin-1", "PJSIP/ada") for a in attempts)
    )

    assert len(await legs(db_sessionmaker)) == 20
    assert len(commits) <= 2  # the first intent's own transaction, then everyone who queued meanwhile


async def test_a_fact_the_database_refuses_fails_alone(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    first, second = await seed_attempts(db_sessionmaker, [T0, T0])
    await journal.leg_intent(first, "admin", 1, "cb-dup", "PJSIP/ada")

    started = time.monotonic()
    results = await asyncio.gather(
        journal.leg_intent(second, "admin", 1, "cb-dup", "PJSIP/bob"),  # the channel id is taken
        journal.leg_intent(second, "lead", 1, f"cb-{second}-lead-1", "PJSIP/trunk/+12125550100"),
        return_exceptions=True,
    )

    assert isinstance(results[0], IntegrityError)
    assert results[1] is None
    assert time.monotonic() - started < 5.0  # refused at once: a constraint is not an outage to wait out
    stored = await legs(db_sessionmaker)
    assert stored["cb-dup"].endpoint == "PJSIP/ada"
    assert f"cb-{second}-lead-1" in stored


async def test_events_of_a_leg_never_journalled_are_dropped_without_harm(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    (attempt,) = await seed_attempts(db_sessionmaker, [T0])
    known = f"cb-{attempt}-admin-1"
    await journal.leg_intent(attempt, "admin", 1, known, "PJSIP/ada")

    journal.observed("somebody-else", channel_event("StasisStart", "somebody-else", args=[]), {"state": "up"})
    journal.observed(known, channel_event("StasisStart", known, args=[]), {"state": "up"})
    await journal.settle([known])

    assert await events_of(db_sessionmaker, known) == ["StasisStart"]
    assert set(await legs(db_sessionmaker)) == {known}


def count_leg_updates(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """The UPDATE statements on legs sent from now on (an executemany counts once)."""
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE LEGS"):
            sent.append(statement)

    event.listen(sessions.kw["bind"].sync_engine, "before_cursor_execute", before)
    return sent


async def test_many_legs_changed_differently_in_one_batch_end_each_with_its_own_row_in_one_statement(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    attempts = await seed_attempts(db_sessionmaker, [T0] * 3)
    a, b, c = (f"cb-{n}-lead-1" for n in attempts)
    untouched = f"cb-{attempts[0]}-admin-1"
    for n, leg in zip(attempts, (a, b, c), strict=True):
        await journal.leg_intent(n, "lead", 1, leg, "PJSIP/trunk/+12125550100")
    await journal.leg_intent(attempts[0], "admin", 1, untouched, "PJSIP/ada")
    journal.observed(a, None, {"dial_status": "RINGING", "state": "ringing"})
    await journal.settle([])  # a's dial status is stored; what follows must not lose it
    updates = count_leg_updates(db_sessionmaker)
    ended = T0 + timedelta(seconds=40)

    # One batch: each leg a different set of columns, a's in two steps whose order matters.
    journal.observed(a, None, {"state": "up", "answered_at": T0})
    journal.leg_note(b, cause_txt="dial refused: 409 busy")
    journal.observed(c, None, {"state": "ended", "cause": 17, "cause_txt": "User busy", "ended_at": ended})
    journal.observed(a, None, {"state": "bridged", "bridged_at": ended})
    await journal.settle([a, b, c, untouched])

    assert len(updates) == 1
    stored = await legs(db_sessionmaker)
    row = stored[a]
    assert (row.state, row.dial_status, row.answered_at, row.bridged_at, row.ended_at) == (
        "bridged",
        "RINGING",
        T0,
        ended,
        None,
    )
    row = stored[b]
    assert (row.state, row.cause_txt, row.cause, row.dial_status) == (
        "intent",
        "dial refused: 409 busy",
        None,
        None,
    )
    row = stored[c]
    assert (row.state, row.cause, row.cause_txt, row.ended_at, row.answered_at) == (
        "ended",
        17,
        "User busy",
        ended,
        None,
    )
    row = stored[untouched]
    assert (row.state, row.dial_status, row.cause_txt, row.ended_at) == ("intent", None, None, None)


async def test_a_refused_fact_in_a_batch_leaves_the_other_legs_rows_right(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    first, second = await seed_attempts(db_sessionmaker, [T0, T0])
    lead = f"cb-{first}-lead-1"
    await journal.leg_intent(first, "lead", 1, lead, "PJSIP/trunk/+12125550100")
    await journal.leg_intent(first, "admin", 1, "cb-dup", "PJSIP/ada")

    async def changes_then_settle() -> None:
        journal.observed(lead, None, {"dial_status": "ANSWER", "state": "up", "answered_at": T0})
        await journal.settle([])

    # In one batch: a refused intent (the channel id is taken), then a change of another leg.
    results = await asyncio.gather(
        journal.leg_intent(second, "admin", 1, "cb-dup", "PJSIP/bob"),
        changes_then_settle(),
        return_exceptions=True,
    )
    journal.leg_note(lead, state="ended", ended_at=T0 + timedelta(seconds=5))
    await journal.settle([lead, "cb-dup"])

    assert isinstance(results[0], IntegrityError) and results[1] is None
    row = (await legs(db_sessionmaker))[lead]
    assert (row.state, row.dial_status, row.answered_at, row.ended_at) == (
        "ended",
        "ANSWER",
        T0,
        T0 + timedelta(seconds=5),
    )


async def test_a_noted_fact_is_stored_before_settle_returns_and_the_call_does_not_wait_for_it(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    (attempt,) = await seed_attempts(db_sessionmaker, [T0])
    admin = f"cb-{attempt}-admin-1"
    await journal.leg_intent(attempt, "admin", 1, admin, "PJSIP/ada")
    commits: list[int] = []
    event.listen(db_sessionmaker.kw["bind"].sync_engine, "commit", lambda _conn: commits.append(1))

    assert journal.leg_note(admin, state="requested") is None  # queued: nothing to await
    assert commits == []  # not stored yet: the writer runs once the caller lets it
    await journal.settle([admin])

    assert len(commits) == 1
    assert (await legs(db_sessionmaker))[admin].state == "requested"


async def test_facts_of_one_moment_share_a_transaction_and_an_awaited_fact_ends_the_wait(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # A wait far longer than the test's steps, so the assertion does not depend on the machine's speed.
    journal = StoreJournal(db_sessionmaker, VirtualClock(start=T0, speed=1.0), gather=60.0)
    try:
        (attempt,) = await seed_attempts(db_sessionmaker, [T0])
        admin, lead = f"cb-{attempt}-admin-1", f"cb-{attempt}-lead-1"
        await journal.leg_intent(attempt, "admin", 1, admin, "PJSIP/ada")
        await journal.leg_intent(attempt, "lead", 1, lead, "PJSIP/trunk/+12015550123")
        commits: list[int] = []
        event.listen(db_sessionmaker.kw["bind"].sync_engine, "commit", lambda _conn: commits.append(1))

        for kind, channel_id in [("ChannelStateChange", lead), ("ChannelStateChange", admin)]:
            journal.observed(channel_id, channel_event(kind, channel_id), {"state": "up"})
            await asyncio.sleep(0.01)  # events of one moment, a few milliseconds apart
        assert commits == []  # waiting for the rest of the moment
        # The lead's dial is awaited: it is stored now, with what waited, in one transaction.
        await asyncio.wait_for(journal.leg_update(lead, state="requested"), 30)

        assert len(commits) == 1
        stored = await legs(db_sessionmaker)
        assert (stored[admin].state, stored[lead].state) == ("up", "requested")
        assert await events_of(db_sessionmaker, lead) == ["ChannelStateChange"]
    finally:
        await journal.aclose()


async def test_a_settle_stores_the_calls_last_facts_and_its_outcome_in_one_transaction_facts_first(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    (attempt,) = await seed_attempts(db_sessionmaker, [T0])
    lead = f"cb-{attempt}-lead-1"
    await journal.leg_intent(attempt, "lead", 1, lead, "PJSIP/trunk/+12125550100")
    ended = T0 + timedelta(seconds=30)
    journal.observed(
        lead,
        channel_event("ChannelDestroyed", lead, cause=16, cause_txt="Normal Clearing"),
        {"state": "ended", "ended_at": ended, "cause": 16},
    )
    commits: list[int] = []
    event.listen(db_sessionmaker.kw["bind"].sync_engine, "commit", lambda _conn: commits.append(1))
    seen_by_outcome: list[str] = []

    async def outcome(session: AsyncSession) -> None:
        # What the outcome's transaction sees of the leg: its last facts are written before it runs.
        seen_by_outcome.append(str(await session.scalar(select(Leg.state).where(Leg.channel_id == lead))))
        attempt_row = await session.get(Attempt, attempt)
        assert attempt_row is not None
        attempt_row.status, attempt_row.outcome = "done", "completed"

    assert await journal.settle([lead], outcome) is True

    assert len(commits) == 1
    assert seen_by_outcome == ["ended"]
    async with db_sessionmaker() as session:
        assert (await session.get(Attempt, attempt)).outcome == "completed"  # type: ignore[union-attr]
    assert await events_of(db_sessionmaker, lead) == ["ChannelDestroyed"]


async def test_an_outcome_that_fails_does_not_take_the_calls_facts_with_it(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    (attempt,) = await seed_attempts(db_sessionmaker, [T0])
    lead = f"cb-{attempt}-lead-1"
    await journal.leg_intent(attempt, "lead", 1, lead, "PJSIP/trunk/+12125550100")
    journal.leg_note(lead, state="ended", ended_at=T0 + timedelta(seconds=5))

    async def broken(session: AsyncSession) -> None:
        attempt_row = await session.get(Attempt, attempt)
        assert attempt_row is not None
        attempt_row.outcome = "completed"
        raise RuntimeError("the outcome's own error")

    # False: the caller writes its outcome in a transaction of its own; nothing of the broken one is kept.
    assert await journal.settle([lead], broken) is False

    assert (await legs(db_sessionmaker))[lead].state == "ended"
    async with db_sessionmaker() as session:
        assert (await session.get(Attempt, attempt)).outcome is None  # type: ignore[union-attr]


async def test_an_outcome_written_with_the_facts_logs_under_its_own_calls_ids(
    db_sessionmaker: async_sessionmaker[AsyncSession], journal: StoreJournal
) -> None:
    # The writer runs in a task of its own; the outcome's log lines must name the call that settles, not
    # the call that happened to start the writer.
    first, second = await seed_attempts(db_sessionmaker, [T0, T0])

    async def first_call() -> None:
        bind_log_ids(attempt_id=first)
        await journal.leg_intent(first, "lead", 1, f"cb-{first}-lead-1", "PJSIP/trunk/+12125550100")

    named: list[dict[str, str | int]] = []

    async def outcome(session: AsyncSession) -> None:
        named.append(current_log_ids())

    async def second_call() -> bool:
        bind_log_ids(contact_id=7)
        return await journal.settle([], outcome)

    await asyncio.create_task(first_call())
    # A worker's attempt task is named after its attempt (``logs.current_log_ids`` reads it from there).
    assert await asyncio.create_task(second_call(), name=f"attempt-{second}") is True
    assert [(ids.get("attempt_id"), ids.get("contact_id")) for ids in named] == [(second, 7)]
