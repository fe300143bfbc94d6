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

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..ari.client import AriClient
from ..ari.errors import AriError, AriNotFound
from ..calls.ids import CallIds
from ..clock import Clock
from ..domain.attempts import AttemptResult
from ..domain.outcomes import LeadLegFacts, Outcome, classify_lead
from ..lifecycle import Lifecycle
from ..store.claims import mark_running
from ..store.models import Attempt, Leg

log = logging.getLogger(__name__)

# Wall seconds between two looks at a re-adopted call's channels.
WATCH_EVERY = 0.5
_MAX_WATCH_SECONDS = 4 * 3600.0


class Recovery:
    def __init__(
        self,
        *,
        installation: str,
        sessions: async_sessionmaker[AsyncSession],
        ari: AriClient,
        lifecycle: Lifecycle,
        clock: Clock,
        app: str = "",
        worker_id: str = "",
    ) -> None:
        self.installation = installation
        self.sessions = sessions
        self.ari = ari
        self.lifecycle = lifecycle
        self.clock = clock
        self.app = app  # our Stasis application: where re-adopted channels are moved
        self.worker_id = worker_id

    async def recover_own(self, worker_id: str) -> list[int]:
        """At start: attempts this worker (same stable id) held in a previous life. Those never started go
        back to the queue; those with legs are returned, to be reconciled (under a lease) by the caller."""
        async with self.sessions() as session:
            ids = list(
                await session.scalars(
                    select(Attempt.id).where(
                        Attempt.lease_owner == worker_id, Attempt.status.in_(("claimed", "running"))
                    )
                )
            )
        in_flight: list[int] = []
        for attempt_id in ids:
            if await self.needs_reconcile(attempt_id):
                in_flight.append(attempt_id)
            else:
                async with self.sessions.begin() as session:
                    await self.lifecycle.requeue_unstarted(session, attempt_id, 0.0, "worker restarted")
        return in_flight

    async def needs_reconcile(self, attempt_id: int) -> bool:
        return (await self.before_start(attempt_id))[0]

    async def before_start(self, attempt_id: int) -> tuple[bool, str | None]:
        """For a claimed attempt, in one read: whether it has legs (in flight when its worker stopped: to be
        reconciled, never dialled again), and the admin who failed the previous try of its request (asked
        last this time)."""
        async with self.sessions() as session:
            if await session.scalar(select(Leg.id).where(Leg.attempt_id == attempt_id).limit(1)) is not None:
                return True, None
            request_id = select(Attempt.request_id).where(Attempt.id == attempt_id).scalar_subquery()
            previous = await session.scalar(
                select(Attempt.admin_name)
                .where(
                    Attempt.request_id == request_id,
                    Attempt.id != attempt_id,
                    Attempt.outcome == Outcome.ADMIN_UNAVAILABLE.value,
                )
                .order_by(Attempt.number.desc())
                .limit(1)
            )
            return False, previous

    async def reconcile(self, attempt_id: int) -> AttemptResult:
        async with self.sessions() as session:
            legs = list(await session.scalars(select(Leg).where(Leg.attempt_id == attempt_id)))
            attempt = await session.get(Attempt, attempt_id)
        adopted = await self._readopt(attempt, legs) if attempt is not None else None
        if adopted is not None:
            async with self.sessions.begin() as session:
                await self.lifecycle.finish_attempt(session, attempt_id, adopted)
            log.info("attempt %s re-adopted and finished: %s", attempt_id, adopted.outcome.value)
            return adopted
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

    async def _readopt(self, attempt: Attempt, legs: list[Leg]) -> AttemptResult | None:
        """A bridged call whose channels are both alive: take it over and follow it to its end."""
        admin = next((leg for leg in legs if leg.role == "admin" and leg.state != "ended"), None)
        lead = next((leg for leg in legs if leg.role == "lead" and leg.state in ("up", "bridged")), None)
        if admin is None or lead is None or not self.app:
            return None
        channel_ids = [admin.channel_id, lead.channel_id]
        try:
            # The bridge itself is the truth: the worker may have died before it recorded the bridging.
            bridge = await self.ari.get_bridge(CallIds(self.installation, attempt.id).bridge)
            if not set(channel_ids) <= set(bridge.channels):
                return None
            if attempt.ari_app and attempt.ari_app != self.app:
                for channel_id in channel_ids:
                    await self.ari.move(channel_id, self.app, f"adopted,{attempt.id}")
                # Not measured on Asterisk: if leaving the old application took them out of the bridge,
                # put them back (a short gap in the audio beats a cut call).
                missing = set(channel_ids) - set((await self.ari.get_bridge(bridge.id)).channels)
                if missing:
                    await self.ari.add_channel(bridge.id, sorted(missing))
        except AriError as exc:
            log.info("attempt %s: not re-adopted (%s); ending it", attempt.id, exc)
            return None
        bridged_at = lead.bridged_at or lead.answered_at or self.clock.now()
        if self.worker_id:
            try:
                await mark_running(self.sessions, attempt.id, worker=self.worker_id, now=self.clock.now())
            except IntegrityError as exc:  # the admin index may refuse it: the call goes on all the same
                log.warning("attempt %s: re-adopted but not marked running: %s", attempt.id, exc)
        log.info("attempt %s: re-adopted the bridged call into %s", attempt.id, self.app)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _MAX_WATCH_SECONDS / self.clock.speed
        gone_at = None
        while gone_at is None and loop.time() < deadline:
            await asyncio.sleep(WATCH_EVERY)
            for channel_id in channel_ids:
                try:
                    await self.ari.get_channel(channel_id)
                except AriNotFound:
                    gone_at = self.clock.now()
                except AriError as exc:
                    log.warning("attempt %s: cannot read %s: %s", attempt.id, channel_id, exc)
        for channel_id in channel_ids:
            try:
                await self.ari.hangup(channel_id)
            except AriError:
                pass  # already gone: that is how the call ended
        try:
            await self.ari.destroy_bridge(CallIds(self.installation, attempt.id).bridge)
        except AriError:
            pass
        talk = max(0.0, ((gone_at or self.clock.now()) - bridged_at).total_seconds())
        facts = LeadLegFacts(
            cause=16, dial_status="ANSWER", answered=True, talk_seconds=talk, final_attempt=attempt.final
        )
        outcome = classify_lead(facts, min_talk_seconds=self.lifecycle.settings.calls.min_talk_seconds)
        return AttemptResult(
            outcome, f"talked {talk:.0f} s; re-adopted after the worker stopped", talk_seconds=talk
        )
