"""Starting a claimed attempt under the limits the database enforces for all workers at once.

- One call per admin: a partial unique index on running attempts' ``admin_name``
  (``uq_attempts_admin_one_call``). A start skips admins whose calls are committed; two workers that pick
  the same admin at the same instant can't both commit, and the loser starts over.
- At most ``calls.max_concurrent`` calls running on the trunk. On PostgreSQL a deferred trigger counts them
  at COMMIT under a transaction-scoped advisory lock (migration ``0005_trunk_admission``), so N workers can't
  each see room for one more at the same time, and no worker waits on another's round trips. SQLite runs one
  worker: the count inside its start transaction is enough.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..calls.admins import AdminPicking
from ..calls.ids import CallIds
from ..domain.attempts import AttemptPlan
from ..domain.statuses import AttemptStatus
from ..lifecycle import Lifecycle
from ..lifecycle.attempts import InFlight
from ..settings import AdminSettings
from ..store.engine import one_statement
from ..store.leg_journal import insert_intent, intent_row
from ..store.models import Attempt
from ..store.requests import start_with_admin

log = logging.getLogger(__name__)

ADMIN_INDEX = "uq_attempts_admin_one_call"
TRUNK_FULL = "callback_trunk_full"  # the constraint name the PostgreSQL trigger refuses a commit with
# Business seconds before an attempt that found no admin or no trunk room is tried again.
REQUEUE_DELAY = 5.0
# Starts tried again after losing a race for an admin to another worker's simultaneous start.
RACES = 3


@dataclass(frozen=True)
class Admission:
    plan: AttemptPlan | None  # None: not started (see ``why``)
    why: str  # started | not_startable | in_flight | no_admin | trunk_full
    # The admin leg's id and intent row, stored by the start (given ``installation``): for the leg journal.
    admin_leg: tuple[int, dict[str, Any]] | None = None


@dataclass(frozen=True)
class TrunkLoad:
    """Calls running on the trunk (every worker's) and the admins on them, from one read."""

    running: int
    busy: frozenset[str]


async def trunk_load(sessions: async_sessionmaker[AsyncSession]) -> TrunkLoad:
    async with sessions() as session:
        await one_statement(session)
        names = list(
            await session.scalars(select(Attempt.admin_name).where(Attempt.status == AttemptStatus.RUNNING))
        )
    return TrunkLoad(len(names), frozenset(n for n in names if n is not None))


def _admin_taken(exc: IntegrityError) -> bool:
    text_ = str(exc.orig)
    return ADMIN_INDEX in text_ or "attempts.admin_name" in text_


async def start_attempt(
    sessions: async_sessionmaker[AsyncSession],
    lifecycle: Lifecycle,
    attempt_id: int,
    *,
    picking: AdminPicking,
    app: str,
    server: str,
    max_concurrent: int,
    installation: str | None = None,
) -> Admission:
    """Mark the claimed attempt running with the first admin ``picking`` offers that the database lets us
    have, in one transaction: each admin tried costs one conditional UPDATE, not a transaction of its own.
    When started, ``picking.current`` is the admin (still held); otherwise it holds none. An attempt that has
    legs (its worker stopped mid-call) is left as it is: ``in_flight``, to be reconciled.

    With ``installation``, the admin leg's intent is stored by the same transaction (the call's first leg,
    ``CallIds(installation, attempt).leg("admin")``): the call then rings the admin without a commit of its
    own first. A worker that dies after the start finds the attempt in flight, as after any intent."""
    for _race in range(RACES):
        try:
            async with sessions.begin() as session:
                postgres = session.get_bind().dialect.name == "postgresql"
                if not postgres and not await _trunk_has_room(session, max_concurrent):
                    await lifecycle.attempts.requeue_unstarted(
                        session, attempt_id, REQUEUE_DELAY, "trunk full"
                    )
                    return Admission(None, "trunk_full")
                # On PostgreSQL the trunk is checked at COMMIT by a trigger; the start's read tells it the
                # limit, for this transaction alone.
                running = await lifecycle.attempts.begin(
                    session,
                    attempt_id,
                    app=app,
                    server=server,
                    trunk_limit=max_concurrent if postgres else None,
                )
                if running is None:
                    return Admission(None, "not_startable")
                if isinstance(running, InFlight):
                    return Admission(None, "in_flight")
                picking.ask_last(running.failed_admin)
                admin = await _take_admin(session, attempt_id, running.columns, picking)
                if admin is None:
                    raise _NoAdmin
                admin_leg = None
                if installation is not None:
                    row = intent_row(
                        attempt_id,
                        "admin",
                        1,
                        CallIds(installation, attempt_id).leg("admin"),
                        admin.endpoint,
                        running.columns["started_at"],
                    )
                    admin_leg = (await insert_intent(session, row), row)
            return Admission(running.start.with_admin(admin), "started", admin_leg)
        except _NoAdmin:
            break
        except IntegrityError as exc:
            if TRUNK_FULL in str(exc.orig):
                picking.drop()
                async with sessions.begin() as session:
                    await lifecycle.attempts.requeue_unstarted(
                        session, attempt_id, REQUEUE_DELAY, "trunk full"
                    )
                return Admission(None, "trunk_full")
            if not _admin_taken(exc):
                picking.drop()
                raise
            # Another worker's start took the same admin at this very instant and committed first: our
            # transaction is void. Once more, without that admin.
            log.debug("attempt %s: raced another worker for an admin", attempt_id)
            picking.refused()
        except BaseException:
            picking.drop()
            raise
    picking.drop()
    async with sessions.begin() as session:
        await lifecycle.attempts.requeue_unstarted(session, attempt_id, REQUEUE_DELAY, "no admin free")
    return Admission(None, "no_admin")


class _NoAdmin(Exception):
    """Every admin is on a call: the start is rolled back."""


async def _take_admin(
    session: AsyncSession, attempt_id: int, running: dict[str, Any], picking: AdminPicking
) -> AdminSettings | None:
    """The first admin offered whose calls the database knows of (committed) are over, given to the attempt
    in the same UPDATE that marks it running (``running``: its columns from ``Attempts.begin``).

    The guard skips, without an error, an admin another worker's call has taken since this worker last
    looked; only a start committing at this very instant with the same admin trips the unique index.
    """
    while (admin := picking.next()) is not None:
        if await start_with_admin(session, attempt_id, admin.name, running):
            return admin
        picking.refused()
    return None


async def _trunk_has_room(session: AsyncSession, max_concurrent: int) -> bool:
    """SQLite (one worker): the count inside the start transaction is enough."""
    running = await session.scalar(select(func.count()).where(Attempt.status == AttemptStatus.RUNNING))
    return int(running or 0) < max_concurrent
