"""A lead calls the business back: recognised, held as an attempt of kind ``return_call`` while it is live,
and its end applied (wf-1.3 when they talked; a message kept and an immediate attempt otherwise).

A live return call is a *running* attempt of the request: the database's one-call-per-admin index covers
the admin it rings (``uq_attempts_admin_one_call``), and an outbound attempt of the same request does not
start while it runs (``Attempts.begin``). It never counts as one of the lead's attempts. It holds no lease:
no worker claims or takes it over; a worker that starts again ends the return calls it left
(``end_abandoned``), so an admin is never held by a call that is gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.calendar import NoSlotError
from ..domain.return_calls import (
    RETURN_CALL_KIND,
    CallerRequest,
    ReturnCallEnd,
    ReturnOutcome,
    decide_after_return_call,
    within_hours,
)
from ..domain.statuses import (
    LEASED_ATTEMPT_STATUSES,
    OPEN_REQUEST_STATUSES,
    SENT_SMS_STATUSES,
    UNSENT_SMS_STATUSES,
    UNSTARTED_ATTEMPT_STATUSES,
    AttemptStatus,
    RequestStatus,
)
from ..domain.tags import Status
from ..store.models import Attempt, CallbackRequest, Contact, SmsOutbox
from ..store.requests import cancel_unstarted_attempts, contact_by_phone, next_attempt_number, on_dnc
from .context import Context
from .outreach import Outreach
from .tag_router import add_contact_event

log = logging.getLogger(__name__)
calls_log = logging.getLogger("callback.calls")


@dataclass(frozen=True)
class Caller:
    """A caller the store knows: their latest request, and who last spoke with them."""

    contact_id: int
    first_name: str
    last_name: str
    phone: str
    reason: str
    request: CallerRequest
    last_admin: str | None


class ReturnCalls:
    def __init__(self, ctx: Context, outreach: Outreach) -> None:
        self.ctx = ctx
        self.outreach = outreach

    async def find_caller(self, session: AsyncSession, phone: str) -> Caller | None:
        """The contact with this E.164 number and their latest request (an open one first)."""
        contact = await contact_by_phone(session, phone)
        if contact is None:
            return None
        requests = list(
            await session.scalars(
                select(CallbackRequest)
                .where(CallbackRequest.contact_id == contact.id)
                .order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
            )
        )
        if not requests:
            return None
        request = next((r for r in requests if r.status in OPEN_REQUEST_STATUSES), requests[0])
        last_admin = await session.scalar(
            select(Attempt.admin_name)
            .join(CallbackRequest, CallbackRequest.id == Attempt.request_id)
            .where(CallbackRequest.contact_id == contact.id, Attempt.admin_name.is_not(None))
            .order_by(Attempt.started_at.desc().nulls_last(), Attempt.id.desc())
            .limit(1)
        )
        return Caller(
            contact.id,
            contact.first_name,
            contact.last_name,
            contact.phone,
            request.reason,
            CallerRequest(request.id, RequestStatus(request.status), request.closed_at),
            last_admin,
        )

    async def begin(self, session: AsyncSession, request_id: int, *, app: str, caller: str) -> int:
        """The return call is live: a running attempt of the request, with no admin yet."""
        now = self.ctx.clock.now()
        request = await session.get(CallbackRequest, request_id)
        assert request is not None
        attempt = Attempt(
            request_id=request.id,
            number=await next_attempt_number(session, request.id),
            lead_attempt=request.lead_attempts_used,
            final=False,
            kind=RETURN_CALL_KIND,
            status=AttemptStatus.RUNNING,
            due_at=now,
            evidence={"inbound": {"caller": caller}},
            ari_app=app,
            started_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(attempt)
        await session.flush()
        await self.ctx.event(
            session,
            request.contact_id,
            "return_call.started",
            {"request_id": request.id, "attempt_id": attempt.id, "caller": caller},
        )
        return attempt.id

    async def outbound_running(self, session: AsyncSession, request_id: int) -> list[int]:
        """The request's outbound attempts on the phone now (claimed or running)."""
        rows = await session.scalars(
            select(Attempt.id).where(
                Attempt.request_id == request_id,
                Attempt.kind != RETURN_CALL_KIND,
                Attempt.status.in_(LEASED_ATTEMPT_STATUSES),
            )
        )
        return list(rows)

    async def any_running(self, session: AsyncSession, attempt_ids: list[int]) -> bool:
        found = await session.scalar(
            select(exists().where(Attempt.id.in_(attempt_ids), Attempt.status.in_(LEASED_ATTEMPT_STATUSES)))
        )
        return bool(found)

    async def take_admin(self, session: AsyncSession, attempt_id: int, admin: str) -> bool:
        """Give the admin to the return call unless a running call (any worker's) has them."""
        other = select(Attempt.id).where(
            Attempt.status == AttemptStatus.RUNNING, Attempt.admin_name == admin, Attempt.id != attempt_id
        )
        busy = await session.scalar(select(exists(other)))
        if busy:
            return False
        result = await session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.status == AttemptStatus.RUNNING)
            .values(admin_name=admin, updated_at=self.ctx.clock.now()),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(result, "rowcount", 0))

    async def release_admin(self, session: AsyncSession, attempt_id: int) -> None:
        """The admin did not accept: free for other calls while the return call tries the next one."""
        await session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id)
            .values(admin_name=None, updated_at=self.ctx.clock.now()),
            execution_options={"synchronize_session": False},
        )

    async def finish(self, session: AsyncSession, attempt_id: int, end: ReturnCallEnd) -> None:
        """Apply how the return call ended, in one transaction. Idempotent."""
        ctx = self.ctx
        now = ctx.clock.now()
        attempt = await session.get(Attempt, attempt_id)
        if attempt is None or attempt.status != AttemptStatus.RUNNING:
            return
        request = await session.get(CallbackRequest, attempt.request_id)
        assert request is not None
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        attempt.status, attempt.ended_at, attempt.updated_at = AttemptStatus.DONE, now, now
        attempt.outcome, attempt.outcome_detail = end.outcome.value, end.detail
        attempt.talk_seconds = end.talk_seconds
        attempt.admin_name = end.admin_name
        if end.message is not None:
            attempt.evidence = {**(attempt.evidence or {}), "message": end.message}
        request_open = request.status in OPEN_REQUEST_STATUSES
        may_call = not await on_dnc(session, contact.phone)
        follow = decide_after_return_call(end.outcome, request_open=request_open, may_call=may_call)
        ctx.note(
            session,
            contact.id,
            request.id,
            "system",
            f"Return call: the lead called ({end.outcome.value})"
            + (f" - {end.detail}" if end.detail else "")
            + f". {follow.note}",
        )
        # Other systems hear of it too (the webhooks), as of the status it may change.
        await add_contact_event(
            session,
            contact.id,
            "return_call.ended",
            {
                "request_id": request.id,
                "attempt_id": attempt.id,
                "outcome": end.outcome.value,
                "detail": end.detail,
                "talk_seconds": end.talk_seconds,
                "admin": end.admin_name,
                "message": bool(end.message),
            },
            now=now,
            webhook_urls=ctx.settings.webhooks.urls,
        )
        what = follow.note
        if follow.complete and request.status != RequestStatus.COMPLETED:
            # wf-1.3, as after an outbound call that connected: tag, stage, the thank-you, no more calls.
            await cancel_unstarted_attempts(session, request.id, now)
            if request.status != RequestStatus.CANCELLED:
                request.status, request.closed_at = RequestStatus.COMPLETED, now
                request.close_reason = "completed (the lead called back)"
                await ctx.router.set_status(
                    session, contact, Status.COMPLETE, now=now, request_id=request.id, reason="return_call"
                )
                if await self._thank_you_due(session, contact):
                    await self.outreach.queue_sms(
                        session, contact, request, "confirmation", key=f"{attempt.id}"
                    )
                else:
                    what += "; no thank-you SMS (one went to this number within the day)"
        elif follow.call_now:
            what += await self._call_now(session, request, contact)
        request.updated_at = now
        calls_log.info(
            "return call from %s %s ended: %s (%s) -> %s",
            contact.first_name,
            contact.last_name,
            end.outcome.value,
            end.detail or "no detail",
            what,
        )

    async def _thank_you_due(self, session: AsyncSession, contact: Contact) -> bool:
        now = self.ctx.clock.now()
        hours = self.ctx.settings.returns.thank_you_quiet_hours
        since = now - timedelta(hours=hours)
        recent = list(
            await session.scalars(
                select(SmsOutbox.created_at).where(
                    SmsOutbox.to_phone == contact.phone,
                    SmsOutbox.kind == "confirmation",
                    SmsOutbox.status.in_(SENT_SMS_STATUSES | UNSENT_SMS_STATUSES),
                    SmsOutbox.created_at >= since,
                )
            )
        )
        return not within_hours(recent, now, hours)

    async def _call_now(self, session: AsyncSession, request: CallbackRequest, contact: Contact) -> str:
        """The next attempt brought forward to the first allowed instant (or a new one if none is planned)."""
        ctx = self.ctx
        now = ctx.clock.now()
        try:
            slot = ctx.slot_after(now, contact.phone)
        except NoSlotError as exc:
            return f"; no allowed time to call back ({exc})"
        planned = await session.scalar(
            select(Attempt)
            .where(Attempt.request_id == request.id, Attempt.status.in_(UNSTARTED_ATTEMPT_STATUSES))
            .order_by(Attempt.due_at)
            .limit(1)
        )
        if planned is not None:
            if planned.due_at > slot.at:
                planned.due_at, planned.evidence, planned.updated_at = slot.at, slot.evidence, now
        else:
            planned = await ctx.schedule(session, request, slot, kind="lead")
            request.status = RequestStatus.PENDING
        return f"; calling back at {planned.due_at.isoformat(timespec='minutes')}"

    async def end_abandoned(self, session: AsyncSession, app: str) -> list[int]:
        """Return calls a previous life of this worker left running: ended, their admins freed."""
        ids = list(
            await session.scalars(
                select(Attempt.id).where(
                    Attempt.kind == RETURN_CALL_KIND,
                    Attempt.status == AttemptStatus.RUNNING,
                    Attempt.ari_app == app,
                )
            )
        )
        for attempt_id in ids:
            await self.finish(
                session,
                attempt_id,
                ReturnCallEnd(ReturnOutcome.SYSTEM_ERROR, "the worker stopped during the return call"),
            )
        return ids
