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

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    Update,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter

from ari_app.domain.statuses import LEASED_ATTEMPT_STATUSES, AttemptStatus
from ari_app.store.engine import one_statement
from ari_app.store.models import Attempt, Base
from ari_app.store.queued import CLAIMED_CHANNEL, Topic, announces, mark

_ATTEMPTS = Base.metadata.tables["attempts"]
_NOW = bindparam("now", type_=_ATTEMPTS.c.due_at.type)


def _claimable(now: datetime | BindParameter[datetime], *, scheduled: bool = True) -> ColumnElement[bool]:
    """Due (when ``scheduled``) or taken over: ``now`` a time, or ``_NOW`` in a statement built once."""
    a = _ATTEMPTS.c
    expired = and_(a.status.in_(LEASED_ATTEMPT_STATUSES), a.lease_until < now)
    if not scheduled:
        return expired
    return or_(and_(a.status == AttemptStatus.SCHEDULED, a.due_at <= now), expired)


@functools.cache
def _pg_claim(scheduled: bool, announce: bool) -> Executable:
    """The PostgreSQL claim, built once per shape (Core, parameters bound at execution): built per round, its
    construction and cache key cost more than the rest of a claim's CPU (profiled, issue 17)."""
    candidates = (
        select(_ATTEMPTS.c.id)
        .where(_claimable(_NOW, scheduled=scheduled))
        .order_by(_ATTEMPTS.c.due_at, _ATTEMPTS.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id.in_(candidates))
        .values(
            status=AttemptStatus.CLAIMED,
            lease_owner=bindparam("worker", type_=_ATTEMPTS.c.lease_owner.type),
            lease_until=bindparam("lease_until", type_=_ATTEMPTS.c.lease_until.type),
            updated_at=bindparam("claimed_at", type_=_ATTEMPTS.c.updated_at.type),
        )
        .returning(_ATTEMPTS.c.id)
    )
    return _announcing(claim) if announce else claim


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
    async with session_maker() as session:
        if session.get_bind().dialect.name != "postgresql":
            async with session.begin():
                return await _claim_by_compare_and_set(session, now, worker, lease_until, limit, only_expired)
        await one_statement(session)  # its own transaction: one round trip
        stmt = _pg_claim(not only_expired, announces(session, Topic.ATTEMPTS))
        params = {
            "now": now,
            "limit": limit,
            "worker": worker,
            "lease_until": lease_until,
            "claimed_at": now,
            "claimer": f"{worker};",
        }
        ids = sorted((await session.scalars(stmt, params)).all())
        await session.commit()  # sends nothing in autocommit
        return ids


async def _claim_by_compare_and_set(
    session: AsyncSession,
    now: datetime,
    worker: str,
    lease_until: datetime,
    limit: int,
    only_expired: bool,
) -> list[int]:
    claimed = {
        "status": AttemptStatus.CLAIMED,
        "lease_owner": worker,
        "lease_until": lease_until,
        "updated_at": now,
    }
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


def _announcing(claim: Update) -> Select[Any]:
    """The claim as ``WITH claimed AS (UPDATE … RETURNING id) SELECT id`` joined to one ``pg_notify`` of
    the claimer and the ids taken (``<worker>;<id>,…``, the prefix bound as ``claimer``): one statement, and
    no NOTIFY when nothing was taken (the join then has no row)."""
    claimed = claim.cte("claimed")
    ids = func.string_agg(cast(claimed.c.id, Text), ",")
    prefix = bindparam("claimer", type_=Text)
    notify = (
        select(func.pg_notify(CLAIMED_CHANNEL, func.concat(prefix, ids)).label("sent"))
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
        await one_statement(session)
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
