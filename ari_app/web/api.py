"""The JSON API for operators and integrations (bearer token): read models and hand-made transitions."""

from __future__ import annotations

from aiohttp import web

from ..domain.amd import Label
from ..domain.statuses import RequestStatus
from ..errors import NotFound, ValidationFailed
from ..store.models import Contact
from . import api_reads
from .auth import AUTH_NAME
from .body import read_model
from .keys import SERVICES
from .schemas import CloseIn, LabelIn

MAX_ID = 2**31 - 1  # INTEGER on PostgreSQL: a larger id can't exist (and would overflow the query)
MAX_LIMIT = 500


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    value = int(raw) if raw.isdigit() and len(raw) <= 10 else MAX_ID + 1
    if not 0 < value <= MAX_ID:
        raise NotFound("not found", id=raw[:20])
    return value


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and low <= int(raw) <= high):
        raise ValidationFailed(
            f"invalid query parameter {name}",
            fields={name: {"code": "out_of_range", "message": f"an integer from {low} to {high}"}},
        )
    return int(raw)


async def list_callback_requests(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in set(RequestStatus):
        raise ValidationFailed(
            "invalid query parameter status",
            fields={"status": {"code": "enum", "message": f"one of {', '.join(RequestStatus)}"}},
        )
    limit = _query_int(request, "limit", 50, 1, MAX_LIMIT)
    offset = _query_int(request, "offset", 0, 0, 10**9)
    async with request.app[SERVICES].sessions() as session:
        body = await api_reads.list_requests(session, status=status, limit=limit, offset=offset)
    return web.json_response(body)


async def get_callback_request(request: web.Request) -> web.Response:
    request_id = path_id(request)
    async with request.app[SERVICES].sessions() as session:
        body = await api_reads.request_detail(session, request_id)
    if body is None:
        raise NotFound("no such callback request", id=request_id)
    return web.json_response(body)


async def close_callback_request(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    request_id = path_id(request)
    close = await read_model(request, CloseIn)
    by = request.get(AUTH_NAME, "api")
    async with services.sessions() as session:
        if close.action == "complete":
            await services.lifecycle.closing.complete_by_hand(
                session, request_id, note=close.note or "closed by hand", by=by
            )
        else:
            await services.lifecycle.closing.cancel(
                session, request_id, reason=close.note or "cancelled by hand", by=by
            )
        await session.commit()
        body = await api_reads.request_detail(session, request_id)
    services.wake()
    return web.json_response(body)


async def get_contact(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    async with request.app[SERVICES].sessions() as session:
        body = await api_reads.contact_detail(session, contact_id)
    if body is None:
        raise NotFound("no such contact", id=contact_id)
    return web.json_response(body)


async def opt_out_contact(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    contact_id = path_id(request)
    async with services.sessions() as session:
        contact = await session.get(Contact, contact_id)
        if contact is None:
            raise NotFound("no such contact", id=contact_id)
        await services.lifecycle.outreach.opt_out(session, contact, via=request.get(AUTH_NAME, "api"))
        await session.commit()
        body = await api_reads.contact_detail(session, contact_id)
    services.wake()
    return web.json_response(body)


async def label_attempt(request: web.Request) -> web.Response:
    """A person or a machine answered this attempt (the AMD report's ground truth); replaces a label."""
    services = request.app[SERVICES]
    attempt_id = path_id(request)
    body = await read_model(request, LabelIn)
    async with services.sessions() as session:
        await services.lifecycle.labels.label(
            session, attempt_id, Label(body.label), by=request.get(AUTH_NAME, "api")
        )
        await session.commit()
        detail = await api_reads.attempt_detail(session, attempt_id)
    return web.json_response(detail)
