"""Reconciling attempts that were in flight when a worker stopped, from the store's journal and Asterisk.

An attempt that has legs is never run again: its live channels are ended (the policy for a call whose owner
died), and its outcome is read from what was recorded, or is a system error when the lead was never dialled.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..ari.client import AriClient
from ..ari.errors import AriError, AriNotFound
from ..calls.attempt import AttemptResult
from ..clock import Clock
from ..domain.outcomes import LeadLegFacts, Outcome, classify_lead
from ..lifecycle import Lifecycle
from ..store.models import Attempt, Leg

log = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        ari: AriClient,
        lifecycle: Lifecycle,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.ari = ari
        self.lifecycle = lifecycle
        self.clock = clock

    async def recover_own(self, worker_id: str) -> int:
        """At start: attempts this worker (same stable id) held in a previous life."""
        async with self.sessions() as session:
            ids = list(
                await session.scalars(
                    select(Attempt.id).where(
                        Attempt.lease_owner == worker_id, Attempt.status.in_(("claimed", "running"))
                    )
                )
            )
        for attempt_id in ids:
            if await self.needs_reconcile(attempt_id):
                await self.reconcile(attempt_id)
            else:
                async with self.sessions.begin() as session:
                    await self.lifecycle.requeue_unstarted(session, attempt_id, 0.0, "worker restarted")
        return len(ids)

    async def needs_reconcile(self, attempt_id: int) -> bool:
        async with self.sessions() as session:
            return (
                await session.scalar(select(Leg.id).where(Leg.attempt_id == attempt_id).limit(1)) is not None
            )

    async def previous_admin(self, attempt_id: int) -> str | None:
        """The admin who failed the previous try of this request, so another admin is asked first."""
        async with self.sessions() as session:
            attempt = await session.get(Attempt, attempt_id)
            if attempt is None:
                return None
            return await session.scalar(
                select(Attempt.admin_name)
                .where(
                    Attempt.request_id == attempt.request_id,
                    Attempt.id != attempt_id,
                    Attempt.outcome == Outcome.ADMIN_UNAVAILABLE.value,
                )
                .order_by(Attempt.number.desc())
                .limit(1)
            )

    async def reconcile(self, attempt_id: int) -> AttemptResult:
        async with self.sessions() as session:
            legs = list(await session.scalars(select(Leg).where(Leg.attempt_id == attempt_id)))
        for leg in legs:
            if leg.state == "ended":
                continue
            try:
                await self.ari.get_channel(leg.channel_id)
            except AriNotFound:
                continue
            except AriError as exc:
                log.warning("reconcile %s: cannot read %s: %s", attempt_id, leg.channel_id, exc)
                continue
            try:
                await self.ari.hangup(leg.channel_id)
            except AriError as exc:
                log.warning("reconcile %s: cannot hang up %s: %s", attempt_id, leg.channel_id, exc)
        result = self.judge(legs)
        async with self.sessions.begin() as session:
            await self.lifecycle.finish_attempt(session, attempt_id, result)
        log.info("attempt %s reconciled: %s (%s)", attempt_id, result.outcome.value, result.detail)
        return result

    def judge(self, legs: list[Leg]) -> AttemptResult:
        lead = next((leg for leg in legs if leg.role == "lead"), None)
        if lead is None or lead.state == "intent":
            return AttemptResult(Outcome.SYSTEM_ERROR, "the worker stopped before the lead was dialled")
        talk = None
        if lead.bridged_at is not None:
            end = lead.ended_at or self.clock.now()
            talk = max(0.0, (end - lead.bridged_at).total_seconds())
        facts = LeadLegFacts(
            cause=lead.cause,
            dial_status=lead.dial_status,
            answered=lead.answered_at is not None,
            talk_seconds=talk,
            machine=lead.amd_status == "MACHINE",
        )
        outcome = classify_lead(facts, min_talk_seconds=self.lifecycle.settings.calls.min_talk_seconds)
        return AttemptResult(outcome, "reconciled after the worker stopped mid-call", talk_seconds=talk)
