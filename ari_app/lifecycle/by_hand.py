"""What an admin does to a request from the dashboard besides closing it: call now, requeue, a note."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.calendar import NoSlotError, Slot, is_allowed
from ..domain.statuses import OPEN_REQUEST_STATUSES, AttemptStatus, RequestStatus
from ..domain.tags import Status
from ..errors import Conflict, NotFound
from ..store.models import Attempt, CallbackRequest, Contact
from ..store.requests import next_scheduled, on_dnc, open_request
from .context import Context


class ByHand:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _slot_from_now(self, phone: str) -> Slot:
        """Now when a dial is allowed now, else the next allowed instant (the same rules as the worker's)."""
        ctx = self.ctx
        now = ctx.clock.now()
        allowed, evidence = is_allowed(now, calendar=ctx.calendar, quiet=ctx.quiet, lead_e164=phone)
        if allowed:
            return Slot(at=now, evidence=evidence)
        try:
            return ctx.slot_after(now, phone)
        except NoSlotError as exc:
            raise Conflict(f"no allowed time to call: {exc.message}") from None

    async def _request_to_call(
        self, session: AsyncSession, request_id: int
    ) -> tuple[CallbackRequest, Contact]:
        request = await session.get(CallbackRequest, request_id)
        if request is None:
            raise NotFound("no such callback request", request_id=request_id)
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        return request, contact

    async def call_now(self, session: AsyncSession, request_id: int, *, by: str) -> Attempt:
        """Move an open request's next attempt to now (or the next allowed instant): one attempt, not two."""
        now = self.ctx.clock.now()
        request, contact = await self._request_to_call(session, request_id)
        if request.status not in OPEN_REQUEST_STATUSES:
            raise Conflict(f"the request is {request.status}; requeue it instead", request_id=request_id)
        if await on_dnc(session, contact.phone):
            raise Conflict("this number is on the do-not-call list", request_id=request_id)
        attempt = await next_scheduled(session, request.id)
        if attempt is not None and attempt.status != AttemptStatus.SCHEDULED:
            raise Conflict("a call for this request is in progress", request_id=request_id)
        slot = self._slot_from_now(contact.phone)
        evidence = {**slot.evidence, "by_hand": by}
        if attempt is None:
            attempt = await self.ctx.schedule(
                session, request, Slot(at=slot.at, evidence=evidence), kind="lead"
            )
        else:
            attempt.due_at, attempt.evidence, attempt.updated_at = slot.at, evidence, now
        request.updated_at = now
        when = "now" if slot.at <= now else f"at {slot.at.isoformat()} (the next allowed time)"
        self.ctx.note(session, contact.id, request.id, "admin", f"Call requested by {by}: {when}")
        return attempt

    async def requeue(self, session: AsyncSession, request_id: int, *, by: str) -> Attempt:
        """Reopen an incomplete request with one more attempt at the next allowed instant (Pending again)."""
        now = self.ctx.clock.now()
        request, contact = await self._request_to_call(session, request_id)
        if request.status in OPEN_REQUEST_STATUSES:
            return await self.call_now(session, request_id, by=by)
        if request.status != RequestStatus.INCOMPLETE:
            raise Conflict(f"the request is already {request.status}", request_id=request_id)
        if await on_dnc(session, contact.phone):
            raise Conflict("this number is on the do-not-call list", request_id=request_id)
        other_open = await open_request(session, contact.id)
        if other_open is not None:
            raise Conflict("the contact has another open request", request_id=other_open.id)
        slot = self._slot_from_now(contact.phone)
        request.status, request.closed_at, request.close_reason = RequestStatus.PENDING, None, None
        request.updated_at = now
        self.ctx.note(session, contact.id, request.id, "admin", f"Requeued by {by}")
        await self.ctx.router.set_status(
            session, contact, Status.PENDING, now=now, request_id=request.id, reason=f"requeued by {by}"
        )
        return await self.ctx.schedule(
            session, request, Slot(at=slot.at, evidence={**slot.evidence, "by_hand": by}), kind="lead"
        )

    async def add_note(self, session: AsyncSession, contact_id: int, text: str, *, by: str) -> None:
        contact = await session.get(Contact, contact_id)
        if contact is None:
            raise NotFound("no such contact", contact_id=contact_id)
        self.ctx.note(session, contact.id, None, "admin", f"{by}: {text}")
        await self.ctx.event(session, contact.id, "note.added", {"by": by})
