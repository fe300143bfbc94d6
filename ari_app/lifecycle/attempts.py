"""An attempt starts (the checks made at the moment of dialling) and ends (wf-1.2 / wf-1.3: the outcome
applied in one transaction: tags, notes, the next attempt, the SMS)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.amd import Label
from ..domain.attempts import AttemptResult, AttemptStart
from ..domain.calendar import NoSlotError, is_allowed
from ..domain.outcomes import Outcome
from ..domain.phone import timezones_of
from ..domain.preferred_time import chosen_by_lead, parse_zone
from ..domain.statuses import LEASED_ATTEMPT_STATUSES, OPEN_REQUEST_STATUSES, AttemptStatus, RequestStatus
from ..domain.tags import Status
from ..domain.workflow import (
    Decision,
    amd_enabled,
    attempt_is_final,
    decide_after_attempt,
    missed_call_when_text,
)
from ..logs import bind_log_ids, call_log
from ..sms.templates import MessageKind
from ..store.models import Attempt, CallbackRequest, Contact
from ..store.requests import attempt_ending, attempt_starting
from ..store.rows import event_row, note_row
from .closing import Closing
from .context import Context
from .labels import Labels
from .outcome_rows import OutcomeRows
from .outreach import Outreach

log = logging.getLogger(__name__)
# One readable line per finished attempt, for the operator watching `callback demo` or `serve`.
calls_log = logging.getLogger("callback.calls")

# Business seconds an attempt due while the lead is on a return call waits before it looks again.
RETURN_CALL_WAIT = 60.0
_RETRY_KINDS = {"lead": "lead", "admin": "admin_retry", "system": "system_retry"}


@dataclass(frozen=True)
class Running:
    """A start that may dial: the plan without its admin, the attempt's columns once running, and the admin
    who failed the request's previous try (asked last)."""

    start: AttemptStart
    columns: dict[str, Any]
    failed_admin: str | None = None


@dataclass(frozen=True)
class InFlight:
    """The claimed attempt has legs: it was in flight when its worker stopped. Nothing was written; it is to
    be reconciled with Asterisk, never dialled again."""


class Attempts:
    def __init__(self, ctx: Context, closing: Closing, outreach: Outreach, labels: Labels) -> None:
        self.ctx = ctx
        self.labels = labels
        self.closing = closing
        self.outreach = outreach

    async def begin(
        self, session: AsyncSession, attempt_id: int, *, app: str, server: str, trunk_limit: int | None = None
    ) -> Running | InFlight | None:
        """What starting a claimed attempt writes, or None when it may not dial now (then it is rescheduled or
        cancelled here), or ``InFlight`` (it has legs; nothing written). The request is marked calling here;
        the attempt's running columns are the caller's to write together with its admin, in one conditional
        UPDATE (``scheduler/admission.py``), in the same transaction. ``trunk_limit``: on PostgreSQL, the
        limit the trunk's commit trigger checks, set by the same read."""
        ctx = self.ctx
        now = ctx.clock.now()
        found = await attempt_starting(
            session, attempt_id, trunk_limit=None if trunk_limit is None else str(trunk_limit)
        )
        if found is None or found.attempt.status != AttemptStatus.CLAIMED:
            return None
        if found.in_flight:
            return InFlight()
        attempt, request, contact = found.attempt, found.request, found.contact
        if request.status not in OPEN_REQUEST_STATUSES:
            attempt.status, attempt.updated_at = AttemptStatus.CANCELLED, now
            return None
        if found.on_return_call:
            # The lead is on the phone with us already (they called back): not a second call at them.
            attempt.status = AttemptStatus.SCHEDULED
            attempt.due_at = now + timedelta(seconds=RETURN_CALL_WAIT)
            attempt.lease_owner = attempt.lease_until = None
            attempt.updated_at = now
            ctx.note(session, contact.id, request.id, "system", "Attempt moved: the lead is on a return call")
            return None
        if found.listed:
            await self.closing.cancel(
                session, request.id, reason="number is on the do-not-call list", by="system"
            )
            return None
        allowed, evidence = is_allowed(now, calendar=ctx.calendar, quiet=ctx.quiet, lead_e164=contact.phone)
        if not allowed:
            # Claimed late (a backlog, a restart): move to the next allowed instant; nothing is used up.
            slot = ctx.slot_after(now, contact.phone)
            evidence_before = attempt.evidence
            attempt.status, attempt.due_at, attempt.evidence = AttemptStatus.SCHEDULED, slot.at, slot.evidence
            attempt.lease_owner = attempt.lease_until = None
            attempt.updated_at = now
            if chosen_by_lead(evidence_before):
                text = "Attempt moved: the time the lead chose is no longer allowed; a text tells the lead"
                ctx.note(session, contact.id, request.id, "system", text)
                await self._tell_lead_time_moved(session, contact, request, slot.at)
            else:
                text = "Attempt moved: outside the allowed hours now"
                ctx.note(session, contact.id, request.id, "system", text)
            return None
        final = attempt_is_final(request.lead_attempts_used, ctx.policy)
        at_dial = {**evidence, "opted_out_sms": contact.sms_opted_out, "dnc": False, "consent": True}
        columns = {
            "status": AttemptStatus.RUNNING,
            "started_at": now,
            "updated_at": now,
            "ari_app": app,
            "ari_server": server,
            "final": final,
            "evidence": {**(attempt.evidence or {}), "at_dial": at_dial},
        }
        request.status, request.updated_at = RequestStatus.CALLING, now
        bind_log_ids(contact_id=contact.id)  # the rest of this call's lines name the contact too
        call_log.call_starting(
            attempt.lead_attempt,
            ctx.policy.max_attempts,
            f"{contact.first_name} {contact.last_name}".strip(),
            contact.phone,
            final=final,
            amd=amd_enabled(ctx.policy, final),
        )
        start = AttemptStart(
            attempt_id=attempt.id, lead_phone=contact.phone, final=final, amd=amd_enabled(ctx.policy, final)
        )
        return Running(start, columns, found.failed_admin)

    async def _tell_lead_time_moved(
        self, session: AsyncSession, contact: Contact, request: CallbackRequest, at: datetime
    ) -> None:
        """The time the lead chose can't be kept (the calendar changed, a holiday): one SMS per request
        says the new time in the lead's zone (the one the form showed, else the number's)."""
        now = self.ctx.clock.now()
        zone = parse_zone(request.preferred_tz) or ZoneInfo(timezones_of(contact.phone)[0])
        when = missed_call_when_text(at, zone.key, now)
        await self.ctx.event(
            session,
            contact.id,
            "attempt.moved",
            {"request_id": request.id, "preferred_at": _iso(request.preferred_at), "due_at": at.isoformat()},
        )
        await self.outreach.queue_sms(
            session, contact, request, MessageKind.preferred_time_moved, key="1", when=when
        )

    async def requeue_unstarted(self, session: AsyncSession, attempt_id: int, delay: float, why: str) -> None:
        """A claimed attempt that could not start (no admin free, pacing): back to the queue, nothing used."""
        now = self.ctx.clock.now()
        attempt = await session.get(Attempt, attempt_id)
        if attempt is None or attempt.status not in LEASED_ATTEMPT_STATUSES:
            return
        attempt.status = AttemptStatus.SCHEDULED
        attempt.due_at = now + timedelta(seconds=delay)
        attempt.lease_owner = attempt.lease_until = None
        attempt.updated_at = now
        log.info("attempt %s requeued: %s", attempt_id, why)

    async def finish(self, session: AsyncSession, attempt_id: int, result: AttemptResult) -> Decision | None:
        """Apply the outcome in the caller's transaction: one read, one UPDATE each of the attempt, its
        request and contact, and the new rows (notes, events, tags, the next attempt, the SMS) one statement
        per table (``OutcomeRows``)."""
        ctx = self.ctx
        now = ctx.clock.now()
        found = await attempt_ending(session, attempt_id)
        if found is None or found.attempt.status == AttemptStatus.DONE:
            return None  # finished already (e.g. by recovery): never apply an outcome twice
        attempt, request, contact = found.attempt, found.request, found.contact
        attempt.status = AttemptStatus.DONE
        attempt.outcome = result.outcome.value
        attempt.outcome_detail = result.detail
        attempt.talk_seconds = result.talk_seconds
        attempt.ended_at = now
        attempt.updated_at = now
        attempt.lease_owner = attempt.lease_until = None
        if result.admin_name:
            attempt.admin_name = result.admin_name
        if result.admin_said_machine:
            # The admin pressed the drop key: a machine, in their own words.
            await self.labels.record(session, attempt, Label.MACHINE, by=attempt.admin_name or "admin")

        outcome = result.outcome
        if outcome is Outcome.DIAL_UNKNOWN:
            # Unresolvable: the phone may have rung. Count it as the lead's attempt, never dial it again.
            outcome = Outcome.LEAD_UNREACHABLE
        cancelled = request.status == RequestStatus.CANCELLED
        decision = decide_after_attempt(
            outcome,
            lead_attempts_used_before=request.lead_attempts_used,
            system_failures=request.system_failures,
            policy=ctx.policy,
        )
        request.lead_attempts_used = decision.lead_attempts_used
        request.system_failures = request.system_failures + 1 if outcome is Outcome.SYSTEM_ERROR else 0
        request.updated_at = now
        rows = OutcomeRows(contact.id, now)
        text = (
            f"Attempt {attempt.number} (lead attempt {attempt.lead_attempt}): {outcome.value}"
            + (f" - {result.detail}" if result.detail else "")
            + f". {decision.note}"
        )
        rows.notes.append(note_row(contact.id, request.id, "system", text, now))
        data = {
            "request_id": request.id,
            "attempt_id": attempt.id,
            "outcome": outcome.value,
            "detail": result.detail,
            "talk_seconds": result.talk_seconds,
        }
        rows.events.append(event_row(contact.id, "attempt.outcome", data, now))
        if cancelled:
            # Cancelled while the call ran: the outcome is recorded, nothing else follows.
            await session.run_sync(rows.write, ctx.router)
            return decision
        if decision.flag_invalid_number:
            contact.number_invalid = True
            contact.updated_at = now
        if decision.status is not None:
            self._route(rows, contact, found.tags, decision.status, request.id, outcome.value)
        next_at: datetime | None = None
        if decision.retry != "none":
            earliest = now + timedelta(seconds=decision.retry_after)
            try:
                slot = ctx.slot_after(earliest, contact.phone)
            except NoSlotError as exc:
                text = f"No allowed time to call again: {exc}"
                rows.notes.append(note_row(contact.id, request.id, "system", text, now))
                request.status, request.closed_at = RequestStatus.INCOMPLETE, now
                request.close_reason = "no allowed time to call again"
            else:
                kind = _RETRY_KINDS[decision.retry]
                rows.attempt = ctx.next_attempt_row(request, slot, kind=kind, number=found.last_number + 1)
                next_at = slot.at
                request.status = RequestStatus.PENDING
        else:
            request.status = decision.request_status
            request.closed_at = now
            request.close_reason = outcome.value
        if decision.sms is not None:
            when = ""
            if next_at is not None:
                when = missed_call_when_text(next_at, timezones_of(contact.phone)[0], now)
            rows.sms = self.outreach.sms_row(contact, request, decision.sms, key=f"{attempt.id}", when=when)
        await session.run_sync(rows.write, ctx.router)
        calls_log.info(
            "call %d of %d to %s %s ended: %s (%s) -> %s%s%s",
            attempt.lead_attempt,
            self.ctx.policy.max_attempts,
            contact.first_name,
            contact.last_name,
            outcome.value,
            result.detail or "no detail",
            decision.status.value.capitalize() if decision.status is not None else "status unchanged",
            f", SMS {decision.sms} queued" if decision.sms else "",
            f", next call {call_log.when_text(next_at, self.ctx.calendar.tz)}" if next_at is not None else "",
        )
        return decision

    def _route(
        self,
        rows: OutcomeRows,
        contact: Contact,
        current: frozenset[str],
        status: Status,
        request_id: int,
        reason: str,
    ) -> None:
        """The tag router's change (``TagRouter.route``) from the tags the end's read found, into ``rows``."""
        router = self.ctx.router
        change, status_rows = router.route(
            contact.id,
            current,
            contact.pipeline_stage,
            status,
            now=rows.now,
            request_id=request_id,
            reason=reason,
        )
        if status_rows is None:
            return
        tags, note, event = status_rows
        rows.tags_removed, rows.tags_added = change.remove, tags
        rows.notes.append(note)
        rows.events.append(event)
        if router.webhook_urls:
            rows.hooked = event["type"]
        contact.pipeline_stage = change.stage
        contact.updated_at = rows.now


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
