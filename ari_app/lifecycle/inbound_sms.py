"""What the contact's texts and the gateways' delivery reports do (the web hooks only parse and answer).

What an inbound text does:
- STOP → the contact opts out (and, by default, its open callbacks are cancelled); when WE must confirm
  opt-outs (Kannel: a raw SMSC doesn't) one ``opt_out_confirmation`` is queued per contact per day
  (idempotency key ``opt_out_confirmation:{contact}:{YYYY-MM-DD}`` in UTC): Kannel gives us no message id,
  and a person who sends STOP twice should not get two confirmations.
- START → opt in again; HELP → one ``help`` text per contact per day (where we confirm opt-outs too: hosted
  providers answer HELP themselves); anything else → a note on the timeline.
An unknown sender is ignored. The caller owns the session and commits.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.phone import PhoneError, normalise_phone
from ..domain.statuses import UNSENT_SMS_STATUSES, SmsStatus
from ..domain.text import clean_text
from ..sms.gateway import DeliveryReport, InboundSms
from ..sms.replies import ReplyKind, classify_reply
from ..store import dnc
from ..store.models import Contact, Note
from ..store.outbox import key_used, message_with_key
from ..store.requests import contact_by_phone
from ..store.rows import note_row
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
    def __init__(self, ctx: Context, outreach: Outreach) -> None:
        self.ctx = ctx
        self.outreach = outreach

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
        return kind

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
