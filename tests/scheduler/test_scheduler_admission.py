"""One call per admin and a trunk-wide call limit, enforced by the database for every worker at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.calls.admins import AdminPicking, AdminPool
from ari_app.calls.ids import CallIds
from ari_app.clock import VirtualClock
from ari_app.domain.attempts import AttemptResult
from ari_app.domain.outcomes import Outcome
from ari_app.lifecycle import IntakeData, Lifecycle
from ari_app.scheduler.admission import start_attempt, trunk_load
from ari_app.settings import AdminSettings, Settings, load_settings
from ari_app.store.claims import claim_due_attempts
from ari_app.store.leg_journal import StoreJournal
from ari_app.store.models import Attempt, Leg

OPEN = datetime.fromisoformat("2026-03-03T17:00:00+00:00")  # a Tuesday, noon in New York
ADA = AdminSettings(name="ada", endpoint="PJSIP/ada")
BOB = AdminSettings(name="bob", endpoint="PJSIP/bob")


def pick(*admins: AdminSettings) -> AdminPicking:
    """The admins in this order, as one start of a worker of its own is offered them."""
    return AdminPool(list(admins)).picking()


def settings(max_concurrent: int = 20) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "admins": [ADA.model_dump(), BOB.model_dump()],
            "calendar": {"first_call_delay": 0.0},
            "calls": {"max_concurrent": max_concurrent},
        },
    )


async def due_attempts(
    sessions: async_sessionmaker[AsyncSession], lifecycle: Lifecycle, count: int, worker: str = "w1"
) -> list[int]:
    for n in range(count):
        async with sessions.begin() as session:
            await lifecycle.intake.submit(
                session,
                IntakeData("Ada", "Lovelace", f"+1212555{1000 + n:04d}", "quote", "ok", "api"),
            )
    later = lifecycle.clock.now() + timedelta(seconds=1)
    return await claim_due_attempts(sessions, now=later, worker=worker, lease_seconds=120.0, limit=count)


async def status_of(sessions: async_sessionmaker[AsyncSession], attempt_id: int) -> str:
    async with sessions() as session:
        return str(await session.scalar(select(Attempt.status).where(Attempt.id == attempt_id)))


async def test_an_admin_on_a_call_is_not_given_a_second_one(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lifecycle = Lifecycle(settings(), VirtualClock(start=OPEN, speed=1.0))
    first, second = await due_attempts(db_sessionmaker, lifecycle, 2)

    started = await start_attempt(
        db_sessionmaker, lifecycle, first, picking=pick(ADA), app="w1", server="pbx", max_concurrent=20
    )
    refused = await start_attempt(
        db_sessionmaker, lifecycle, second, picking=pick(ADA), app="w2", server="pbx", max_concurrent=20
    )

    assert started.plan is not None and started.plan.admin.name == "ada"
    assert (refused.plan, refused.why) == (None, "no_admin")
    assert await status_of(db_sessionmaker, second) == "scheduled"  # back in the queue, nothing used up
    assert (await trunk_load(db_sessionmaker)).busy == {"ada"}


async def test_a_taken_admin_makes_the_start_fall_through_to_the_next_candidate(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lifecycle = Lifecycle(settings(), VirtualClock(start=OPEN, speed=1.0))
    first, second = await due_attempts(db_sessionmaker, lifecycle, 2)
    await start_attempt(
        db_sessionmaker, lifecycle, first, picking=pick(ADA), app="w1", server="pbx", max_concurrent=20
    )

    # The second worker's view of who is busy is stale: it tries ada first; the database says no.
    started = await start_attempt(
        db_sessionmaker, lifecycle, second, picking=pick(ADA, BOB), app="w2", server="pbx", max_concurrent=20
    )

    assert started.plan is not None and started.plan.admin.name == "bob"
    assert (await trunk_load(db_sessionmaker)).busy == {"ada", "bob"}


async def test_two_workers_starting_at_once_with_the_same_admin_get_one_call(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lifecycle = Lifecycle(settings(), VirtualClock(start=OPEN, speed=1.0))
    ids = await due_attempts(db_sessionmaker, lifecycle, 6)

    results = await asyncio.gather(
        *(
            start_attempt(
                db_sessionmaker, lifecycle, i, picking=pick(ADA), app=f"w{i}", server="pbx", max_concurrent=20
            )
            for i in ids
        )
    )

    assert sorted(r.why for r in results) == ["no_admin"] * 5 + ["started"]


async def test_the_trunk_limit_counts_every_workers_running_calls(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lifecycle = Lifecycle(settings(max_concurrent=1), VirtualClock(start=OPEN, speed=1.0))
    first, second = await due_attempts(db_sessionmaker, lifecycle, 2)

    await start_attempt(
        db_sessionmaker, lifecycle, first, picking=pick(ADA), app="w1", server="pbx", max_concurrent=1
    )
    full = await start_attempt(
        db_sessionmaker, lifecycle, second, picking=pick(BOB), app="w2", server="pbx", max_concurrent=1
    )

    assert (full.plan, full.why) == (None, "trunk_full")
    assert await status_of(db_sessionmaker, second) == "scheduled"


async def test_starts_racing_for_the_last_trunk_places_never_exceed_the_limit(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admins = [AdminSettings(name=f"admin{i}", endpoint=f"PJSIP/admin{i}") for i in range(8)]
    lifecycle = Lifecycle(settings(max_concurrent=3), VirtualClock(start=OPEN, speed=1.0))
    ids = await due_attempts(db_sessionmaker, lifecycle, 8)

    results = await asyncio.gather(
        *(
            start_attempt(
                db_sessionmaker,
                lifecycle,
                i,
                picking=pick(admin),
                app=f"w{n}",
                server="pbx",
                max_concurrent=3,
            )
            for n, (i, admin) in enumerate(zip(ids, admins, strict=True))
        )
    )

    assert sorted(r.why for r in results) == ["started"] * 3 + ["trunk_full"] * 5
    statuses = [await status_of(db_sessionmaker, i) for i in ids]
    assert sorted(statuses) == ["running"] * 3 + ["scheduled"] * 5


async def test_a_live_call_marked_running_again_is_never_refused_by_the_trunk_limit(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # A taken-over call is "claimed" until re-adopted; its call is live, so the limit must not end it.
    lifecycle = Lifecycle(settings(max_concurrent=1), VirtualClock(start=OPEN, speed=1.0))
    first, second = await due_attempts(db_sessionmaker, lifecycle, 2)
    await start_attempt(
        db_sessionmaker, lifecycle, first, picking=pick(ADA), app="w1", server="pbx", max_concurrent=1
    )
    async with db_sessionmaker.begin() as session:
        attempt = await session.get(Attempt, second)
        assert attempt is not None
        attempt.status, attempt.admin_name = "running", BOB.name

    assert await status_of(db_sessionmaker, second) == "running"


async def test_the_admin_who_did_not_answer_the_last_try_is_asked_last_on_the_next(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The start learns who failed the request's previous try in its own read: the worker asks nothing before.
    lifecycle = Lifecycle(settings(), VirtualClock(start=OPEN, speed=1.0))
    [first] = await due_attempts(db_sessionmaker, lifecycle, 1)
    started = await start_attempt(
        db_sessionmaker, lifecycle, first, picking=pick(ADA, BOB), app="w1", server="pbx", max_concurrent=20
    )
    assert started.plan is not None and started.plan.admin.name == "ada"
    async with db_sessionmaker.begin() as session:
        await lifecycle.attempts.finish(session, first, AttemptResult(Outcome.ADMIN_UNAVAILABLE, "no answer"))

    later = OPEN + timedelta(hours=1)  # past the admin retry's delay, still open hours
    [retry] = await claim_due_attempts(db_sessionmaker, now=later, worker="w1", lease_seconds=120.0, limit=5)
    again = await start_attempt(
        db_sessionmaker, lifecycle, retry, picking=pick(ADA, BOB), app="w1", server="pbx", max_concurrent=20
    )

    assert retry != first
    assert again.plan is not None and again.plan.admin.name == "bob"


async def test_a_claimed_attempt_with_legs_is_left_to_be_reconciled_not_started(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Its worker died mid-call and a new claim took it once the lease ran out: it must never be dialled again.
    lifecycle = Lifecycle(settings(), VirtualClock(start=OPEN, speed=1.0))
    [attempt_id] = await due_attempts(db_sessionmaker, lifecycle, 1)
    async with db_sessionmaker.begin() as session:
        session.add(
            Leg(
                attempt_id=attempt_id,
                role="lead",
                try_no=1,
                channel_id="cb-x-lead",
                endpoint="PJSIP/x",
                state="dialing",
                created_at=OPEN,
                updated_at=OPEN,
            )
        )

    admission = await start_attempt(
        db_sessionmaker, lifecycle, attempt_id, picking=pick(ADA), app="w2", server="pbx", max_concurrent=20
    )

    assert (admission.plan, admission.why) == (None, "in_flight")
    async with db_sessionmaker() as session:
        attempt = await session.get(Attempt, attempt_id)
        assert attempt is not None
        assert (attempt.status, attempt.admin_name, attempt.started_at) == ("claimed", None, None)
    assert (await trunk_load(db_sessionmaker)).busy == frozenset()


async def test_the_start_stores_the_admin_legs_intent_so_ringing_the_admin_commits_nothing_first(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    lifecycle = Lifecycle(settings(), VirtualClock(start=OPEN, speed=1.0))
    [attempt_id] = await due_attempts(db_sessionmaker, lifecycle, 1)
    started = await start_attempt(
        db_sessionmaker,
        lifecycle,
        attempt_id,
        picking=pick(BOB),
        app="w1",
        server="pbx",
        max_concurrent=20,
        installation="inst1",
    )
    assert started.why == "started" and started.admin_leg is not None
    channel_id = CallIds("inst1", attempt_id).leg("admin")
    async with db_sessionmaker() as session:
        leg = await session.scalar(select(Leg).where(Leg.attempt_id == attempt_id))
    assert leg is not None
    assert (leg.channel_id, leg.role, leg.try_no, leg.endpoint, leg.state) == (
        channel_id,
        "admin",
        1,
        "PJSIP/bob",
        "intent",
    )

    journal = StoreJournal(db_sessionmaker, lifecycle.clock)
    try:
        journal.stored_with_start(*started.admin_leg)
        commits: list[int] = []
        event.listen(db_sessionmaker.kw["bind"].sync_engine, "commit", lambda _conn: commits.append(1))
        await journal.leg_intent(attempt_id, "admin", 1, channel_id, "PJSIP/bob")  # what ringing does
        assert commits == []
        await journal.leg_update(channel_id, state="requested")  # the journal writes to the start's row
    finally:
        await journal.aclose()
    async with db_sessionmaker() as session:
        states = list(await session.scalars(select(Leg.state).where(Leg.attempt_id == attempt_id)))
    assert states == ["requested"]
