"""Applies workflow decisions, one transaction each: tags, stage, notes, SMS outbox, next attempt.

wf-1.1 (``submit``), the start of an attempt (``begin_attempt``: the checks made at the moment of dialling),
wf-1.2 / wf-1.3 (``finish_attempt``), and the hand-made transitions (cancel, complete, opt-out).
The caller owns the session and commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import call_log
from .calls.attempt import AttemptResult, AttemptStart
from .clock import Clock
from .domain.calendar import (
    BusinessCalendar,
    NoSlotError,
    QuietHours,
    Slot,
    first_call_at,
    is_allowed,
    next_allowed_slot,
)
from .domain.outcomes import Outcome
from .domain.phone import timezones_of
from .domain.tags import StageNames, Status, TagNames
from .domain.workflow import (
    AttemptPolicy,
    Decision,
    amd_enabled,
    attempt_is_final,
    decide_after_attempt,
    missed_call_when_text,
)
from .errors import Conflict, NotFound, RateLimited, ValidationFailed
from .logs import bind_log_ids
from .settings import Settings
from .sms.templates import render
from .store.models import (
    OPEN_REQUEST_STATUSES,
    Attempt,
    CallbackRequest,
    Consent,
    Contact,
    ContactEvent,
    ContactTag,
    Dnc,
    IdempotencyKey,
    Note,
    SmsOutbox,
    WebhookDelivery,
)
from .tag_router import TagRouter, add_contact_event

log = logging.getLogger(__name__)
# One readable line per finished attempt, for the operator watching `callback demo` or `serve`.
calls_log = logging.getLogger("callback.calls")

# Replies to what the contact texted us: sent even after an opt-out (the STOP confirmation, HELP).
ANSWERS_TO_THE_CONTACT = ("opt_out_confirmation", "help")


@dataclass(frozen=True)
class IntakeData:
    first_name: str
    last_name: str
    phone: str  # E.164, already validated
    reason: str
    consent_text: str
    source: str  # form | api
    page_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class IntakeResult:
    status_code: int  # 201 created, 200 merged into an open request
    body: dict[str, Any]


_CONTACTS = cast(Table, Contact.__table__)
_REQUESTS = cast(Table, CallbackRequest.__table__)
_CONSENTS = cast(Table, Consent.__table__)
_NOTES = cast(Table, Note.__table__)
_EVENTS = cast(Table, ContactEvent.__table__)
_TAGS = cast(Table, ContactTag.__table__)
_ATTEMPTS = cast(Table, Attempt.__table__)
_DNC = cast(Table, Dnc.__table__)

# Built once: a statement object keeps its compiled-cache key, so intake neither rebuilds nor rehashes them.
_INSERT = {t: insert(t) for t in (_CONTACTS, _REQUESTS, _CONSENTS, _NOTES, _EVENTS, _TAGS, _ATTEMPTS)}
_INSERT_DELIVERY = insert(cast(Table, WebhookDelivery.__table__))
# A number's open request and its requests since a time (the per-number daily limit).
_OPEN_OR_RECENT = (
    select(_REQUESTS.c.status, _REQUESTS.c.created_at)
    .join(_CONTACTS, _CONTACTS.c.id == _REQUESTS.c.contact_id)
    .where(
        _CONTACTS.c.phone == bindparam("phone"),
        or_(_REQUESTS.c.status.in_(OPEN_REQUEST_STATUSES), _REQUESTS.c.created_at > bindparam("since")),
    )
)
_DNC_AND_CONTACT = select(
    exists().where(_DNC.c.phone == bindparam("phone")),
    select(_CONTACTS.c.id).where(_CONTACTS.c.phone == bindparam("phone")).scalar_subquery(),
)


def _insert_id_sync(conn: Connection, table: Table, row: dict[str, Any]) -> int:
    """Insert one row and return its new id (lastrowid on SQLite, RETURNING on PostgreSQL)."""
    key = conn.execute(_INSERT[table], row).inserted_primary_key
    assert key is not None  # a single-row insert always has one
    return int(key[0])


def _always_open(tz: Any) -> BusinessCalendar:
    return BusinessCalendar(tz=tz, weekdays=(), weekend=(), holidays=frozenset(), always_open=True)


class Lifecycle:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.calendar = BusinessCalendar.from_settings(settings.calendar, settings.business.timezone)
        self.sms_calendar = _always_open(self.calendar.tz)  # SMS obey the lead's quiet hours only
        self.quiet = QuietHours.from_settings(settings.quiethours)
        self.policy = AttemptPolicy.from_settings(settings.calls, settings.sms)
        self.router = TagRouter(
            TagNames.from_settings(settings.tags),
            StageNames.from_settings(settings.stages),
            settings.webhooks.urls,
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _note(
        self, session: AsyncSession, contact_id: int, request_id: int | None, kind: str, text: str
    ) -> None:
        session.add(
            Note(
                contact_id=contact_id,
                request_id=request_id,
                kind=kind,
                text=text,
                created_at=self.clock.now(),
            )
        )

    async def _event(self, session: AsyncSession, contact_id: int, type_: str, data: dict[str, Any]) -> None:
        await add_contact_event(session, contact_id, type_, data, now=self.clock.now())

    async def on_dnc(self, session: AsyncSession, phone: str) -> bool:
        return await session.get(Dnc, phone) is not None

    def _slot_after(self, earliest: datetime, phone: str) -> Slot:
        return next_allowed_slot(earliest, calendar=self.calendar, quiet=self.quiet, lead_e164=phone)

    async def _next_attempt_number(self, session: AsyncSession, request_id: int) -> int:
        numbers = await session.scalars(select(Attempt.number).where(Attempt.request_id == request_id))
        return max(numbers, default=0) + 1

    async def _schedule(
        self,
        session: AsyncSession,
        request: CallbackRequest,
        slot: Slot,
        *,
        kind: str,
    ) -> Attempt:
        now = self.clock.now()
        final = attempt_is_final(request.lead_attempts_used, self.policy)
        attempt = Attempt(
            request_id=request.id,
            number=await self._next_attempt_number(session, request.id),
            lead_attempt=request.lead_attempts_used + 1,
            final=final,
            kind=kind,
            status="scheduled",
            due_at=slot.at,
            evidence=slot.evidence,
            created_at=now,
            updated_at=now,
        )
        session.add(attempt)
        await session.flush()
        return attempt

    async def next_scheduled(self, session: AsyncSession, request_id: int) -> Attempt | None:
        return await session.scalar(
            select(Attempt)
            .where(Attempt.request_id == request_id, Attempt.status.in_(("scheduled", "claimed", "running")))
            .order_by(Attempt.due_at)
            .limit(1)
        )

    # -- wf-1.1: intake ---------------------------------------------------------------------------

    async def submit(
        self,
        session: AsyncSession,
        data: IntakeData,
        *,
        idempotency_key: str | None = None,
        daily_limit: int = 0,
    ) -> IntakeResult:
        """Store a new request, merge it into the number's open one, or replay an Idempotency-Key's answer.
        ``daily_limit`` > 0: refuse a new request (a merge or a replay calls no one) from a number that made
        that many in the last day."""
        now = self.clock.now()
        fingerprint = hashlib.sha256(
            json.dumps(
                [data.first_name, data.last_name, data.phone, data.reason], ensure_ascii=False
            ).encode()
        ).hexdigest()
        if idempotency_key is not None:
            seen = await session.get(IdempotencyKey, idempotency_key)
            if seen is not None:
                if seen.request_fingerprint != fingerprint:
                    raise Conflict("this Idempotency-Key was used for a different request")
                return IntakeResult(seen.status_code, seen.response)
        # One Core look-up for both: the common case (a number never seen) then needs no ORM unit of work.
        on_dnc, contact_id = (await session.execute(_DNC_AND_CONTACT, {"phone": data.phone})).one()
        if contact_id is not None and daily_limit > 0:  # a number never seen has made no request
            await self._limit_number(session, data.phone, daily_limit, now)
        if on_dnc:
            raise ValidationFailed("this number can't be called", field="phone", code="do_not_call")
        if contact_id is None:
            result = await self._create_first_request(session, data, now)
        else:
            result = await self._submit_known(session, contact_id, data, now)
        self._log_intake(data, result, now)
        if idempotency_key is not None:
            session.add(
                IdempotencyKey(
                    key=idempotency_key,
                    request_fingerprint=fingerprint,
                    status_code=result.status_code,
                    response=result.body,
                    created_at=now,
                )
            )
            await session.flush()
        return result

    def _log_intake(self, data: IntakeData, result: IntakeResult, now: datetime) -> None:
        """The log's first line of a request: who, when the first call is planned and why."""
        if not call_log.log.isEnabledFor(logging.INFO):
            return  # the reason costs a calendar check: only for a log that shows it
        name = f"{data.first_name} {data.last_name}".strip()
        if result.body.get("merged"):
            call_log.request_merged(name, data.phone)
            return
        planned = result.body.get("planned_at")
        if not isinstance(planned, str):
            return
        at = datetime.fromisoformat(planned)

        def check(when: datetime) -> tuple[bool, dict[str, Any]]:
            return is_allowed(when, calendar=self.calendar, quiet=self.quiet, lead_e164=data.phone)

        inside, evidence = check(now)
        delay = self.settings.calendar.first_call_delay if inside else 0.0
        earliest = now + timedelta(seconds=delay)
        blocked = None if at <= earliest else (check(earliest)[1] if inside else evidence)
        why = call_log.plan_reason({"delay_seconds": delay}, at, blocked)
        call_log.request_received(name, data.phone, at, self.calendar.tz, why)

    async def _limit_number(self, session: AsyncSession, phone: str, limit: int, now: datetime) -> None:
        rows = (
            await session.execute(_OPEN_OR_RECENT, {"phone": phone, "since": now - timedelta(days=1)})
        ).all()
        if any(status in OPEN_REQUEST_STATUSES for status, _ in rows):
            return  # it will be merged into the open request: nobody is called twice
        if len(rows) >= limit:
            oldest = min(created for _, created in rows)
            retry = max(1.0, (oldest + timedelta(days=1) - now).total_seconds() / self.clock.speed)
            raise RateLimited(
                "too many callback requests for this number today",
                field="phone",
                retry_after=math.ceil(retry),
            )

    async def _submit_known(
        self, session: AsyncSession, contact_id: int, data: IntakeData, now: datetime
    ) -> IntakeResult:
        """A number we know: merge into its open request, or open a new one."""
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        open_request = await session.scalar(
            select(CallbackRequest).where(
                CallbackRequest.contact_id == contact.id, CallbackRequest.status.in_(OPEN_REQUEST_STATUSES)
            )
        )
        if open_request is not None:
            self._note(
                session,
                contact.id,
                open_request.id,
                "merge",
                f"Another callback request while one is open (merged, no second call): {data.reason}",
            )
            await self._event(
                session, contact.id, "request.merged", {"request_id": open_request.id, "reason": data.reason}
            )
            nxt = await self.next_scheduled(session, open_request.id)
            result = IntakeResult(200, self._intake_body(open_request, nxt, merged=True))
        else:
            result = await self._create_request(session, contact, data, now)
        await session.flush()
        return result

    async def _create_first_request(
        self, session: AsyncSession, data: IntakeData, now: datetime
    ) -> IntakeResult:
        """``_create_request`` for a number never seen, with the same rows, written as Core inserts: two
        inserts that return ids, then one batch per table (profiled: the ORM's flushes were ~60 % of an
        intake's CPU). Rows keep the order the ORM path writes them in."""
        slot = first_call_at(
            now,
            calendar=self.calendar,
            quiet=self.quiet,
            lead_e164=data.phone,
            delay_seconds=self.settings.calendar.first_call_delay,
        )
        return await session.run_sync(self._write_first_request, data, now, slot)

    def _write_first_request(
        self, session: Session, data: IntakeData, now: datetime, slot: Slot
    ) -> IntakeResult:
        # Synchronous, on the session's connection, in one greenlet (``run_sync``): each statement still waits
        # for the driver, but without a greenlet and an ORM execute of its own around it (measured: -10-15 %).
        conn = session.connection()
        change = self.router.first_status(Status.PENDING)
        contact_id = _insert_id_sync(
            conn,
            _CONTACTS,
            {
                "phone": data.phone,
                "first_name": data.first_name,
                "last_name": data.last_name,
                "pipeline_stage": change.stage,
                "created_at": now,
                "updated_at": now,
            },
        )
        request_id = _insert_id_sync(
            conn,
            _REQUESTS,
            {
                "contact_id": contact_id,
                "reason": data.reason,
                "status": "pending",
                "source": data.source,
                "page_url": data.page_url,
                "ip": data.ip,
                "user_agent": data.user_agent,
                "created_at": now,
                "updated_at": now,
            },
        )
        tags, tag_note, tag_event = self.router.first_status_rows(
            contact_id, Status.PENDING, change, now=now, request_id=request_id, reason="callback requested"
        )
        consent = {
            "request_id": request_id,
            "contact_id": contact_id,
            "text": data.consent_text,
            "ip": data.ip,
            "user_agent": data.user_agent,
            "page_url": data.page_url,
            "source": data.source,
            "given_at": now,
        }
        note = {
            "contact_id": contact_id,
            "request_id": request_id,
            "kind": "system",
            "text": f"Callback requested: {data.reason}",
            "created_at": now,
        }
        created = {
            "contact_id": contact_id,
            "type": "request.created",
            "data": {"request_id": request_id, "source": data.source},
            "created_at": now,
        }
        attempt = {
            "request_id": request_id,
            "number": 1,
            "lead_attempt": 1,
            "final": attempt_is_final(0, self.policy),
            "kind": "lead",
            "status": "scheduled",
            "due_at": slot.at,
            "evidence": slot.evidence,
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(_INSERT[_CONSENTS], [consent])
        conn.execute(_INSERT[_NOTES], [note, tag_note])
        if self.router.webhook_urls:  # the deliveries need the tag event's id
            conn.execute(_INSERT[_EVENTS], [created])
            event_id = _insert_id_sync(conn, _EVENTS, tag_event)
            conn.execute(_INSERT_DELIVERY, self.router.delivery_rows(event_id, now=now))
        else:
            conn.execute(_INSERT[_EVENTS], [created, tag_event])
        conn.execute(_INSERT[_TAGS], tags)
        conn.execute(_INSERT[_ATTEMPTS], [attempt])
        body = {
            "id": request_id,
            "contact_id": contact_id,
            "status": "pending",
            "merged": False,
            "planned_at": slot.at.isoformat(),
        }
        return IntakeResult(201, body)

    async def _create_request(
        self, session: AsyncSession, contact: Contact, data: IntakeData, now: datetime
    ) -> IntakeResult:
        if contact.first_name != data.first_name or contact.last_name != data.last_name:
            contact.first_name, contact.last_name = data.first_name, data.last_name
        contact.updated_at = now
        request = CallbackRequest(
            contact_id=contact.id,
            reason=data.reason,
            status="pending",
            source=data.source,
            page_url=data.page_url,
            ip=data.ip,
            user_agent=data.user_agent,
            created_at=now,
            updated_at=now,
        )
        session.add(request)
        await session.flush()
        session.add(
            Consent(
                request_id=request.id,
                contact_id=contact.id,
                text=data.consent_text,
                ip=data.ip,
                user_agent=data.user_agent,
                page_url=data.page_url,
                source=data.source,
                given_at=now,
            )
        )
        self._note(session, contact.id, request.id, "system", f"Callback requested: {data.reason}")
        await self._event(
            session, contact.id, "request.created", {"request_id": request.id, "source": data.source}
        )
        await self.router.set_status(
            session, contact, Status.PENDING, now=now, request_id=request.id, reason="callback requested"
        )
        slot = first_call_at(
            now,
            calendar=self.calendar,
            quiet=self.quiet,
            lead_e164=contact.phone,
            delay_seconds=self.settings.calendar.first_call_delay,
        )
        attempt = await self._schedule(session, request, slot, kind="lead")
        return IntakeResult(201, self._intake_body(request, attempt, merged=False))

    @staticmethod
    def _intake_body(request: CallbackRequest, attempt: Attempt | None, *, merged: bool) -> dict[str, Any]:
        return {
            "id": request.id,
            "contact_id": request.contact_id,
            "status": request.status,
            "merged": merged,
            "planned_at": attempt.due_at.isoformat() if attempt is not None else None,
        }

    # -- an attempt starts: the checks at the moment of dialling ----------------------------------

    async def begin_attempt(
        self, session: AsyncSession, attempt_id: int, *, app: str, server: str
    ) -> AttemptStart | None:
        """Mark a claimed attempt running, or reschedule/cancel it when it may not dial now. Its admin is
        the caller's to take (``scheduler/admission.py``), in the same transaction."""
        now = self.clock.now()
        attempt = await session.get(Attempt, attempt_id)
        if attempt is None or attempt.status != "claimed":
            return None
        request = await session.get(CallbackRequest, attempt.request_id)
        assert request is not None
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        if request.status not in OPEN_REQUEST_STATUSES:
            attempt.status, attempt.updated_at = "cancelled", now
            return None
        if await self.on_dnc(session, contact.phone):
            await self.cancel(session, request.id, reason="number is on the do-not-call list", by="system")
            return None
        allowed, evidence = is_allowed(now, calendar=self.calendar, quiet=self.quiet, lead_e164=contact.phone)
        if not allowed:
            # Claimed late (a backlog, a restart): move to the next allowed instant; nothing is used up.
            slot = self._slot_after(now, contact.phone)
            attempt.status, attempt.due_at, attempt.evidence = "scheduled", slot.at, slot.evidence
            attempt.lease_owner = attempt.lease_until = None
            attempt.updated_at = now
            self._note(
                session, contact.id, request.id, "system", "Attempt moved: outside the allowed hours now"
            )
            return None
        attempt.status = "running"
        attempt.started_at = now
        attempt.updated_at = now
        attempt.ari_app = app
        attempt.ari_server = server
        attempt.final = attempt_is_final(request.lead_attempts_used, self.policy)
        attempt.evidence = {
            **(attempt.evidence or {}),
            "at_dial": {**evidence, "opted_out_sms": contact.sms_opted_out, "dnc": False, "consent": True},
        }
        request.status, request.updated_at = "calling", now
        bind_log_ids(contact_id=contact.id)  # the rest of this call's lines name the contact too
        call_log.call_starting(
            attempt.lead_attempt,
            self.policy.max_attempts,
            f"{contact.first_name} {contact.last_name}".strip(),
            contact.phone,
            final=attempt.final,
            amd=amd_enabled(self.policy, attempt.final),
        )
        return AttemptStart(
            attempt_id=attempt.id,
            lead_phone=contact.phone,
            final=attempt.final,
            amd=amd_enabled(self.policy, attempt.final),
        )

    async def requeue_unstarted(self, session: AsyncSession, attempt_id: int, delay: float, why: str) -> None:
        """A claimed attempt that could not start (no admin free, pacing): back to the queue, nothing used."""
        now = self.clock.now()
        attempt = await session.get(Attempt, attempt_id)
        if attempt is None or attempt.status not in ("claimed", "running"):
            return
        attempt.status = "scheduled"
        attempt.due_at = now + timedelta(seconds=delay)
        attempt.lease_owner = attempt.lease_until = None
        attempt.updated_at = now
        log.info("attempt %s requeued: %s", attempt_id, why)

    # -- wf-1.2 / wf-1.3: an attempt ended --------------------------------------------------------

    async def finish_attempt(
        self, session: AsyncSession, attempt_id: int, result: AttemptResult
    ) -> Decision | None:
        now = self.clock.now()
        attempt = await session.get(Attempt, attempt_id)
        if attempt is None or attempt.status == "done":
            return None  # finished already (e.g. by recovery): never apply an outcome twice
        request = await session.get(CallbackRequest, attempt.request_id)
        assert request is not None
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        attempt.status = "done"
        attempt.outcome = result.outcome.value
        attempt.outcome_detail = result.detail
        attempt.talk_seconds = result.talk_seconds
        attempt.ended_at = now
        attempt.updated_at = now
        attempt.lease_owner = attempt.lease_until = None
        if result.admin_name:
            attempt.admin_name = result.admin_name

        outcome = result.outcome
        if outcome is Outcome.DIAL_UNKNOWN:
            # Unresolvable: the phone may have rung. Count it as the lead's attempt, never dial it again.
            outcome = Outcome.LEAD_UNREACHABLE
        cancelled = request.status == "cancelled"
        decision = decide_after_attempt(
            outcome,
            lead_attempts_used_before=request.lead_attempts_used,
            system_failures=request.system_failures,
            policy=self.policy,
        )
        request.lead_attempts_used = decision.lead_attempts_used
        request.system_failures = request.system_failures + 1 if outcome is Outcome.SYSTEM_ERROR else 0
        request.updated_at = now
        self._note(
            session,
            contact.id,
            request.id,
            "system",
            f"Attempt {attempt.number} (lead attempt {attempt.lead_attempt}): {outcome.value}"
            + (f" - {result.detail}" if result.detail else "")
            + f". {decision.note}",
        )
        await self._event(
            session,
            contact.id,
            "attempt.outcome",
            {
                "request_id": request.id,
                "attempt_id": attempt.id,
                "outcome": outcome.value,
                "detail": result.detail,
                "talk_seconds": result.talk_seconds,
            },
        )
        if cancelled:
            return decision  # cancelled while the call ran: the outcome is recorded, nothing else follows
        if decision.flag_invalid_number:
            contact.number_invalid = True
            contact.updated_at = now
        if decision.status is not None:
            await self.router.set_status(
                session, contact, decision.status, now=now, request_id=request.id, reason=outcome.value
            )
        next_attempt: Attempt | None = None
        if decision.retry != "none":
            earliest = now + timedelta(seconds=decision.retry_after)
            try:
                slot = self._slot_after(earliest, contact.phone)
            except NoSlotError as exc:
                self._note(session, contact.id, request.id, "system", f"No allowed time to call again: {exc}")
                request.status, request.closed_at = "incomplete", now
                request.close_reason = "no allowed time to call again"
            else:
                kind = {"lead": "lead", "admin": "admin_retry", "system": "system_retry"}[decision.retry]
                next_attempt = await self._schedule(session, request, slot, kind=kind)
                request.status = "pending"
        else:
            request.status = decision.request_status
            request.closed_at = now
            request.close_reason = outcome.value
        if decision.sms is not None:
            when = ""
            if next_attempt is not None:
                when = missed_call_when_text(next_attempt.due_at, timezones_of(contact.phone)[0], now)
            await self.queue_sms(session, contact, request, decision.sms, key=f"{attempt.id}", when=when)
        calls_log.info(
            "call %d of %d to %s %s ended: %s (%s) -> %s%s%s",
            attempt.lead_attempt,
            self.policy.max_attempts,
            contact.first_name,
            contact.last_name,
            outcome.value,
            result.detail or "no detail",
            decision.status.value.capitalize() if decision.status is not None else "status unchanged",
            f", SMS {decision.sms} queued" if decision.sms else "",
            f", next call {call_log.when_text(next_attempt.due_at, self.calendar.tz)}"
            if next_attempt is not None
            else "",
        )
        return decision

    # -- SMS --------------------------------------------------------------------------------------

    async def queue_sms(
        self,
        session: AsyncSession,
        contact: Contact,
        request: CallbackRequest | None,
        kind: str,
        *,
        key: str,
        when: str = "",
    ) -> SmsOutbox:
        """Write the message in the caller's transaction; the sender delivers it within quiet hours."""
        now = self.clock.now()
        biz = self.settings.business
        body = render(
            kind,
            {
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "business": biz.name,
                "callback_number": biz.callback_number,
                "when": when,
            },
        )
        status, error = "queued", None
        if contact.sms_opted_out and kind not in ANSWERS_TO_THE_CONTACT:
            status, error = "cancelled", "the contact opted out of SMS"
        try:
            # Answers to the contact's own text go out at once; everything else waits for quiet hours.
            due = (
                now
                if kind in ANSWERS_TO_THE_CONTACT
                else next_allowed_slot(
                    now, calendar=self.sms_calendar, quiet=self.quiet, lead_e164=contact.phone
                ).at
            )
        except NoSlotError:
            due = now
        message = SmsOutbox(
            contact_id=contact.id,
            request_id=request.id if request is not None else None,
            kind=kind,
            to_phone=contact.phone,
            body=body,
            idempotency_key=f"{kind}:{request.id if request is not None else contact.id}:{key}",
            status=status,
            tries=0,
            next_try_at=due,
            error=error,
            created_at=now,
            updated_at=now,
        )
        session.add(message)
        await session.flush()
        await self._event(
            session, contact.id, "sms.queued", {"sms_id": message.id, "kind": kind, "status": status}
        )
        return message

    # -- by hand, or by a STOP --------------------------------------------------------------------

    async def cancel(
        self, session: AsyncSession, request_id: int, *, reason: str, by: str
    ) -> CallbackRequest:
        """Leave the module: no more calls, no status tag, stage "Callback cancelled"."""
        return await self._close_by_hand(
            session,
            request_id,
            status="cancelled",
            reason=reason,
            closable=(*OPEN_REQUEST_STATUSES, "incomplete"),
            note=("system", f"Callback cancelled by {by}: {reason}"),
            tag=None,
            tag_reason=reason,
        )

    async def complete_by_hand(
        self, session: AsyncSession, request_id: int, *, note: str, by: str
    ) -> CallbackRequest:
        return await self._close_by_hand(
            session,
            request_id,
            status="completed",
            reason=note,
            closable=(*OPEN_REQUEST_STATUSES, "incomplete"),
            note=("admin", f"Completed by {by}: {note}"),
            tag=Status.COMPLETE,
            tag_reason=f"completed by {by}",
        )

    async def _close_by_hand(
        self,
        session: AsyncSession,
        request_id: int,
        *,
        status: str,
        reason: str,
        closable: tuple[str, ...],
        note: tuple[str, str],
        tag: Status | None,
        tag_reason: str,
    ) -> CallbackRequest:
        now = self.clock.now()
        request = await session.get(CallbackRequest, request_id)
        if request is None:
            raise NotFound("no such callback request", request_id=request_id)
        if request.status not in closable:
            raise Conflict(f"the request is already {request.status}", request_id=request_id)
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        # Calls not started yet are dropped; one already ringing ends on its own and is recorded.
        await session.execute(
            update(Attempt)
            .where(Attempt.request_id == request.id, Attempt.status.in_(("scheduled", "claimed")))
            .values(status="cancelled", updated_at=now)
        )
        request.status, request.closed_at, request.close_reason = status, now, reason
        request.updated_at = now
        self._note(session, contact.id, request.id, *note)
        await self.router.set_status(session, contact, tag, now=now, request_id=request.id, reason=tag_reason)
        return request

    async def opt_out(self, session: AsyncSession, contact: Contact, *, via: str) -> None:
        """No more SMS; by default a STOP also cancels the contact's open callbacks."""
        now = self.clock.now()
        if not contact.sms_opted_out:
            contact.sms_opted_out, contact.sms_opted_out_at, contact.updated_at = True, now, now
            self._note(session, contact.id, None, "system", f"Opted out of SMS ({via})")
            await self._event(session, contact.id, "contact.opted_out", {"via": via})
        await session.execute(
            update(SmsOutbox)
            .where(SmsOutbox.contact_id == contact.id, SmsOutbox.status == "queued")
            .values(status="cancelled", error="the contact opted out of SMS", updated_at=now)
        )
        if self.settings.sms.cancel_calls_on_stop:
            open_ids = await session.scalars(
                select(CallbackRequest.id).where(
                    CallbackRequest.contact_id == contact.id,
                    CallbackRequest.status.in_(OPEN_REQUEST_STATUSES),
                )
            )
            for request_id in list(open_ids):
                await self.cancel(session, request_id, reason=f"opted out ({via})", by="the contact")

    async def opt_in(self, session: AsyncSession, contact: Contact, *, via: str) -> None:
        now = self.clock.now()
        if contact.sms_opted_out:
            contact.sms_opted_out, contact.sms_opted_out_at, contact.updated_at = False, None, now
            self._note(session, contact.id, None, "system", f"Opted in to SMS again ({via})")
            await self._event(session, contact.id, "contact.opted_in", {"via": via})

    # -- by hand, from the dashboard: call now, requeue --------------------------------------------

    def _slot_from_now(self, phone: str) -> Slot:
        """Now when a dial is allowed now, else the next allowed instant (the same rules as the worker's)."""
        now = self.clock.now()
        allowed, evidence = is_allowed(now, calendar=self.calendar, quiet=self.quiet, lead_e164=phone)
        if allowed:
            return Slot(at=now, evidence=evidence)
        try:
            return self._slot_after(now, phone)
        except NoSlotError as exc:
            raise Conflict(f"no allowed time to call: {exc.message}") from None

    async def call_now(self, session: AsyncSession, request_id: int, *, by: str) -> Attempt:
        """Move an open request's next attempt to now (or the next allowed instant): one attempt, not two."""
        now = self.clock.now()
        request = await session.get(CallbackRequest, request_id)
        if request is None:
            raise NotFound("no such callback request", request_id=request_id)
        if request.status not in OPEN_REQUEST_STATUSES:
            raise Conflict(f"the request is {request.status}; requeue it instead", request_id=request_id)
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        if await self.on_dnc(session, contact.phone):
            raise Conflict("this number is on the do-not-call list", request_id=request_id)
        attempt = await self.next_scheduled(session, request.id)
        if attempt is not None and attempt.status != "scheduled":
            raise Conflict("a call for this request is in progress", request_id=request_id)
        slot = self._slot_from_now(contact.phone)
        evidence = {**slot.evidence, "by_hand": by}
        if attempt is None:
            attempt = await self._schedule(session, request, Slot(at=slot.at, evidence=evidence), kind="lead")
        else:
            attempt.due_at, attempt.evidence, attempt.updated_at = slot.at, evidence, now
        request.updated_at = now
        when = "now" if slot.at <= now else f"at {slot.at.isoformat()} (the next allowed time)"
        self._note(session, contact.id, request.id, "admin", f"Call requested by {by}: {when}")
        return attempt

    async def requeue(self, session: AsyncSession, request_id: int, *, by: str) -> Attempt:
        """Reopen an incomplete request with one more attempt at the next allowed instant (Pending again)."""
        now = self.clock.now()
        request = await session.get(CallbackRequest, request_id)
        if request is None:
            raise NotFound("no such callback request", request_id=request_id)
        if request.status in OPEN_REQUEST_STATUSES:
            return await self.call_now(session, request_id, by=by)
        if request.status != "incomplete":
            raise Conflict(f"the request is already {request.status}", request_id=request_id)
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        if await self.on_dnc(session, contact.phone):
            raise Conflict("this number is on the do-not-call list", request_id=request_id)
        other_open = await session.scalar(
            select(CallbackRequest.id).where(
                CallbackRequest.contact_id == contact.id, CallbackRequest.status.in_(OPEN_REQUEST_STATUSES)
            )
        )
        if other_open is not None:
            raise Conflict("the contact has another open request", request_id=other_open)
        slot = self._slot_from_now(contact.phone)
        request.status, request.closed_at, request.close_reason = "pending", None, None
        request.updated_at = now
        self._note(session, contact.id, request.id, "admin", f"Requeued by {by}")
        await self.router.set_status(
            session, contact, Status.PENDING, now=now, request_id=request.id, reason=f"requeued by {by}"
        )
        return await self._schedule(
            session, request, Slot(at=slot.at, evidence={**slot.evidence, "by_hand": by}), kind="lead"
        )

    async def add_note(self, session: AsyncSession, contact_id: int, text: str, *, by: str) -> None:
        contact = await session.get(Contact, contact_id)
        if contact is None:
            raise NotFound("no such contact", contact_id=contact_id)
        self._note(session, contact.id, None, "admin", f"{by}: {text}")
        await self._event(session, contact.id, "note.added", {"by": by})
