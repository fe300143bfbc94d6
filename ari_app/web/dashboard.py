"""The admin dashboard under ``/admin/``: login, the pipeline board, a contact's timeline and actions, the
report, and a server-sent event stream that tells open pages when to refresh their live parts.

Pages are rendered on the server (Jinja, autoescaped); the only script is ``/static/admin.js``, which
swaps in fresh fragments when ``/admin/events`` says something changed. Every form POST carries the
session's CSRF token. The auth middleware has already checked the session for every route here except
the login page (``@public("login")``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.amd_accuracy import MIN_LABELS
from ..domain.statuses import CLOSABLE_REQUEST_STATUSES, OPEN_REQUEST_STATUSES
from ..domain.text import clean_text
from ..errors import CallbackError, Conflict, NotFound, RateLimited, ValidationFailed
from ..lifecycle.labels import parse_label
from ..store.models import Attempt, CallbackRequest, Contact
from ..store.recordings import message_path
from . import dashboard_reads as reads
from .amd_report import amd_accuracy, parse_period
from .api import path_id
from .dashboard_auth import (
    ADMIN,
    LOGIN_CSRF_COOKIE,
    LOGIN_THROTTLE,
    AdminIdentity,
    LoginThrottle,
    check_csrf,
    check_login,
    current_admin,
    end_session,
    login_csrf,
    set_cookie,
    start_session,
)
from .keys import SERVICES, TEMPLATES
from .public import public
from .schemas import NOTE_MAX

ADMIN_CSP = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'"
)
POLL_SECONDS = 0.5  # how often the event stream looks for changes (wall time)
STREAM_SECONDS = 300.0  # then the stream ends and the browser reconnects (and is authenticated again)
KEEPALIVE_SECONDS = 15.0
CLOSING = web.AppKey("dashboard_closing", asyncio.Event)

DONE_MESSAGES = {
    "call-now": "The call is queued: it starts now, or at the next allowed time shown below.",
    "requeue": "The request is open again with one more attempt.",
    "cancel": "The callback request was cancelled.",
    "note": "Note added.",
    "opt-out": "The contact is opted out of SMS.",
    "label": "Label saved: the AMD report counts it.",
}


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    services = request.app[SERVICES]
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(business=services.settings.business.name, admin=request.get(ADMIN), **context)
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = ADMIN_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def _admin(request: web.Request) -> AdminIdentity:
    admin: AdminIdentity | None = request.get(ADMIN)
    if admin is None:  # the auth middleware puts it there for every non-public /admin route
        raise web.HTTPSeeOther("/admin/login")
    return admin


def _safe_next(raw: object) -> str:
    """Only a path inside the dashboard: never another site (``//evil``, ``https://…``)."""
    if not isinstance(raw, str) or not raw.startswith("/admin/") or raw.startswith("//"):
        return "/admin/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or "\\" in raw:
        return "/admin/"
    return raw


# -- login and logout ------------------------------------------------------------------------------


def _login_page(
    request: web.Request, *, status: int = 200, error: str = "", username: str = "", next_url: str = "/admin/"
) -> web.Response:
    token = login_csrf(request)
    response = _page(
        request, "admin_login.html", status=status, error=error, username=username, csrf=token, next=next_url
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@public("login")
async def login_form(request: web.Request) -> web.Response:
    next_url = _safe_next(request.query.get("next"))
    if await current_admin(request) is not None:
        return _redirect(next_url)
    return _login_page(request, next_url=next_url)


@public("login")
async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    username = form.get("username")
    password = form.get("password")
    next_url = _safe_next(form.get("next"))
    if not isinstance(username, str) or not isinstance(password, str):
        return _login_page(request, status=400, error="Enter a username and a password.", next_url=next_url)
    try:
        check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf"))
    except CallbackError as exc:
        return _login_page(request, status=exc.http_status, error=exc.message, username=username)
    throttle = request.app[LOGIN_THROTTLE]
    ip = request.remote or "unknown"
    wait = throttle.wait(username, ip)
    if wait is not None:
        response = _login_page(
            request,
            status=429,
            error=f"Too many failed logins. Try again in {wait} seconds.",
            username=username,
            next_url=next_url,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = await check_login(request.app[SERVICES].sessions, username, password)
    if user is None:
        throttle.failed(username, ip)
        return _login_page(
            request, status=401, error="Wrong username or password.", username=username, next_url=next_url
        )
    throttle.succeeded(username, ip)
    response = _redirect(next_url)
    await start_session(request, response, user)
    return response


async def logout(request: web.Request) -> web.Response:
    admin = _admin(request)
    form = await request.post()
    check_csrf(admin.csrf_token, form.get("csrf"))
    response = _redirect("/admin/login")
    await end_session(request, response)
    return response


async def admin_root(request: web.Request) -> web.Response:
    return _redirect("/admin/")


# -- the board ---------------------------------------------------------------------------------------


async def _columns(request: web.Request) -> list[reads.Column]:
    services = request.app[SERVICES]
    async with services.sessions() as session:
        return await reads.board(session, services.settings)


async def board_page(request: web.Request) -> web.Response:
    admin = _admin(request)
    done = DONE_MESSAGES.get(request.query.get("done", ""), "")
    return _page(
        request, "admin_board.html", columns=await _columns(request), csrf=admin.csrf_token, done=done
    )


async def board_fragment(request: web.Request) -> web.Response:
    admin = _admin(request)
    return _page(request, "admin_board_columns.html", columns=await _columns(request), csrf=admin.csrf_token)


# -- a contact ---------------------------------------------------------------------------------------


async def _contact(request: web.Request, contact_id: int | None = None) -> reads.ContactView:
    services = request.app[SERVICES]
    contact_id = path_id(request) if contact_id is None else contact_id
    async with services.sessions() as session:
        view = await reads.contact_view(session, services.settings, contact_id)
    if view is None:
        raise NotFound("no such contact", id=contact_id)
    return view


async def contact_page(request: web.Request) -> web.Response:
    admin = _admin(request)
    view = await _contact(request)
    done = DONE_MESSAGES.get(request.query.get("done", ""), "")
    return _page(request, "admin_contact.html", c=view, csrf=admin.csrf_token, done=done, error="")


async def contact_message(request: web.Request) -> web.StreamResponse:
    """A message the lead left on a return call: only here, behind the dashboard's login, never cached."""
    services = request.app[SERVICES]
    contact_id = path_id(request, "id")
    attempt_id = path_id(request, "attempt")
    async with services.sessions() as session:
        found = await session.execute(
            select(Attempt.evidence)
            .join(CallbackRequest, CallbackRequest.id == Attempt.request_id)
            .where(Attempt.id == attempt_id, CallbackRequest.contact_id == contact_id)
        )
        evidence = found.scalar_one_or_none()
    message = ((evidence or {}).get("message") or {}) if isinstance(evidence, dict) else {}
    name = str(message.get("file") or "")
    path = (
        None if message.get("deleted") else message_path(Path(services.settings.returns.recordings_dir), name)
    )
    if path is None:
        raise NotFound("no such message")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "audio/wav",
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="message-{attempt_id}.wav"',
        },
    )


async def contact_fragment(request: web.Request) -> web.Response:
    admin = _admin(request)
    return _page(request, "admin_contact_live.html", c=await _contact(request), csrf=admin.csrf_token)


async def _latest_request(
    session: AsyncSession, contact_id: int, statuses: Collection[str]
) -> CallbackRequest:
    request = await session.scalar(
        select(CallbackRequest)
        .where(CallbackRequest.contact_id == contact_id, CallbackRequest.status.in_(statuses))
        .order_by(CallbackRequest.id.desc())
        .limit(1)
    )
    if request is None:
        raise Conflict("the contact has no request this applies to")
    return request


async def contact_action(request: web.Request) -> web.Response:
    admin = _admin(request)
    services = request.app[SERVICES]
    contact_id = path_id(request)
    action = request.match_info["action"]
    form = await request.post()
    try:
        check_csrf(admin.csrf_token, form.get("csrf"))
        async with services.sessions() as session:
            contact = await session.get(Contact, contact_id)
            if contact is None:
                raise NotFound("no such contact", id=contact_id)
            by = admin.display
            if action == "call-now":
                target = await _latest_request(session, contact_id, OPEN_REQUEST_STATUSES)
                await services.lifecycle.by_hand.call_now(session, target.id, by=by)
            elif action == "requeue":
                target = await _latest_request(session, contact_id, CLOSABLE_REQUEST_STATUSES)
                await services.lifecycle.by_hand.requeue(session, target.id, by=by)
            elif action == "cancel":
                target = await _latest_request(session, contact_id, OPEN_REQUEST_STATUSES)
                await services.lifecycle.closing.cancel(
                    session, target.id, reason="cancelled from the dashboard", by=by
                )
            elif action == "note":
                raw = form.get("text")
                text = clean_text(raw if isinstance(raw, str) else "")
                if not text or len(text) > NOTE_MAX:
                    raise ValidationFailed(f"write a note of 1 to {NOTE_MAX} characters", field="text")
                await services.lifecycle.by_hand.add_note(session, contact_id, text, by=by)
            elif action == "opt-out":
                await services.lifecycle.outreach.opt_out(session, contact, via=f"dashboard ({by})")
            else:
                raise NotFound("no such action", action=action[:20])
            await session.commit()
    except CallbackError as exc:
        if exc.http_status >= 500 or isinstance(exc, NotFound | RateLimited):
            raise
        return _contact_error(request, await _contact(request), admin.csrf_token, exc)
    services.wake()
    return _redirect(f"/admin/contacts/{contact_id}?done={action}")


def _contact_error(
    request: web.Request, view: reads.ContactView, csrf: str, exc: CallbackError
) -> web.Response:
    """The contact page again, saying why an action was refused."""
    return _page(
        request, "admin_contact.html", status=exc.http_status, c=view, csrf=csrf, done="", error=exc.message
    )


async def label_action(request: web.Request) -> web.Response:
    """A person or a machine answered this attempt (from the contact page or the board)."""
    admin = _admin(request)
    services = request.app[SERVICES]
    attempt_id = path_id(request)
    form = await request.post()
    next_url = _safe_next(form.get("next"))
    try:
        check_csrf(admin.csrf_token, form.get("csrf"))
        label = parse_label(form.get("label"))
        async with services.sessions() as session:
            await services.lifecycle.labels.label(session, attempt_id, label, by=admin.display)
            await session.commit()
    except CallbackError as exc:
        if exc.http_status >= 500 or isinstance(exc, NotFound | RateLimited):
            raise
        contact_id = await _contact_of_attempt(request, attempt_id)
        if contact_id is None:
            raise
        return _contact_error(request, await _contact(request, contact_id), admin.csrf_token, exc)
    return _redirect(next_url + ("&" if "?" in next_url else "?") + "done=label")


async def _contact_of_attempt(request: web.Request, attempt_id: int) -> int | None:
    async with request.app[SERVICES].sessions() as session:
        row = await session.scalar(
            select(CallbackRequest.contact_id)
            .join(Attempt, Attempt.request_id == CallbackRequest.id)
            .where(Attempt.id == attempt_id)
        )
    return row


# -- the report --------------------------------------------------------------------------------------


async def report_page(request: web.Request) -> web.Response:
    admin = _admin(request)
    services = request.app[SERVICES]
    now = services.clock.now()
    today = now.astimezone(ZoneInfo(services.settings.business.timezone)).date()
    period_error = ""
    try:
        period = parse_period(request.query, today)
    except ValidationFailed as exc:
        period_error = exc.message + ": pick two days, the first on or before the second."
        period = parse_period({}, today)
    async with services.sessions() as session:
        data = await reads.report(session, services.settings, now)
        amd = await amd_accuracy(session, services.settings, period)
    return _page(
        request,
        "admin_report.html",
        status=422 if period_error else 200,
        r=data,
        amd=amd,
        period=period,
        period_error=period_error,
        min_labels=MIN_LABELS,
        csrf=admin.csrf_token,
        chart_w=reads.CHART_W,
        chart_h=reads.CHART_H,
    )


# -- live updates ------------------------------------------------------------------------------------


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``change`` whenever the store changed. It polls the database (cheap max()
    reads), so it works with any number of web and worker processes; the stream ends after a while and
    the browser reconnects."""
    services = request.app[SERVICES]
    closing = request.app[CLOSING]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    async with services.sessions() as session:
        marker = await reads.change_marker(session)
    with contextlib.suppress(ConnectionResetError):
        await response.write(b"retry: 2000\nevent: ready\ndata: {}\n\n")
        quiet_since = loop.time()
        while not closing.is_set() and loop.time() < ends:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), POLL_SECONDS)
            async with services.sessions() as session:
                latest = await reads.change_marker(session)
            if latest != marker:
                marker = latest
                await response.write(b"event: change\ndata: {}\n\n")
                quiet_since = loop.time()
            elif loop.time() - quiet_since > KEEPALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                quiet_since = loop.time()
    return response


# -- wiring ------------------------------------------------------------------------------------------


def add_dashboard(app: web.Application) -> None:
    """Routes, state and the shutdown hook that ends open event streams at once."""
    app[LOGIN_THROTTLE] = LoginThrottle()
    app[CLOSING] = asyncio.Event()

    async def close_streams(app: web.Application) -> None:
        app[CLOSING].set()

    app.on_shutdown.append(close_streams)
    r = app.router
    r.add_get("/admin/login", login_form)
    r.add_post("/admin/login", login_submit)
    r.add_post("/admin/logout", logout)
    r.add_get("/admin", admin_root)
    r.add_get("/admin/", board_page)
    r.add_get("/admin/board", board_fragment)
    r.add_get("/admin/events", events)
    r.add_get("/admin/report", report_page)
    r.add_get("/admin/contacts/{id}", contact_page)
    r.add_get("/admin/contacts/{id}/live", contact_fragment)
    r.add_get("/admin/contacts/{id}/messages/{attempt}", contact_message)
    r.add_post("/admin/contacts/{id}/{action}", contact_action)
    r.add_post("/admin/attempts/{id}/label", label_action)
