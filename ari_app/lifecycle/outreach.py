"""What we text the contact, and whether we may: the SMS outbox, opt-out (STOP) and opt-in (START).

A message is written in the caller's transaction; the sender (``scheduler/sms_sender.py``) delivers it within
quiet hours.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.calendar import NoSlotError, next_allowed_slot
from ..domain.statuses import SmsStatus
from ..sms.templates import render
from ..store.models import CallbackRequest, Contact, SmsOutbox
from ..store.outbox import cancel_queued
from ..store.requests import open_request_ids
from ..store.rows import Row
from .closing import Closing
from .context import Context

# Replies to what the contact texted us: sent even after an opt-out (the STOP confirmation, HELP).
ANSWERS_TO_THE_CONTACT = ("opt_out_confirmation", "help")
_OPTED_OUT = "the contact opted out of SMS"


def queued_event(sms_id: int, kind: str, status: str) -> dict[str, Any]:
    """The data of a message's ``sms.queued`` event."""
    return {"sms_id": sms_id, "kind": kind, "status": status}


class Outreach:
    def __init__(self, ctx: Context, closing: Closing) -> None:
        self.ctx = ctx
        self.closing = closing

    async def queue_sms(
        self,
        session: AsyncSession,
        contact: Contact,
        request: CallbackRequest | None,
        kind: str,
        *,
        key: str,
        when: str = "",
        zone: str = "",
    ) -> SmsOutbox:
        """Write the message in the caller's transaction; the sender delivers it within quiet hours."""
        message = SmsOutbox(**self.sms_row(contact, request, kind, key=key, when=when, zone=zone))
        session.add(message)
        await session.flush()
        await self.ctx.event(
            session, contact.id, "sms.queued", queued_event(message.id, kind, message.status)
        )
        return message

    def sms_row(
        self,
        contact: Contact,
        request: CallbackRequest | None,
        kind: str,
        *,
        key: str,
        when: str = "",
        zone: str = "",
    ) -> Row:
        """The outbox row of a message (``queue_sms`` writes it; an attempt's end inserts it with its other
        rows, then its ``sms.queued`` event: ``queued_event``)."""
        ctx = self.ctx
        now = ctx.clock.now()
        biz = ctx.settings.business
        body = render(
            kind,
            {
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "business": biz.name,
                "callback_number": biz.callback_number,
                "when": when,
                "zone": zone,
            },
        )
        status, error = SmsStatus.QUEUED, None
        if contact.sms_opted_out and kind not in ANSWERS_TO_THE_CONTACT:
            status, error = SmsStatus.CANCELLED, _OPTED_OUT
        try:
            # Answers to the contact's own text go out at once; everything else waits for quiet hours.
            due = (
                now
                if kind in ANSWERS_TO_THE_CONTACT
                else next_allowed_slot(
                    now, calendar=ctx.sms_calendar, quiet=ctx.quiet, lead_e164=contact.phone
                ).at
            )
        except NoSlotError:
            due = now
        return {
            "contact_id": contact.id,
            "request_id": request.id if request is not None else None,
            "kind": kind,
            "to_phone": contact.phone,
            "body": body,
            "idempotency_key": f"{kind}:{request.id if request is not None else contact.id}:{key}",
            "status": status,
            "tries": 0,
            "next_try_at": due,
            "error": error,
            "created_at": now,
            "updated_at": now,
        }

    async def opt_out(self, session: AsyncSession, contact: Contact, *, via: str) -> None:
        """No more SMS; by default a STOP also cancels the contact's open callbacks."""
        now = self.ctx.clock.now()
        if not contact.sms_opted_out:
            contact.sms_opted_out, contact.sms_opted_out_at, contact.updated_at = True, now, now
            self.ctx.note(session, contact.id, None, "system", f"Opted out of SMS ({via})")
            await self.ctx.event(session, contact.id, "contact.opted_out", {"via": via})
        await cancel_queued(session, contact.id, _OPTED_OUT, now)
        if self.ctx.settings.sms.cancel_calls_on_stop:
            for request_id in await open_request_ids(session, contact.id):
                await self.closing.cancel(session, request_id, reason=f"opted out ({via})", by="the contact")

    async def opt_in(self, session: AsyncSession, contact: Contact, *, via: str) -> None:
        now = self.ctx.clock.now()
        if contact.sms_opted_out:
            contact.sms_opted_out, contact.sms_opted_out_at, contact.updated_at = False, None, now
            self.ctx.note(session, contact.id, None, "system", f"Opted in to SMS again ({via})")
            await self.ctx.event(session, contact.id, "contact.opted_in", {"via": via})
