"""A request leaves the module by hand, by a STOP, by the lead ("no longer needed") or by the do-not-call
list: cancelled or completed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.statuses import CLOSABLE_REQUEST_STATUSES, RequestStatus
from ..domain.tags import Status
from ..errors import Conflict, NotFound
from ..store.models import CallbackRequest, Contact
from ..store.requests import cancel_unstarted_attempts
from .context import Context

# The closing reason of a request the lead called off (``callback_requests.close_reason``).
CANCELLED_BY_LEAD = "cancelled by lead"


class Closing:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def cancel(
        self, session: AsyncSession, request_id: int, *, reason: str, by: str
    ) -> CallbackRequest:
        """Leave the module: no more calls, no status tag, stage "Callback cancelled"."""
        note = ("system", f"Callback cancelled by {by}: {reason}")
        return await self._close(session, request_id, RequestStatus.CANCELLED, reason, note, None, reason)

    async def cancel_by_lead(self, session: AsyncSession, request_id: int, *, said: str) -> CallbackRequest:
        """The lead texted that the callback is no longer needed: no more calls, no status tag (it is not
        *Complete*: nobody talked), stage "Cancelled by lead", closing reason ``cancelled by lead``."""
        note = ("system", f"Callback cancelled by the lead by SMS: {said}")
        return await self._close(
            session,
            request_id,
            RequestStatus.CANCELLED,
            CANCELLED_BY_LEAD,
            note,
            None,
            "cancelled by the lead by SMS",
            by_lead=True,
        )

    async def complete_by_hand(
        self, session: AsyncSession, request_id: int, *, note: str, by: str
    ) -> CallbackRequest:
        """Marked completed by an admin, with a note: no more calls, status tag Complete."""
        admin_note = ("admin", f"Completed by {by}: {note}")
        return await self._close(
            session,
            request_id,
            RequestStatus.COMPLETED,
            note,
            admin_note,
            Status.COMPLETE,
            f"completed by {by}",
        )

    async def _close(
        self,
        session: AsyncSession,
        request_id: int,
        status: str,
        reason: str,
        note: tuple[str, str],
        tag: Status | None,
        tag_reason: str,
        *,
        by_lead: bool = False,
    ) -> CallbackRequest:
        """Close the request as ``status``; ``note`` (kind, text) on the timeline; ``tag`` its status tag."""
        now = self.ctx.clock.now()
        request = await session.get(CallbackRequest, request_id)
        if request is None:
            raise NotFound("no such callback request", request_id=request_id)
        if request.status not in CLOSABLE_REQUEST_STATUSES:
            raise Conflict(f"the request is already {request.status}", request_id=request_id)
        contact = await session.get(Contact, request.contact_id)
        assert contact is not None
        await cancel_unstarted_attempts(session, request.id, now)
        request.status, request.closed_at, request.close_reason = status, now, reason
        request.updated_at = now
        self.ctx.note(session, contact.id, request.id, *note)
        await self.ctx.router.set_status(
            session, contact, tag, now=now, request_id=request.id, reason=tag_reason, by_lead=by_lead
        )
        return request
