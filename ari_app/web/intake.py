"""Intake: the JSON API and the public form's POST both end in ``Lifecycle.intake.submit``.

Limits: the public form is limited per client IP per minute (in memory, this process); both routes are
limited per number per day, counted from the stored requests (new requests only: a merge calls no one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from ..domain.phone import timezones_of
from ..domain.text import clean_line
from ..domain.workflow import missed_call_when_text
from ..errors import Conflict, RateLimited, ValidationFailed
from ..lifecycle import IntakeData, IntakeResult
from ..services import Services
from ..settings import Settings, consent_text
from . import captcha
from .body import read_model
from .keys import IP_LIMITER, SERVICES
from .schemas import CallbackRequestIn

IDEMPOTENCY_KEY_MAX = 200
USER_AGENT_MAX = 500


def phone_context(settings: Settings) -> dict[str, Any]:
    return {"region": settings.business.region, "allowed_regions": settings.business.allowed_regions}


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isascii() and key.isprintable()):
        raise ValidationFailed(
            "invalid Idempotency-Key header",
            fields={
                "Idempotency-Key": {
                    "code": "invalid",
                    "message": f"1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
                }
            },
        )
    return key


class ClientDetails(TypedDict):
    ip: str | None
    user_agent: str | None


def client_details(request: web.Request) -> ClientDetails:
    user_agent = clean_line(request.headers.get("User-Agent", ""))[:USER_AGENT_MAX]
    return {"ip": request.remote, "user_agent": user_agent or None}


def limit_ip(request: web.Request) -> None:
    wait = request.app[IP_LIMITER].hit(request.remote or "unknown")
    if wait is not None:
        raise RateLimited("too many requests from this address; try again later", retry_after=wait)


async def submit(services: Services, data: IntakeData, key: str | None) -> IntakeResult:
    """Store the request (or merge, or replay) and commit before answering; then wake the worker."""
    for try_no in (1, 2):
        try:
            async with services.sessions() as session:
                result = await services.lifecycle.intake.submit(
                    session,
                    data,
                    idempotency_key=key,
                    daily_limit=services.settings.limits.per_number_per_day,
                )
                await session.commit()
        except IntegrityError:
            # A concurrent request for the same number or key won the race: the second try merges/replays.
            if try_no == 2:
                raise Conflict("a concurrent request for the same number is in progress; retry") from None
            continue
        services.wake()
        return result
    raise AssertionError("unreachable")


def when_text(services: Services, body: dict[str, Any], phone: str) -> str:
    planned = body.get("planned_at")
    if not planned:
        return "soon"
    at = datetime.fromisoformat(planned)
    return missed_call_when_text(at, timezones_of(phone)[0], services.clock.now())


def api_preferred_at(body: CallbackRequestIn) -> datetime | None:
    """``preferred_at``, or None for as soon as possible; the two may not contradict each other."""
    if body.preferred_at is not None and body.as_soon_as_possible:
        message = "choose preferred_at or as_soon_as_possible, not both"
        raise ValidationFailed(
            message, fields={"as_soon_as_possible": {"code": "conflict", "message": message}}
        )
    if body.preferred_at is None and body.as_soon_as_possible is False:
        message = "give preferred_at, or leave as_soon_as_possible out"
        raise ValidationFailed(message, fields={"preferred_at": {"code": "missing", "message": message}})
    return body.preferred_at


async def create_callback_request(request: web.Request) -> web.Response:
    """POST /api/v1/callback-requests (token required)."""
    services = request.app[SERVICES]
    settings = services.settings
    body = await read_model(request, CallbackRequestIn, phone_context(settings))
    key = idempotency_key(request)
    await captcha.verify(request, captcha.header_token(request))
    data = IntakeData(
        first_name=body.first_name,
        last_name=body.last_name,
        phone=body.phone,
        reason=body.reason,
        consent_text=body.consent_text or consent_text(settings),
        source="api",
        page_url=body.page_url,
        preferred_at=api_preferred_at(body),
        **client_details(request),
    )
    result = await submit(services, data, key)
    return web.json_response(result.body, status=result.status_code)
