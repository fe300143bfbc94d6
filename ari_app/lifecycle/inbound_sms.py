"""What the contact's texts and the gateways' delivery reports do (the web hooks only parse and answer).

What an inbound text does:
- STOP → the contact opts out (and, by default, its open callbacks are cancelled); when WE must confirm
  opt-outs (Kannel: a raw SMSC doesn't) one ``opt_out_confirmation`` is queued per contact per day
  (idempotency key ``opt_out_confirmation:{contact}:{YYYY-MM-DD}`` in UTC): Kannel gives us no message id,
  and a person who sends STOP twice should not get two confirmations.
- START → opt in again; HELP → one ``help`` text per contact per day (where we confirm opt-outs too: hosted
  providers answer HELP themselves).
- "no longer needed", "all sorted", "cancel my callback" … → the request is cancelled by the lead (no status
  tag, stage "Cancelled by lead", closing reason ``cancelled by lead``), confirmed once per request.
- A time ("tomorrow at 3", "after 5": ``domain/when.py``, in the lead's zone) → the request's next call moves
  there, clamped into the calendar and quiet hours; a request that ran out of calls, or that the lead
  cancelled, is opened again with one call. One confirmation names the time in the lead's zone, once per
  time asked for. Tag *Pending* (the lead is waiting for a call they chose) and a ``request.rescheduled``
  event for the webhooks.
- Anything else → one ``reply_help`` (what works) per request per day, and none at all when the last text
  we sent them was that same help: an auto-responder answering it is not answered again.
Every text is a note on the timeline, and what we understood of it a ``sms.understood`` event. An unknown
sender is ignored. The caller owns the session and commits.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.calendar import NoSlotError, Slot
from ..domain.phone import PhoneError, normalise_phone, timezones_of
from ..domain.statuses import (
    CLOSABLE_REQUEST_STATUSES,
    UNSENT_SMS_STATUSES,
    AttemptStatus,
    RequestStatus,
    SmsStatus,
)
from ..domain.tags import Status
from ..domain.text import clean_text
from ..domain.when import Wish, understand_time, wish_slot
from ..domain.workflow import missed_call_when_text
from ..sms.gateway import DeliveryReport, InboundSms
from ..sms.replies import ReplyKind, classify_reply
from ..store import dnc
from ..store.models import Attempt, CallbackRequest, Contact, Note, SmsOutbox
from ..store.outbox import key_used, message_with_key
from ..store.requests import contact_by_phone, next_scheduled, on_dnc, open_request
from ..store.rows import note_row
from .closing import CANCELLED_BY_LEAD, Closing
from .context import Context
from .outreach import Outreach

log = logging.getLogger(__name__)

REPLY_MAX = 1600

# Where a report may move a message: never back from delivered; "queued" (buffered at the SMSC) is no news.
_MOVES: dict[SmsStatus, frozenset[SmsStatus]] = {
    SmsStatus.SENT: UNSENT_SMS_STATUSES,
    SmsStatus.DELIVERED: UNSENT_SMS_STATUSES | {SmsStatus.SENT, SmsStatus.FAILED},
    SmsStatus.FAILED: UNSENT_SMS_STATUSES | {SmsStatus.SENT},
}


class SmsInbound:
    def __init__(self, ctx: Context, outreach: Outreach, closing: Closing) -> None:
        self.ctx = ctx
        self.outreach = outreach
        self.closing = closing

    def _sender_candidates(self, raw: str) -> list[str]:
        """E.164 forms the sender may be: as given, or digits that already include the country code."""
        business = self.ctx.settings.business
        out = []
        for candidate in (raw, "+" + raw if raw.isdigit() else None):
            if candidate is None:
                continue
            try:
                out.append(
                    normalise_phone(
                        candidate, default_region=business.region, allowed_regions=business.allowed_regions
                    )
                )
            except PhoneError:
                continue
        return out

    async def _queue_once(self, session: AsyncSession, contact: Contact, kind: str) -> bool:
        day = self.ctx.clock.now().date().isoformat()
        if await key_used(session, f"{kind}:{contact.id}:{day}"):
            return False
        await self.outreach.queue_sms(session, contact, None, kind, key=day)
        return True

    async def text_received(
        self, session: AsyncSession, sms: InboundSms, *, gateway: str, we_confirm: bool
    ) -> ReplyKind | None:
        """Do what an inbound text asks; None when the sender is not a contact of ours. ``we_confirm``: we
        answer STOP and HELP ourselves (the gateway doesn't)."""
        ctx = self.ctx
        contact = None
        for phone in self._sender_candidates(sms.from_phone.strip()):
            contact = await contact_by_phone(session, phone)
            if contact is not None:
                break
        if contact is None:
            log.info("inbound SMS via %s from an unknown sender ignored", gateway)
            return None
        kind = classify_reply(sms.text)
        if kind is ReplyKind.stop:
            await self.outreach.opt_out(session, contact, via="sms")
            if ctx.settings.sms.dnc_on_stop:
                now = ctx.clock.now()
                await dnc.add_number(session, contact.phone, reason="STOP by SMS", source="sms-stop", now=now)
            if we_confirm:
                await self._queue_once(session, contact, "opt_out_confirmation")
        elif kind is ReplyKind.start:
            await self.outreach.opt_in(session, contact, via="sms")
        elif kind is ReplyKind.help:
            # Hosted providers answer HELP at the network level, like STOP: we answer only where they don't.
            if we_confirm:
                await self._queue_once(session, contact, "help")
        else:
            now = ctx.clock.now()
            text = clean_text(sms.text)[:REPLY_MAX]
            session.add(Note(**note_row(contact.id, None, "sms_reply", f"SMS reply: {text}", now)))
            await ctx.event(session, contact.id, "sms.received", {"text": text, "via": gateway})
            if kind is ReplyKind.cancel_request:
                await self._lead_cancels(session, contact, text)
            else:
                await self._read_reply(session, contact, text)
        return kind

    # -- what a reply asks of the callback ---------------------------------------------------------------

    async def _understood(
        self, session: AsyncSession, contact: Contact, request: CallbackRequest | None, data: dict[str, Any]
    ) -> None:
        await self.ctx.event(
            session,
            contact.id,
            "sms.understood",
            {"request_id": request.id if request is not None else None, **data},
        )

    async def _latest_request(self, session: AsyncSession, contact: Contact) -> CallbackRequest | None:
        return await session.scalar(
            select(CallbackRequest)
            .where(CallbackRequest.contact_id == contact.id)
            .order_by(CallbackRequest.id.desc())
            .limit(1)
        )

    async def _lead_cancels(self, session: AsyncSession, contact: Contact, text: str) -> None:
        """ "No longer needed": the open request (or one that ran out of calls) is cancelled by the lead."""
        request = await open_request(session, contact.id) or await self._latest_request(session, contact)
        if request is None or request.status not in CLOSABLE_REQUEST_STATUSES:
            await self._understood(session, contact, request, {"meaning": "cancel", "applied": False})
            return
        await self.closing.cancel_by_lead(session, request.id, said=text)
        await self._understood(session, contact, request, {"meaning": "cancel", "applied": True})
        if not await key_used(session, f"cancel_confirmation:{request.id}:once"):
            await self.outreach.queue_sms(session, contact, request, "cancel_confirmation", key="once")

    async def _request_to_move(self, session: AsyncSession, contact: Contact) -> CallbackRequest | None:
        """The open request; else the latest one if it ran out of calls or the lead cancelled it (a time
        texted then asks for one more call). Requests completed, or cancelled by a STOP or an admin, stay
        closed."""
        request = await open_request(session, contact.id)
        if request is not None:
            return request
        latest = await self._latest_request(session, contact)
        if latest is None:
            return None
        reopenable = latest.status == RequestStatus.INCOMPLETE or (
            latest.status == RequestStatus.CANCELLED and latest.close_reason == CANCELLED_BY_LEAD
        )
        return latest if reopenable else None

    async def _read_reply(self, session: AsyncSession, contact: Contact, text: str) -> None:
        """A time moves the request's next call; anything else gets the help (once)."""
        ctx = self.ctx
        now = ctx.clock.now()
        request = await self._request_to_move(session, contact)
        lead_tz = ZoneInfo(timezones_of(contact.phone)[0])
        wish = understand_time(text, now=now, tz=lead_tz)
        if wish is None:
            await self._understood(session, contact, request, {"meaning": "nothing"})
            request_id = request.id if request is not None else None
            ctx.note(
                session, contact.id, request_id, "system", "The reply was not read as a time or a cancel"
            )
            if request is not None:
                await self._help_once(session, contact, request)
            return
        if request is None:
            await self._not_moved(session, contact, None, wish, "there is no callback to move")
            return
        if await on_dnc(session, contact.phone):
            await self._not_moved(session, contact, request, wish, "the number is on the do-not-call list")
            return
        try:
            slot = wish_slot(wish, calendar=ctx.calendar, quiet=ctx.quiet, lead_e164=contact.phone)
        except NoSlotError:
            await self._not_moved(session, contact, request, wish, "no allowed time after it")
            await self._help_once(session, contact, request)
            return
        attempt = await next_scheduled(session, request.id)
        if attempt is not None and attempt.status != AttemptStatus.SCHEDULED:
            # A worker holds it (the call is starting or ringing): never pull a call from under it.
            await self._not_moved(session, contact, request, wish, "a call was starting")
            return
        await self._move(session, contact, request, attempt, wish, slot, lead_tz)

    async def _not_moved(
        self,
        session: AsyncSession,
        contact: Contact,
        request: CallbackRequest | None,
        wish: Wish,
        why: str,
    ) -> None:
        data = {"meaning": "time", **wish.to_json(), "applied": False, "why": why}
        await self._understood(session, contact, request, data)
        request_id = request.id if request is not None else None
        self.ctx.note(
            session,
            contact.id,
            request_id,
            "system",
            f"Time texted ({wish.understood!r}), not applied: {why}",
        )

    async def _move(
        self,
        session: AsyncSession,
        contact: Contact,
        request: CallbackRequest,
        attempt: Attempt | None,
        wish: Wish,
        slot: Slot,
        lead_tz: ZoneInfo,
    ) -> None:
        """The next call moves to ``slot`` (or, for a request that had none left, one more call is set
        there); the timeline, the tag router, the webhooks and the lead hear of it."""
        ctx = self.ctx
        now = ctx.clock.now()
        previous = attempt.due_at if attempt is not None else None
        reopened = attempt is None
        if attempt is None:
            request.status, request.closed_at, request.close_reason = RequestStatus.PENDING, None, None
            attempt = await ctx.schedule(session, request, slot, kind="lead")
        else:
            attempt.due_at, attempt.evidence, attempt.updated_at = slot.at, slot.evidence, now
        request.updated_at = now
        when = missed_call_when_text(slot.at, lead_tz.key, now)
        zone = slot.at.astimezone(lead_tz).tzname() or ""
        moved = f"next call {'set' if reopened else 'moved'} to {when} ({zone}, lead's time)"
        ctx.note(
            session,
            contact.id,
            request.id,
            "system",
            f"The lead asked by SMS for {wish.understood!r}: {moved}",
        )
        await self._understood(
            session, contact, request, {"meaning": "time", **wish.to_json(), "applied": True}
        )
        data = {
            "request_id": request.id,
            "attempt_id": attempt.id,
            "asked": wish.understood,
            "asked_for": wish.earliest.isoformat(),
            "due_at": slot.at.isoformat(),
            "previous_due_at": previous.isoformat() if previous is not None else None,
            "reopened": reopened,
            "at": now.isoformat(),
        }
        await ctx.router.publish(session, contact.id, "request.rescheduled", data, now=now)
        await ctx.router.set_status(
            session, contact, Status.PENDING, now=now, request_id=request.id, reason="rescheduled by the lead"
        )
        # Kannel carries the key in the delivery-report URL: letters, digits and ":" only (no "+00:00").
        key = f"{attempt.id}:{slot.at.astimezone(UTC):%Y%m%dT%H%MZ}"
        if not await key_used(session, f"reschedule_confirmation:{request.id}:{key}"):
            await self.outreach.queue_sms(
                session, contact, request, "reschedule_confirmation", key=key, when=when, zone=zone
            )

    async def _help_once(self, session: AsyncSession, contact: Contact, request: CallbackRequest) -> None:
        """What works, at most once per request per day (UTC), and never in answer to our own help: an
        auto-responder replying to it would get it again, and again."""
        ctx = self.ctx
        last_kind = await session.scalar(
            select(SmsOutbox.kind)
            .where(SmsOutbox.contact_id == contact.id)
            .order_by(SmsOutbox.id.desc())
            .limit(1)
        )
        if last_kind == "reply_help":
            ctx.note(
                session, contact.id, request.id, "system", "Not answered: our last text was already the help"
            )
            return
        day = ctx.clock.now().date().isoformat()
        if await key_used(session, f"reply_help:{request.id}:{day}"):
            return
        await self.outreach.queue_sms(session, contact, request, "reply_help", key=day)

    async def delivery_report(self, session: AsyncSession, report: DeliveryReport) -> bool:
        """Move the message the report is about, if the report is news; False when it changed nothing."""
        now = self.ctx.clock.now()
        message = await message_with_key(session, report.idempotency_key)
        if message is None:
            log.info("delivery report for an unknown message ignored")
            return False
        status = SmsStatus(report.status)
        if message.status not in _MOVES.get(status, frozenset()):
            return False
        message.status, message.updated_at = status, now
        if status == SmsStatus.DELIVERED:
            message.delivered_at, message.error = now, None
        elif status == SmsStatus.FAILED:
            message.error = report.reason or "delivery failed"
        elif message.sent_at is None:
            message.sent_at = now
        return True
