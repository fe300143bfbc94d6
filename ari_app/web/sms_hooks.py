"""Inbound SMS and delivery reports from the gateways (verified by shared secret or provider signature).

What an inbound text does:
- STOP → the contact opts out (and, by default, its open callbacks are cancelled); when WE must confirm
  opt-outs (Kannel: a raw SMSC doesn't) one ``opt_out_confirmation`` is queued per contact per day
  (idempotency key ``opt_out_confirmation:{contact}:{YYYY-MM-DD}`` in UTC): Kannel gives us no message id,
  and a person who sends STOP twice should not get two confirmations.
- START → opt in again; HELP → one ``help`` text per contact per day (where we confirm opt-outs too: hosted
  providers answer HELP themselves); anything else → a note on the timeline.
An unknown sender is logged and ignored (answered 200, so the gateway does not retry).

Kannel texts our HTTP answer back to the phone: answers to Kannel are empty (also set ``max-messages = 0``
and ``omit-empty = true`` in the sms-service group).
"""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import dnc
from ..domain.phone import PhoneError, normalise_phone
from ..errors import Forbidden
from ..services import Services
from ..sms.gateway import DeliveryReport, InboundSms
from ..sms.kannel import parse_kannel_dlr, parse_kannel_inbound
from ..sms.replies import ReplyKind, classify_reply
from ..sms.twilio import SIGNATURE_HEADER, parse_twilio_inbound, parse_twilio_status
from ..sms.webhook import SIGNATURE_HEADER as WEBHOOK_SIGNATURE_HEADER
from ..sms.webhook import parse_webhook_dlr, parse_webhook_inbound
from ..store.models import Contact, Note, SmsOutbox
from ..tag_router import add_contact_event
from .body import read_body
from .keys import SERVICES
from .public import public
from .schemas import clean_text

log = logging.getLogger(__name__)

REPLY_MAX = 1600
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _sender_candidates(raw: str, services: Services) -> list[str]:
    """E.164 forms the sender may be: as given, or digits that already include the country code."""
    business = services.settings.business
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


async def _queue_once(services: Services, session: AsyncSession, contact: Contact, kind: str) -> bool:
    day = services.clock.now().date().isoformat()
    key = f"{kind}:{contact.id}:{day}"
    if await session.scalar(select(SmsOutbox.id).where(SmsOutbox.idempotency_key == key)) is not None:
        return False
    await services.lifecycle.queue_sms(session, contact, None, kind, key=day)
    return True


async def apply_inbound(services: Services, sms: InboundSms, *, gateway: str) -> ReplyKind | None:
    """Do what an inbound text asks; None when the sender is not a contact of ours."""
    async with services.sessions() as session:
        contact = None
        for phone in _sender_candidates(sms.from_phone.strip(), services):
            contact = await session.scalar(select(Contact).where(Contact.phone == phone))
            if contact is not None:
                break
        if contact is None:
            log.info("inbound SMS via %s from an unknown sender ignored", gateway)
            return None
        kind = classify_reply(sms.text)
        lifecycle = services.lifecycle
        if kind is ReplyKind.stop:
            await lifecycle.opt_out(session, contact, via="sms")
            if services.settings.sms.dnc_on_stop:
                await dnc.add_number(
                    session, contact.phone, reason="STOP by SMS", source="sms-stop", now=services.clock.now()
                )
            if _confirms_opt_out(services):
                await _queue_once(services, session, contact, "opt_out_confirmation")
        elif kind is ReplyKind.start:
            await lifecycle.opt_in(session, contact, via="sms")
        elif kind is ReplyKind.help:
            # Hosted providers answer HELP at the network level, like STOP: we answer only where they don't.
            if _confirms_opt_out(services):
                await _queue_once(services, session, contact, "help")
        else:
            now = services.clock.now()
            text = clean_text(sms.text)[:REPLY_MAX]
            session.add(
                Note(
                    contact_id=contact.id,
                    request_id=None,
                    kind="sms_reply",
                    text=f"SMS reply: {text}",
                    created_at=now,
                )
            )
            await add_contact_event(
                session, contact.id, "sms.received", {"text": text, "via": gateway}, now=now
            )
        await session.commit()
    services.wake()
    return kind


def _confirms_opt_out(services: Services) -> bool:
    configured = services.settings.sms.confirm_opt_out
    if configured is not None:
        return configured
    gateway = services.sms_gateway
    return bool(gateway is not None and gateway.confirms_opt_out)


# Where a report may move a message: never back from delivered; "queued" (buffered at the SMSC) is no news.
_MOVES = {
    "sent": {"queued", "sending"},
    "delivered": {"queued", "sending", "sent", "failed"},
    "failed": {"queued", "sending", "sent"},
}


async def apply_delivery_report(services: Services, report: DeliveryReport) -> bool:
    now = services.clock.now()
    async with services.sessions() as session:
        message = await session.scalar(
            select(SmsOutbox).where(SmsOutbox.idempotency_key == report.idempotency_key)
        )
        if message is None:
            log.info("delivery report for an unknown message ignored")
            return False
        if message.status not in _MOVES.get(report.status, set()):
            return False
        message.status, message.updated_at = report.status, now
        if report.status == "delivered":
            message.delivered_at, message.error = now, None
        elif report.status == "failed":
            message.error = report.reason or "delivery failed"
        elif message.sent_at is None:
            message.sent_at = now
        await session.commit()
    return True


def _secret(services: Services) -> str:
    return services.settings.sms.inbound_secret.get_secret_value()


async def _kannel_query(request: web.Request) -> str:
    """Kannel's get-url puts everything in the query; a POST may carry it as a form body instead."""
    query = request.rel_url.raw_query_string
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        body = (await read_body(request)).decode("ascii", "replace")
        query = "&".join(part for part in (query, body) if part)
    return query


@public("provider-verified")
async def kannel_inbound(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    sms = parse_kannel_inbound(await _kannel_query(request), _secret(services))
    await apply_inbound(services, sms, gateway="kannel")
    return web.Response(status=200, body=b"")


@public("provider-verified")
async def kannel_dlr(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    secret = _secret(services)
    if not secret:
        raise Forbidden("delivery reports refused: no inbound secret is configured")
    report = parse_kannel_dlr(request.rel_url.raw_query_string, secret)
    await apply_delivery_report(services, report)
    return web.Response(status=200, body=b"")


def _public_url(request: web.Request, services: Services) -> str:
    web_settings = services.settings.web
    base = web_settings.public_url.rstrip("/") or f"http://{web_settings.host}:{web_settings.port}"
    return base + request.rel_url.raw_path_qs


async def _twilio_form(request: web.Request) -> list[tuple[str, str]]:
    await read_body(request)  # bounded by client_max_size
    form = await request.post()
    return [(k, v) for k, v in form.items() if isinstance(v, str)]


@public("provider-verified")
async def twilio_inbound(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    sms = parse_twilio_inbound(
        await _twilio_form(request),
        url=_public_url(request, services),
        signature=request.headers.get(SIGNATURE_HEADER),
        auth_token=services.settings.sms.password.get_secret_value(),
    )
    await apply_inbound(services, sms, gateway="twilio")
    return web.Response(text=_EMPTY_TWIML, content_type="text/xml")


@public("provider-verified")
async def twilio_status(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    report = parse_twilio_status(
        await _twilio_form(request),
        url=_public_url(request, services),
        signature=request.headers.get(SIGNATURE_HEADER),
        auth_token=services.settings.sms.password.get_secret_value(),
    )
    await apply_delivery_report(services, report)
    return web.Response(status=204)


# The webhook gateway's glue code signs with the inbound secret over the raw body (``X-Callback-Signature``);
# the timestamp in it is wall time, so the check uses wall time too, not the (maybe virtual) service clock.
@public("provider-verified")
async def webhook_inbound(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    sms = parse_webhook_inbound(
        await read_body(request), request.headers.get(WEBHOOK_SIGNATURE_HEADER), _secret(services)
    )
    await apply_inbound(services, sms, gateway="webhook")
    return web.Response(status=204)


@public("provider-verified")
async def webhook_dlr(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    report = parse_webhook_dlr(
        await read_body(request), request.headers.get(WEBHOOK_SIGNATURE_HEADER), _secret(services)
    )
    await apply_delivery_report(services, report)
    return web.Response(status=204)
