"""Claiming due attempts under a lease, so many workers never run the same attempt twice.

PostgreSQL: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id``; where attempts are
announced (``store/queued.py``), the same statement NOTIFYs ``callback_claimed`` with its worker and the ids
it took, so the other workers know those announced attempts are settled and that worker is alive (delivered at
commit, only if it took something).
SQLite ignores SKIP LOCKED silently, so there a claim is compare-and-set: read candidates, then one
conditional UPDATE per row that only matches the row exactly as it was read; its row count says who won.
A lease that runs out (its worker died or hung) makes the attempt claimable again: it is taken over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    Update,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.domain.statuses import LEASED_ATTEMPT_STATUSES, AttemptStatus
from ari_app.store.models import Attempt
from ari_app.store.queued import CLAIMED_CHANNEL, Topic, announces, mark


def _claimable(now: datetime, *, scheduled: bool = True) -> ColumnElement[bool]:
    expired = and_(Attempt.status.in_(LEASED_ATTEMPT_STATUSES), Attempt.lease_until < now)
    if not scheduled:
        return expired
    return or_(and_(Attempt.status == AttemptStatus.SCHEDULED, Attempt.due_at <= now), expired)


async def claim_due_attempts(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    worker: str,
    lease_seconds: float,
    limit: int,
    only_expired: bool = False,
) -> list[int]:
    """Claim up to ``limit`` attempts that are due (or whose lease ran out); return the ids this worker owns.

    A claimed attempt has status "claimed" whatever it was before: a taken-over attempt that was "running"
    has legs and must be reconciled with Asterisk, never dialled again. ``only_expired`` claims only
    taken-over attempts: they need no free admin (their dead owner's call still holds one).
    """
    if limit <= 0:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    claimed = {
        "status": AttemptStatus.CLAIMED,
        "lease_owner": worker,
        "lease_until": lease_until,
        "updated_at": now,
    }
    async with session_maker() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            candidates = (
                select(Attempt.id)
                .where(_claimable(now, scheduled=not only_expired))
                .order_by(Attempt.due_at, Attempt.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            stmt = (
                update(Attempt)
                .where(Attempt.id.in_(candidates))
                .values(**claimed)
                .returning(Attempt.id)
                .execution_options(synchronize_session=False)
            )
            if announces(session, Topic.ATTEMPTS):
                return sorted((await session.scalars(_announcing(stmt, worker))).all())
            return sorted((await session.scalars(stmt)).all())

        rows = (
            await session.execute(
                select(Attempt.id, Attempt.status, Attempt.lease_owner, Attempt.lease_until)
                .where(_claimable(now, scheduled=not only_expired))
                .order_by(Attempt.due_at, Attempt.id)
                .limit(limit)
            )
        ).all()
        won: list[int] = []
        for attempt_id, status, owner, until in rows:
            # Matches only if nobody changed the row since we read it (lease_until changes on every claim).
            cas = update(Attempt).where(
                Attempt.id == attempt_id,
                Attempt.status == status,
                Attempt.lease_owner.is_(None) if owner is None else Attempt.lease_owner == owner,
                Attempt.lease_until.is_(None) if until is None else Attempt.lease_until == until,
            )
            if await _rowcount(session, cas.values(**claimed)) == 1:
                won.append(attempt_id)
        return won


def _announcing(claim: Update, worker: str) -> Select[Any]:
    """The claim as ``WITH claimed AS (UPDATE … RETURNING id) SELECT id`` joined to one ``pg_notify`` of
    the claimer and the ids taken (``<worker>;<id>,…``): one statement, and no NOTIFY when nothing was taken
    (the join then has no row)."""
    claimed = claim.cte("claimed")
    ids = func.string_agg(cast(claimed.c.id, Text), ",")
    notify = (
        select(func.pg_notify(CLAIMED_CHANNEL, func.concat(literal(f"{worker};", Text), ids)).label("sent"))
        .having(func.count() > 0)
        .subquery("notified")
    )
    return select(claimed.c.id).join(notify, true())


async def next_due(
    session_maker: async_sessionmaker[AsyncSession],
) -> tuple[datetime | None, datetime | None]:
    """When a claim round may next find something: the earliest scheduled attempt, and the earliest lease
    that may run out (a worker that died leaves its calls to be taken over then); None where nothing waits."""
    due = select(func.min(Attempt.due_at)).where(Attempt.status == AttemptStatus.SCHEDULED)
    lease = select(func.min(Attempt.lease_until)).where(Attempt.status.in_(LEASED_ATTEMPT_STATUSES))
    async with session_maker() as session:
        attempt, lease_end = (
            await session.execute(select(due.scalar_subquery(), lease.scalar_subquery()))
        ).one()
    return attempt, lease_end


async def renew_lease(
    session_maker: async_sessionmaker[AsyncSession],
    attempt_id: int,
    *,
    worker: str,
    now: datetime,
    lease_seconds: float,
) -> bool:
    """Extend this worker's lease; False if the attempt is no longer ours (taken over, done or cancelled)."""
    stmt = (
        update(Attempt)
        .where(
            Attempt.id == attempt_id,
            Attempt.lease_owner == worker,
            Attempt.status.in_(LEASED_ATTEMPT_STATUSES),
        )
        .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
    )
    async with session_maker() as session, session.begin():
        return await _rowcount(session, stmt) == 1


async def mark_running(
    session_maker: async_sessionmaker[AsyncSession],
    attempt_id: int,
    *,
    worker: str,
    now: datetime,
) -> bool:
    """Move a claimed attempt of ours to "running" (sets started_at if unset); False if it isn't ours."""
    stmt = (
        update(Attempt)
        .where(
            Attempt.id == attempt_id,
            Attempt.lease_owner == worker,
            Attempt.status.in_(LEASED_ATTEMPT_STATUSES),
        )
        .values(status=AttemptStatus.RUNNING, updated_at=now)
    )
    started = (
        update(Attempt).where(Attempt.id == attempt_id, Attempt.started_at.is_(None)).values(started_at=now)
    )
    async with session_maker() as session, session.begin():
        if await _rowcount(session, stmt) != 1:
            return False
        await session.execute(started, execution_options={"synchronize_session": False})
        return True


async def release(
    session_maker: async_sessionmaker[AsyncSession],
    attempt_id: int,
    *,
    worker: str,
    now: datetime,
    due_at: datetime | None = None,
) -> bool:
    """Give back an attempt this worker claimed but did not start (e.g. shutdown, pacing): it becomes
    "scheduled" again, at ``due_at`` if given. A running attempt can't be released: its lease must lapse
    so a worker takes it over and reconciles its calls. False if the attempt isn't ours to release."""
    values: dict[str, object] = {
        "status": AttemptStatus.SCHEDULED,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }
    if due_at is not None:
        values["due_at"] = due_at
    stmt = (
        update(Attempt)
        .where(
            Attempt.id == attempt_id, Attempt.lease_owner == worker, Attempt.status == AttemptStatus.CLAIMED
        )
        .values(**values)
    )
    async with session_maker() as session, session.begin():
        released = await _rowcount(session, stmt) == 1
        if released:  # due again: the workers hear of it at commit
            mark(session, Topic.ATTEMPTS, now if due_at is None else due_at, ids=(attempt_id,))
        return released


async def _rowcount(session: AsyncSession, stmt: Update) -> int:
    result = await session.execute(stmt, execution_options={"synchronize_session": False})
    assert isinstance(result, CursorResult)
    return result.rowcount
