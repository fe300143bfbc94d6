"""Starting a claimed attempt under the limits the database enforces for all workers at once.

- One call per admin: a partial unique index on running attempts' ``admin_name``
  (``uq_attempts_admin_one_call``). Two workers that pick the same admin at the same instant can't both
  commit; the loser tries its next candidate.
- At most ``calls.max_concurrent`` calls running on the trunk: counted inside the start transaction. On
  PostgreSQL the count and the start are serialised by a transaction-scoped advisory lock, so N workers can't
  each see room for one more at the same time. SQLite runs one worker, whose own task count already bounds it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..calls.attempt import AttemptPlan
from ..lifecycle import Lifecycle
from ..settings import AdminSettings
from ..store.models import Attempt

log = logging.getLogger(__name__)

ADMIN_INDEX = "uq_attempts_admin_one_call"
# Any fixed 64-bit key: the lock that makes "count running calls, then start one" atomic across workers.
TRUNK_LOCK_KEY = 0x63616C6C6261636B  # "callback"
# Business seconds before an attempt that found no admin or no trunk room is tried again.
REQUEUE_DELAY = 5.0


@dataclass(frozen=True)
class Admission:
    plan: AttemptPlan | None  # None: not started (see ``why``)
    why: str  # started | not_startable | no_admin | trunk_full


async def busy_admins(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    """Admins on a call now, according to the database (every worker's calls)."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Attempt.admin_name).where(Attempt.status == "running", Attempt.admin_name.is_not(None))
        )
        return {name for name in rows if name is not None}


async def running_calls(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).where(Attempt.status == "running")) or 0)


def _admin_taken(exc: IntegrityError) -> bool:
    text_ = str(exc.orig)
    return ADMIN_INDEX in text_ or "attempts.admin_name" in text_


async def start_attempt(
    sessions: async_sessionmaker[AsyncSession],
    lifecycle: Lifecycle,
    attempt_id: int,
    *,
    candidates: Sequence[AdminSettings],
    app: str,
    server: str,
    max_concurrent: int,
) -> Admission:
    """Mark the claimed attempt running with the first candidate admin the database lets us have.

    Each try is its own transaction: a unique violation aborts a PostgreSQL transaction.
    """
    for admin in candidates:
        try:
            async with sessions.begin() as session:
                if not await _trunk_has_room(session, max_concurrent):
                    await lifecycle.requeue_unstarted(session, attempt_id, REQUEUE_DELAY, "trunk full")
                    return Admission(None, "trunk_full")
                plan = await lifecycle.begin_attempt(session, attempt_id, admin=admin, app=app, server=server)
                await session.flush()  # a taken admin fails here, inside this transaction
        except IntegrityError as exc:
            if not _admin_taken(exc):
                raise
            log.debug("attempt %s: admin %s was taken by another worker", attempt_id, admin.name)
            continue
        return Admission(plan, "started" if plan is not None else "not_startable")
    async with sessions.begin() as session:
        await lifecycle.requeue_unstarted(session, attempt_id, REQUEUE_DELAY, "no admin free")
    return Admission(None, "no_admin")


async def _trunk_has_room(session: AsyncSession, max_concurrent: int) -> bool:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TRUNK_LOCK_KEY})
    running = await session.scalar(select(func.count()).where(Attempt.status == "running"))
    return int(running or 0) < max_concurrent
