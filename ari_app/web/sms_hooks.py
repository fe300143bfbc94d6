"""Inbound SMS and delivery reports from the gateways (verified by shared secret or provider signature).

Each handler parses and verifies the gateway's request, hands the text or the report to the lifecycle
(``lifecycle/inbound_sms.py``: what STOP, START, HELP and a reply do) and answers. An unknown sender is
answered 200 too, so the gateway does not retry.

Kannel texts our HTTP answer back to the phone: answers to Kannel are empty (also set ``max-messages = 0``
and ``omit-empty = true`` in the sms-service group).
"""

from __future__ import annotations

from aiohttp import web

from ..errors import Forbidden
from ..services import Services
from ..sms.gateway import DeliveryReport, InboundSms
from ..sms.kannel import parse_kannel_dlr, parse_kannel_inbound
from ..sms.replies import ReplyKind
from ..sms.twilio import SIGNATURE_HEADER, parse_twilio_inbound, parse_twilio_status
from ..sms.webhook import SIGNATURE_HEADER as WEBHOOK_SIGNATURE_HEADER
from ..sms.webhook import parse_webhook_dlr, parse_webhook_inbound
from .body import read_body
from .keys import SERVICES
from .public import public

_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def apply_inbound(services: Services, sms: InboundSms, *, gateway: str) -> ReplyKind | None:
    """Do what an inbound text asks; None when the sender is not a contact of ours."""
    async with services.sessions.begin() as session:
        kind = await services.lifecycle.inbound_sms.text_received(
            session, sms, gateway=gateway, we_confirm=_confirms_opt_out(services)
        )
    if kind is not None:
        services.wake()
    return kind


def _confirms_opt_out(services: Services) -> bool:
    """Whether we answer STOP and HELP ourselves: as configured, else where the gateway doesn't."""
    configured = services.settings.sms.confirm_opt_out
    if configured is not None:
        return configured
    gateway = services.sms_gateway
    return bool(gateway is not None and gateway.confirms_opt_out)


async def apply_delivery_report(services: Services, report: DeliveryReport) -> bool:
    async with services.sessions.begin() as session:
        return await services.lifecycle.inbound_sms.delivery_report(session, report)


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
