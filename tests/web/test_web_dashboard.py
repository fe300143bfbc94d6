"""The dashboard over HTTP: login, cookies, CSRF, slow-down, logout, live events, actions, escaping;
and the embed's CORS and framing rules."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from webkit import LEAD, START, intake_body, make_settings

from ari_app.cli.users import register
from ari_app.domain.attempts import AttemptResult
from ari_app.domain.outcomes import Outcome
from ari_app.services import Services
from ari_app.settings import Settings
from ari_app.store import make_engine, make_sessionmaker
from ari_app.store.models import AdminSession, Attempt, CallbackRequest, Contact, Note, User
from ari_app.web import create_web_app
from ari_app.web.dashboard_auth import LOGIN_THROTTLE, LoginThrottle, add_user, verify_password

PASSWORD = "correct horse battery"
HOST_ORIGIN = "https://shop.example.org"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def settings() -> Settings:
    # Plain http here, so the test client's cookie jar sends the (not Secure) session cookie back.
    return make_settings(web={"public_url": "", "cors_origins": [HOST_ORIGIN]})


@pytest.fixture
async def admin_user(services: Services) -> str:
    await add_user(services.sessions, "ops", PASSWORD)
    return "ops"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def login(client: TestClient[Any, Any], username: str, password: str) -> Any:
    page = await client.get("/admin/login")
    assert page.status == 200
    return await client.post(
        "/admin/login",
        data={
            "username": username,
            "password": password,
            "csrf": _csrf(await page.text()),
            "next": "/admin/",
        },
        allow_redirects=False,
    )


async def logged_in(client: TestClient[Any, Any]) -> str:
    """Log in as ops; the board's CSRF token."""
    answer = await login(client, "ops", PASSWORD)
    assert answer.status == 303, await answer.text()
    board = await client.get("/admin/")
    assert board.status == 200
    return _csrf(await board.text())


async def test_a_browser_without_a_login_is_sent_to_the_login_page(client: TestClient[Any, Any]) -> None:
    page = await client.get("/admin/contacts/1", headers={"Accept": "text/html"}, allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/admin/login?next=/admin/contacts/1"
    for path in ("/admin/", "/admin/events", "/admin/board", "/admin/report"):
        answer = await client.get(path)
        assert answer.status == 401, path
    bearer = await client.get("/admin/", headers={"Authorization": "Bearer test-token-0123456789"})
    assert bearer.status == 401  # the dashboard takes a login, not the API token


async def test_login_sets_a_session_cookie_that_scripts_cannot_read(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    answer = await login(client, admin_user, PASSWORD)
    assert answer.status == 303 and answer.headers["Location"] == "/admin/"
    cookie = next(v for k, v in answer.headers.items() if k == "Set-Cookie" and v.startswith("cb_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    async with services.sessions() as session:
        stored = list(await session.scalars(select(AdminSession.id)))
    assert len(stored) == 1 and token not in stored[0]  # only a hash of the token is kept
    board = await client.get("/admin/")
    assert board.status == 200
    assert "Pipeline" in await board.text()
    assert "frame-ancestors 'none'" in board.headers["Content-Security-Policy"]


async def test_the_cookie_is_secure_when_the_site_is_served_over_https(
    make_services: Any, admin_user: str
) -> None:
    services = make_services(make_settings(web={"public_url": "https://callback.example.com"}))
    await add_user(services.sessions, "ops2", PASSWORD)
    async with TestClient(TestServer(create_web_app(services), host="127.0.0.1", port=0)) as client:
        page = await client.get("/admin/login")
        csrf = _csrf(await page.text())
        assert "Secure" in page.headers["Set-Cookie"]
        answer = await client.post(
            "/admin/login",
            data={"username": "ops2", "password": PASSWORD, "csrf": csrf},
            headers={"Cookie": f"cb_login_csrf={csrf}"},  # the jar keeps Secure cookies off http
            allow_redirects=False,
        )
        assert answer.status == 303
        cookie = next(v for k, v in answer.headers.items() if k == "Set-Cookie" and "cb_session=" in v)
        assert "Secure" in cookie


async def test_passwords_are_stored_as_argon2_hashes(services: Services, admin_user: str) -> None:
    async with services.sessions() as session:
        user = await session.scalar(select(User).where(User.username == admin_user))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: TestClient[Any, Any], admin_user: str
) -> None:
    wrong = await login(client, admin_user, "not the password")
    unknown = await login(client, "nobody", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status == 401
        assert "Wrong username or password." in await answer.text()
        assert not any("cb_session=" in v for k, v in answer.headers.items() if k == "Set-Cookie")


async def test_failed_logins_slow_down_the_next_tries(services: Services, admin_user: str) -> None:
    now = [1000.0]
    app = create_web_app(services)
    app[LOGIN_THROTTLE] = LoginThrottle(free_tries=3, base_delay=2.0, monotonic=lambda: now[0])
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        for _ in range(3):
            assert (await login(client, admin_user, "guess")).status == 401
        blocked = await login(client, admin_user, PASSWORD)  # even the right password waits
        assert blocked.status == 429
        assert blocked.headers["Retry-After"] == "2"
        assert "Too many failed logins" in await blocked.text()
        other_name = await login(client, "someone-else", "guess")  # same address: slowed down too
        assert other_name.status == 429
        now[0] += 3
        assert (await login(client, admin_user, PASSWORD)).status == 303


async def test_forms_without_the_csrf_token_are_refused(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    no_cookie = await client.post("/admin/login", data={"username": "ops", "password": PASSWORD, "csrf": "x"})
    assert no_cookie.status == 403
    csrf = await logged_in(client)
    await client.post("/api/v1/callback-requests", json=intake_body(), headers=_bearer())
    for data in ({}, {"csrf": "forged"}, {"csrf": csrf + "x"}):
        answer = await client.post("/admin/contacts/1/cancel", data=data, allow_redirects=False)
        assert answer.status == 403
    async with services.sessions() as session:
        request = await session.get(CallbackRequest, 1)
    assert request is not None and request.status == "pending"
    ok = await client.post("/admin/contacts/1/cancel", data={"csrf": csrf}, allow_redirects=False)
    assert ok.status == 303


async def test_logout_ends_the_session_on_the_server(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    csrf = await logged_in(client)
    assert (await client.post("/admin/logout", data={"csrf": "wrong"})).status == 403
    out = await client.post("/admin/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/admin/login"
    async with services.sessions() as session:
        assert list(await session.scalars(select(AdminSession))) == []
    assert (await client.get("/admin/board")).status == 401


def _bearer() -> dict[str, str]:
    return {"Authorization": "Bearer test-token-0123456789"}


async def test_user_supplied_text_is_shown_as_text(client: TestClient[Any, Any], admin_user: str) -> None:
    body = intake_body(first_name=XSS, last_name="</li><script>x()</script>", reason=f"{XSS} please")
    assert (await client.post("/api/v1/callback-requests", json=body, headers=_bearer())).status == 201
    await logged_in(client)
    for path in ("/admin/", "/admin/board", "/admin/contacts/1", "/admin/contacts/1/live"):
        html = await (await client.get(path)).text()
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path
        assert "<img" not in html and "<script>x()" not in html, path


async def test_the_board_groups_cards_by_stage_with_a_masked_number(
    client: TestClient[Any, Any], admin_user: str
) -> None:
    await client.post("/api/v1/callback-requests", json=intake_body(), headers=_bearer())
    await logged_in(client)
    html = await (await client.get("/admin/board")).text()
    pending = html.split('data-stage="pending"')[1].split("</section>")[0]
    assert "Ada Lovelace" in pending and "+1 201 ••• 0123" in pending
    assert LEAD not in html
    assert re.search(r"data-count>\s*1<", pending)


CHICAGO_LEAD = "+1 312 555 0142"  # the business is in New York (make_settings)


async def test_times_name_their_zone_with_the_leads_own_time_beside(
    client: TestClient[Any, Any], admin_user: str
) -> None:
    await client.post("/api/v1/callback-requests", json=intake_body(phone=CHICAGO_LEAD), headers=_bearer())
    await logged_in(client)
    board = await (await client.get("/admin/board")).text()
    # START is 15:00 UTC: 10:00 in New York, 09:00 in Chicago; the first call a minute later.
    assert re.search(r"<dt>Next call</dt><dd>Tue 4 Mar, 10:01 EST \(lead: 09:01 CST\)</dd>", board), board
    page = await (await client.get("/admin/contacts/1")).text()
    assert "lead's time zone: Central (America/Chicago)" in page
    assert "10:01 EST (lead: 09:01 CST)" in page


async def test_the_contact_page_says_what_happened_in_sentences_with_the_detail_one_click_away(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    await client.post("/api/v1/callback-requests", json=intake_body(phone=CHICAGO_LEAD), headers=_bearer())
    async with services.sessions() as session:
        await services.lifecycle.attempts.finish(
            session, 1, AttemptResult(Outcome.LEAD_BUSY, "cause 17 User busy, dial status BUSY")
        )
        await session.commit()
    await logged_in(client)
    html = await (await client.get("/admin/contacts/1")).text()
    attempt = html.split('<li class="item kind-attempt">')[-1].split("</li>")[0]
    said, technical = attempt.split("<details", 1)
    assert "The line was busy." in said and "Next call: Tue 4 Mar" in said
    assert "Allowed: the business takes calls at any time and inside the lead&#39;s quiet hours" in said
    assert "(08:00-21:00 Central)." in said
    assert "cause 17" not in said and "lead_busy" not in said
    assert "cause 17 User busy" in technical and "lead_busy" in technical
    assert "at_dial" in technical or "business.tz" in technical  # the calendar's record, key by key
    statuses = [s.split("</li>")[0] for s in html.split('<li class="item kind-tag">')[1:]]
    assert any("Moved from Callback requested to Callback missed." in s for s in statuses)
    assert any("Added to Callback requested." in s for s in statuses)
    said_status = "".join(s.split("<details", 1)[0] for s in statuses)
    assert "Request to Callback" not in said_status and "+Request" not in html
    # The log line that closed the attempt is its technical detail, not a timeline entry of its own.
    assert "Attempt 1 (lead attempt 1): lead_busy" in technical
    assert html.count("Attempt 1 (lead attempt 1)") == 1


async def test_call_now_moves_the_next_attempt_to_now_and_wakes_the_worker(
    client: TestClient[Any, Any], admin_user: str, services: Services, wakes: list[int]
) -> None:
    await client.post("/api/v1/callback-requests", json=intake_body(), headers=_bearer())
    csrf = await logged_in(client)
    before = len(wakes)
    answer = await client.post("/admin/contacts/1/call-now", data={"csrf": csrf}, allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"] == "/admin/contacts/1?done=call-now"
    async with services.sessions() as session:
        attempts = list(await session.scalars(select(Attempt)))
        notes = list(await session.scalars(select(Note.text)))
    assert len(attempts) == 1  # moved, not doubled
    assert attempts[0].due_at <= services.clock.now()
    assert attempts[0].evidence["by_hand"] == "admin:ops"
    assert any("Call requested by admin:ops" in n for n in notes)
    assert len(wakes) > before


async def test_requeue_reopens_an_incomplete_request(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    await client.post("/api/v1/callback-requests", json=intake_body(), headers=_bearer())
    async with services.sessions() as session:
        request = await session.get(CallbackRequest, 1)
        assert request is not None
        request.status, request.closed_at = "incomplete", services.clock.now()
        await session.execute(Attempt.__table__.update().values(status="done", outcome="lead_no_answer"))
        await session.commit()
    csrf = await logged_in(client)
    page = await (await client.get("/admin/contacts/1")).text()
    assert "Requeue" in page and "Call now" not in page
    answer = await client.post("/admin/contacts/1/requeue", data={"csrf": csrf})
    assert answer.status == 200 and "one more attempt" in await answer.text()
    async with services.sessions() as session:
        request = await session.get(CallbackRequest, 1)
        contact = await session.get(Contact, 1)
        scheduled = list(await session.scalars(select(Attempt).where(Attempt.status == "scheduled")))
    assert request is not None and request.status == "pending"
    assert contact is not None and contact.pipeline_stage == "Callback requested"
    assert len(scheduled) == 1


async def test_notes_opt_out_and_cancel_show_on_the_timeline(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    await client.post("/api/v1/callback-requests", json=intake_body(), headers=_bearer())
    csrf = await logged_in(client)
    empty = await client.post("/admin/contacts/1/note", data={"csrf": csrf, "text": "   "})
    assert empty.status == 422 and "write a note" in await empty.text()
    await client.post("/admin/contacts/1/note", data={"csrf": csrf, "text": f"Prefers mornings {XSS}"})
    await client.post("/admin/contacts/1/opt-out", data={"csrf": csrf})
    page = await client.get("/admin/contacts/1")
    html = await page.text()
    assert "Prefers mornings &lt;img" in html
    assert "SMS opt-out" in html
    assert "Consent given" in html and "Why this call was allowed" in html
    # The default is that an opt-out also cancels the open callback: nothing left to cancel.
    again = await client.post("/admin/contacts/1/cancel", data={"csrf": csrf})
    assert again.status == 409 and "no request this applies to" in await again.text()


async def test_the_event_stream_says_when_something_changed(
    client: TestClient[Any, Any], admin_user: str
) -> None:
    await logged_in(client)
    stream = await client.get("/admin/events")
    assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
    first = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
    assert b"event: ready" in first
    await client.post("/api/v1/callback-requests", json=intake_body(), headers=_bearer())
    change = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
    assert change.startswith(b"event: change")
    stream.close()


async def test_the_report_counts_requests_and_draws_them(
    client: TestClient[Any, Any], admin_user: str, services: Services
) -> None:
    for phone in ("(201) 555-0123", "(201) 555-0124"):
        await client.post("/api/v1/callback-requests", json=intake_body(phone=phone), headers=_bearer())
    await logged_in(client)
    html = await (await client.get("/admin/report")).text()
    today = (START - timedelta(hours=5)).day  # New York
    assert re.search(r'<span class="label">Requests</span><span class="value">2</span>', html)
    assert f"Tue {today}: 2" in html
    assert "<svg" in html


async def test_the_users_command_takes_the_password_from_stdin_never_from_arguments(
    migrated_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["users", "add", "ops", "--password", PASSWORD])
    args = parser.parse_args(["users", "add", "ops", "--password-stdin"])
    monkeypatch.setenv("CALLBACK_DATABASE_URL", migrated_db_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert await asyncio.to_thread(args.func, args) == 0  # the command runs its own event loop
    engine = make_engine(migrated_db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await session.scalar(select(User))
    finally:
        await engine.dispose()
    assert user is not None and user.username == "ops"
    assert verify_password(user.password_hash, PASSWORD)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert await asyncio.to_thread(args.func, args) == 1  # the name is taken


# -- the embed: CORS and framing ----------------------------------------------------------------


async def test_the_embed_script_is_served_to_any_page(client: TestClient[Any, Any]) -> None:
    answer = await client.get("/embed.js")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert "iframe" in await answer.text()


async def test_cors_preflight_answers_only_configured_origins(client: TestClient[Any, Any]) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for path in ("/request", "/api/v1/callback-requests"):
        ok = await client.options(path, headers={"Origin": HOST_ORIGIN, **ask})
        assert ok.status == 204
        assert ok.headers["Access-Control-Allow-Origin"] == HOST_ORIGIN
        assert "POST" in ok.headers["Access-Control-Allow-Methods"]
        other = await client.options(path, headers={"Origin": "https://shop.example.org.evil.test", **ask})
        assert other.status == 403 and "Access-Control-Allow-Origin" not in other.headers


async def test_form_posts_from_a_configured_origin_are_readable_there(
    client: TestClient[Any, Any], services: Services
) -> None:
    form = {**intake_body(), "consent": "yes"}
    answer = await client.post("/request", data=form, headers={"Origin": HOST_ORIGIN})
    assert answer.status == 200 and "We'll call you" in await answer.text()
    assert answer.headers["Access-Control-Allow-Origin"] == HOST_ORIGIN
    foreign = await client.post(
        "/request", data={**form, "phone": "(201) 555-0199"}, headers={"Origin": "https://elsewhere.test"}
    )
    assert foreign.status == 403 and "Access-Control-Allow-Origin" not in foreign.headers
    async with services.sessions() as session:
        phones = list(await session.scalars(select(Contact.phone)))
    assert phones == [LEAD]


async def test_the_form_page_may_be_framed_only_where_configured(make_services: Any) -> None:
    services = make_services(make_settings(web={"frame_ancestors": ["'self'", HOST_ORIGIN]}))
    async with TestClient(TestServer(create_web_app(services), host="127.0.0.1", port=0)) as client:
        page = await client.get("/?embed=1")
        html = await page.text()
        assert f"frame-ancestors 'self' {HOST_ORIGIN}" in page.headers["Content-Security-Policy"]
        assert 'class="embedded"' in html and 'action="/request?embed=1"' in html
        login = await client.get("/admin/login")
        assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]


async def test_the_form_links_the_privacy_page_and_names_the_default_country(make_services: Any) -> None:
    services = make_services(make_settings(business={"privacy_url": "https://example.com/privacy"}))
    async with TestClient(TestServer(create_web_app(services), host="127.0.0.1", port=0)) as client:
        html = await (await client.get("/")).text()
    assert 'href="https://example.com/privacy"' in html
    assert "read as US (+1)" in html and 'aria-describedby="phone-hint"' in html
    assert re.search(r'<input id="consent"[^>]*>', html) and " checked" not in html
