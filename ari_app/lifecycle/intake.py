"""wf-1.1: a callback request arrives. Store it, merge it into the number's open one, or replay the answer
given to the same Idempotency-Key; the first call is planned here."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ..domain.calendar import Slot, first_call_at, is_allowed
from ..domain.preferred_time import SlotDay, check_preferred_time, offered_slots, parse_zone
from ..domain.statuses import OPEN_REQUEST_STATUSES, AttemptStatus, RequestStatus
from ..domain.tags import Status
from ..domain.workflow import attempt_is_final
from ..errors import Conflict, RateLimited, ValidationFailed
from ..logs import call_log
from ..store import intake as store
from ..store.models import (
    Attempt,
    CallbackRequest,
    Consent,
    Contact,
    ContactEvent,
    IdempotencyKey,
    Note,
)
from ..store.queued import Topic, mark
from ..store.requests import next_scheduled, open_request
from ..store.rows import attempt_row
from .context import Context
from .intake_rows import IntakeData, contact_row, request_row, request_rows

_OFFERED_KEPT = 512  # the form's time choices kept (per minute, zone and number): a bounded cache


@dataclass(frozen=True)
class IntakeResult:
    status_code: int  # 201 created, 200 merged into an open request
    body: dict[str, Any]


class Intake:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._offered: dict[tuple[datetime, str, str | None], list[SlotDay]] = {}

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
        now = self.ctx.clock.now()
        same = [data.first_name, data.last_name, data.phone, data.reason]
        if data.preferred_at is not None:  # only then: keys stored before this field replay as before
            same.append(data.preferred_at.astimezone(UTC).isoformat())
        fingerprint = hashlib.sha256(json.dumps(same, ensure_ascii=False).encode()).hexdigest()
        if idempotency_key is not None:
            seen = await session.get(IdempotencyKey, idempotency_key)
            if seen is not None:
                if seen.request_fingerprint != fingerprint:
                    raise Conflict("this Idempotency-Key was used for a different request")
                return IntakeResult(seen.status_code, seen.response)
        on_dnc, contact_id = await store.dnc_and_contact(session, data.phone)
        if contact_id is not None and daily_limit > 0:  # a number never seen has made no request
            await self._limit_number(session, data.phone, daily_limit, now)
        if on_dnc:
            raise ValidationFailed("this number can't be called", field="phone", code="do_not_call")
        chosen = self._chosen_slot(data, now)  # a refused time is refused before anything is written
        if contact_id is None:
            slot = chosen or self._first_slot(data.phone, now)
            result = await session.run_sync(self._write_first_request, data, now, slot)
        else:
            result = await self._submit_known(session, contact_id, data, now, chosen)
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

    def _first_slot(self, phone: str, now: datetime) -> Slot:
        ctx = self.ctx
        delay = ctx.settings.calendar.first_call_delay
        return first_call_at(
            now, calendar=ctx.calendar, quiet=ctx.quiet, lead_e164=phone, delay_seconds=delay
        )

    def offered_times(self, zone: ZoneInfo, phone: str | None) -> list[SlotDay]:
        """The times the form offers now, shown in ``zone``; allowed for ``phone`` (E.164) when it is known,
        else for a lead of the business's region in ``zone``.

        Kept for the rest of the clock's minute (bench/offered_slots.py: about 1 ms to compute, several
        times an "as soon as possible" slot; every form page asks): a time offered a few seconds too soon
        is still checked when the form is sent."""
        ctx = self.ctx
        now = ctx.clock.now()
        key = (now.replace(second=0, microsecond=0), zone.key, phone)
        found = self._offered.get(key)
        if found is None:
            if len(self._offered) >= _OFFERED_KEPT:
                self._offered.clear()
            found = offered_slots(
                key[0],
                calendar=ctx.calendar,
                quiet=ctx.quiet,
                zone=zone,
                lead_e164=phone,
                region=ctx.settings.business.region,
            )
            self._offered[key] = found
        return found

    def _chosen_slot(self, data: IntakeData, now: datetime) -> Slot | None:
        """The slot at the time the lead chose (``PreferredTimeRefused`` when we can't call then), or None
        for "as soon as possible"."""
        if data.preferred_at is None:
            return None
        ctx = self.ctx
        return check_preferred_time(
            data.preferred_at,
            now,
            calendar=ctx.calendar,
            quiet=ctx.quiet,
            lead_e164=data.phone,
            zone=parse_zone(data.preferred_tz),
        )

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
        ctx = self.ctx
        if data.preferred_at is not None:
            call_log.request_received(name, data.phone, at, ctx.calendar.tz, "the time the lead chose")
            return

        def check(when: datetime) -> tuple[bool, dict[str, Any]]:
            return is_allowed(when, calendar=ctx.calendar, quiet=ctx.quiet, lead_e164=data.phone)

        inside, evidence = check(now)
        delay = ctx.settings.calendar.first_call_delay if inside else 0.0
        earliest = now + timedelta(seconds=delay)
        blocked = None if at <= earliest else (check(earliest)[1] if inside else evidence)
        why = call_log.plan_reason({"delay_seconds": delay}, at, blocked)
        call_log.request_received(name, data.phone, at, ctx.calendar.tz, why)

    async def _limit_number(self, session: AsyncSession, phone: str, limit: int, now: datetime) -> None:
        rows = await store.open_or_recent_requests(session, phone, now - timedelta(days=1))
        if any(status in OPEN_REQUEST_STATUSES for status, _ in rows):
            return  # it will be merged into the open request: nobody is called twice
        if len(rows) >= limit:
            oldest = min(created for _, created in rows)
            retry = max(1.0, (oldest + timedelta(days=1) - now).total_seconds() / self.ctx.clock.speed)
            raise RateLimited(
                "too many callback requests for this number today",
                field="phone",
                retry_after=math.ceil(retry),
            )

    async def _submit_known(
        self, session: AsyncSession, contact_id: int, data: IntakeData, now: datetime, chosen: Slot | None
    ) -> IntakeResult:
        """A number we know: merge into its open request, or open a new one."""
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        merge_into = await open_request(session, contact.id)
        if merge_into is not None:
            text = f"Another callback request while one is open (merged, no second call): {data.reason}"
            nxt = await next_scheduled(session, merge_into.id)
            if chosen is not None:
                moved = nxt is not None and await self._move_to_chosen(session, merge_into, nxt, chosen, data)
                text += f" (asked for {chosen.at.isoformat()}; "
                text += "the next call moves there)" if moved else "a call is under way, the plan stays)"
            self.ctx.note(session, contact.id, merge_into.id, "merge", text)
            await self.ctx.event(
                session, contact.id, "request.merged", {"request_id": merge_into.id, "reason": data.reason}
            )
            result = IntakeResult(200, _body(merge_into, nxt, merged=True))
        else:
            slot = chosen or self._first_slot(contact.phone, now)
            result = await self._create_request(session, contact, data, now, slot)
        await session.flush()
        return result

    async def _move_to_chosen(
        self, session: AsyncSession, request: CallbackRequest, nxt: Attempt, chosen: Slot, data: IntakeData
    ) -> bool:
        """A merged request that chose a time: the open request's next call moves there, when it has not
        been claimed yet (a conditional update: a worker that claimed it first wins, and its call goes on)."""
        now = self.ctx.clock.now()
        moved = await session.execute(
            update(Attempt)
            .where(Attempt.id == nxt.id, Attempt.status == AttemptStatus.SCHEDULED)
            .values(due_at=chosen.at, evidence=chosen.evidence, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not getattr(moved, "rowcount", 0):
            return False
        await session.refresh(nxt)
        request.preferred_at, request.preferred_tz = chosen.at, data.preferred_tz
        request.updated_at = now
        return True

    def _write_first_request(
        self, session: Session, data: IntakeData, now: datetime, slot: Slot
    ) -> IntakeResult:
        """``_create_request`` for a number never seen, with the same rows, written as Core inserts: two
        inserts that return ids, then one batch per table (profiled: the ORM's flushes were ~60 % of an
        intake's CPU). Synchronous, on the session's connection, in one greenlet (``run_sync``): each
        statement still waits for the driver, but without a greenlet and an ORM execute of its own around
        it (measured: -10-15 %)."""
        conn = session.connection()
        router = self.ctx.router
        change = router.first_status(Status.PENDING)
        contact_id = store.insert_contact(conn, contact_row(data, change.stage, now))
        request_id = store.insert_request(conn, request_row(contact_id, data, now))
        consent, note, created = request_rows(contact_id, request_id, data, now)
        tags, tag_note, tag_event = router.status_rows(
            contact_id,
            Status.PENDING,
            change,
            (),
            None,
            now=now,
            request_id=request_id,
            reason="callback requested",
        )
        attempt_id = store.insert_request_rows(
            conn,
            consent=consent,
            notes=[note, tag_note],
            events=[created, tag_event],
            deliveries=(lambda event_id: router.delivery_rows(event_id, now=now))
            if router.webhook_urls
            else None,
            tags=tags,
            attempt=attempt_row(
                request_id,
                number=1,
                lead_attempt=1,
                final=attempt_is_final(0, self.ctx.policy),
                kind="lead",
                due_at=slot.at,
                evidence=slot.evidence,
                now=now,
            ),
        )
        # Core inserts: the session's commit hook can't see these rows, so say what they queued.
        mark(session, Topic.ATTEMPTS, slot.at, ids=(attempt_id,))
        if router.webhook_urls:
            mark(session, Topic.WEBHOOKS, now)
        body = {"id": request_id, "contact_id": contact_id, "status": RequestStatus.PENDING, "merged": False}
        return IntakeResult(201, {**body, "planned_at": slot.at.isoformat()})

    async def _create_request(
        self, session: AsyncSession, contact: Contact, data: IntakeData, now: datetime, slot: Slot
    ) -> IntakeResult:
        if contact.first_name != data.first_name or contact.last_name != data.last_name:
            contact.first_name, contact.last_name = data.first_name, data.last_name
        contact.updated_at = now
        request = CallbackRequest(**request_row(contact.id, data, now))
        session.add(request)
        await session.flush()
        consent, note, created = request_rows(contact.id, request.id, data, now)
        session.add_all([Consent(**consent), Note(**note), ContactEvent(**created)])
        await self.ctx.router.set_status(
            session, contact, Status.PENDING, now=now, request_id=request.id, reason="callback requested"
        )
        attempt = await self.ctx.schedule(session, request, slot, kind="lead")
        return IntakeResult(201, _body(request, attempt, merged=False))


def _body(request: CallbackRequest, attempt: Attempt | None, *, merged: bool) -> dict[str, Any]:
    return {
        "id": request.id,
        "contact_id": request.contact_id,
        "status": request.status,
        "merged": merged,
        "planned_at": attempt.due_at.isoformat() if attempt is not None else None,
    }
