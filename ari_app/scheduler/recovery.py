"""Reconciling attempts that were in flight when a worker stopped, from the store's journal and Asterisk.

An attempt that has legs is never run again (its lead is never dialled twice). The policy, by phase:
- admin and lead bridged, both channels alive: the conversation is re-adopted, not cut. A worker that took
  the attempt over from another application first moves both channels into its own
  (``POST /channels/{id}/move``); a worker restarted under the same name already owns them. It then follows
  the two channels (``GET /channels/{id}``, no events needed) until either side hangs up, hangs up the other,
  and judges the call by its talk time from the recorded bridge.
- any other phase (admin ringing or at the whisper, lead ringing, AMD, the voicemail drop): the live channels
  are ended and the outcome is read from what was recorded (a cut drop is ``lead_machine``), or is a system
  error when the lead was never dialled. A ``dial_unknown`` lead is resolved the same way, never re-sent.
"""

from __future__ import annotations

import logging

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..calls.adoption import CallAdoption
from ..clock import Clock
from ..domain.attempts import AttemptResult
from ..domain.outcomes import LeadLegFacts, Outcome, classify_lead
from ..domain.statuses import ANSWERED_LEG_STATES, LEASED_ATTEMPT_STATUSES, LegStatus
from ..lifecycle import Lifecycle
from ..store.claims import mark_running
from ..store.models import Attempt, Leg

log = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        adoption: CallAdoption,
        lifecycle: Lifecycle,
        clock: Clock,
        worker_id: str = "",
    ) -> None:
        self.sessions = sessions
        self.adoption = adoption  # what is done on the PBX (the call package talks ARI, not the scheduler)
        self.lifecycle = lifecycle
        self.clock = clock
        self.worker_id = worker_id

    async def recover_own(self, worker_id: str) -> list[int]:
        """At start: attempts this worker (same stable id) held in a previous life. Those never started go
        back to the queue; those with legs are returned, to be reconciled (under a lease) by the caller."""
        async with self.sessions() as session:
            ids = list(
                await session.scalars(
                    select(Attempt.id).where(
                        Attempt.lease_owner == worker_id, Attempt.status.in_(LEASED_ATTEMPT_STATUSES)
                    )
                )
            )
        in_flight: list[int] = []
        for attempt_id in ids:
            if await self.needs_reconcile(attempt_id):
                in_flight.append(attempt_id)
            else:
                async with self.sessions.begin() as session:
                    await self.lifecycle.attempts.requeue_unstarted(
                        session, attempt_id, 0.0, "worker restarted"
                    )
        return in_flight

    async def needs_reconcile(self, attempt_id: int) -> bool:
        """Whether a claimed attempt has legs: in flight when its worker stopped, to be reconciled, never
        dialled again. (A start asks the same in its own read: ``store/requests.attempt_starting``.)"""
        async with self.sessions() as session:
            return bool(await session.scalar(select(exists().where(Leg.attempt_id == attempt_id))))

    async def reconcile(self, attempt_id: int) -> AttemptResult:
        async with self.sessions() as session:
            legs = list(await session.scalars(select(Leg).where(Leg.attempt_id == attempt_id)))
            attempt = await session.get(Attempt, attempt_id)
        adopted = await self._readopt(attempt, legs) if attempt is not None else None
        if adopted is not None:
            async with self.sessions.begin() as session:
                await self.lifecycle.attempts.finish(session, attempt_id, adopted)
            log.info("attempt %s re-adopted and finished: %s", attempt_id, adopted.outcome.value)
            return adopted
        await self.adoption.end_live(
            attempt_id, [leg.channel_id for leg in legs if leg.state != LegStatus.ENDED]
        )
        result = self.judge(legs)
        async with self.sessions.begin() as session:
            await self.lifecycle.attempts.finish(session, attempt_id, result)
        log.info("attempt %s reconciled: %s (%s)", attempt_id, result.outcome.value, result.detail)
        return result

    def judge(self, legs: list[Leg]) -> AttemptResult:
        lead = next((leg for leg in legs if leg.role == "lead"), None)
        if lead is None or lead.state == LegStatus.INTENT:
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

    async def _readopt(self, attempt: Attempt, legs: list[Leg]) -> AttemptResult | None:
        """A bridged call whose channels are both alive: take it over and follow it to its end."""
        admin = next((leg for leg in legs if leg.role == "admin" and leg.state != LegStatus.ENDED), None)
        lead = next((leg for leg in legs if leg.role == "lead" and leg.state in ANSWERED_LEG_STATES), None)
        if admin is None or lead is None:
            return None
        channel_ids = [admin.channel_id, lead.channel_id]
        if not await self.adoption.take_over(attempt.id, channel_ids, attempt.ari_app):
            return None
        bridged_at = lead.bridged_at or lead.answered_at or self.clock.now()
        if self.worker_id:
            try:
                await mark_running(self.sessions, attempt.id, worker=self.worker_id, now=self.clock.now())
            except IntegrityError as exc:  # the admin index may refuse it: the call goes on all the same
                log.warning("attempt %s: re-adopted but not marked running: %s", attempt.id, exc)
        gone_at = await self.adoption.follow(attempt.id, channel_ids)
        talk = max(0.0, ((gone_at or self.clock.now()) - bridged_at).total_seconds())
        facts = LeadLegFacts(
            cause=16, dial_status="ANSWER", answered=True, talk_seconds=talk, final_attempt=attempt.final
        )
        outcome = classify_lead(facts, min_talk_seconds=self.lifecycle.settings.calls.min_talk_seconds)
        return AttemptResult(
            outcome, f"talked {talk:.0f} s; re-adopted after the worker stopped", talk_seconds=talk
        )
