"""The attack suite: what someone hostile can send to a public form that makes a PBX dial.

Each test sends what an attacker would and checks what they would observe (status, page) and what the system
kept (rows). Routes are listed from the router, so a route added later is covered or fails the table test.
"""

import io
import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from markupsafe import escape
from sqlalchemy import func, select
from webkit import INBOUND_SECRET, count_rows, intake_body, make_settings, start_client

from ari_app.services import Services
from ari_app.sms.twilio import SIGNATURE_HEADER
from ari_app.sms.webhook import SIGNATURE_HEADER as WEBHOOK_SIGNATURE
from ari_app.sms.webhook import sign_webhook
from ari_app.store.models import CallbackRequest, Contact, ContactEvent, Note, SmsOutbox
from ari_app.web import public_reason

API = "/api/v1/callback-requests"
FORM = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "(201) 555-0123",
    "reason": "Roof",
    "consent": "yes",
}

# Strings that would change a dial string (`&` adds a second destination, `/` and `,` change the technology or
# the Dial options), break a log or header line, or try SQL and template injection.
PHONE_ATTACKS = [
    "1234&Local/evil",
    "+12015550123&Local/evil@default",
    "2015550123,,tTr",
    "PJSIP/2015550123@trunk",
    "2015550123/n",
    "201555012\n3",
    "2015550123\r\nX-Injected: 1",
    "2015550123;ext=1",
    "2015550123#",
    "*672015550123",
    "' OR '1'='1",
    "2015550123'); DROP TABLE contacts;--",
    "{{7*7}}",
    "${jndi:ldap://x/a}",
    "%2B12015550123",
    "\u0662\u0660\u0661\u0665\u0665\u0665\u0660\u0661\u0662\u0663",  # Arabic-Indic digits
    "+1 900 555 0123",  # premium rate
    "911",
    "+1 876 555 0123",  # Jamaica shares +1: refused by region
    "",
    "1" * 41,
]
NAME_ATTACKS = [
    "Robert'); DROP TABLE contacts;--",
    "{{ business }}{% for x in range(99999999) %}x{% endfor %}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
]


def _routes(client: TestClient[Any, Any]) -> list[tuple[str, str, str, str | None]]:
    """(method, canonical path, a concrete path, why it is public) for every route but HEAD."""
    out = []
    for route in client.server.app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        canonical = route.resource.canonical
        out.append((route.method, canonical, re.sub(r"\{[^}]+\}", "1", canonical), public_reason(route)))
    return out


async def _stored(db: Any) -> tuple[int, int, int]:
    return (
        await count_rows(db, Contact),
        await count_rows(db, CallbackRequest),
        await count_rows(db, SmsOutbox),
    )


# -- injection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", PHONE_ATTACKS)
async def test_hostile_phone_numbers_are_refused_by_name_and_store_nothing(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any, phone: str
) -> None:
    answer = await client.post(API, json=intake_body(phone=phone), headers=auth)
    assert answer.status == 422, await answer.text()
    assert list((await answer.json())["details"]["fields"]) == ["phone"]
    page = await client.post("/request", data={**FORM, "phone": phone})
    assert page.status == 422
    assert await _stored(db_sessionmaker) == (0, 0, 0)


@pytest.mark.parametrize("name", NAME_ATTACKS)
async def test_hostile_names_are_stored_as_the_text_typed(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any, name: str
) -> None:
    answer = await client.post(API, json=intake_body(first_name=name), headers=auth)
    assert answer.status == 201, await answer.text()
    async with db_sessionmaker() as session:
        assert await session.scalar(select(Contact.first_name)) == name
    detail = await (await client.get(f"{API}/1", headers=auth)).json()
    assert detail["contact"]["first_name"] == name  # JSON carries it verbatim; the type says it isn't HTML


async def test_control_characters_are_removed_from_names(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    name = "Ada\r\nX-Injected: 1\x00\x1b[31m\u202e"
    assert (await client.post(API, json=intake_body(first_name=name), headers=auth)).status == 201
    async with db_sessionmaker() as session:
        assert await session.scalar(select(Contact.first_name)) == "Ada X-Injected: 1[31m"


async def test_overlong_fields_are_refused_by_name(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    for field, size in (("first_name", 101), ("last_name", 101), ("reason", 1001), ("page_url", 2001)):
        answer = await client.post(API, json=intake_body(**{field: "x" * size}), headers=auth)
        assert answer.status == 422
        assert field in (await answer.json())["details"]["fields"]


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", '"><svg onload=alert(1)>', "x' onfocus='alert(1)"]
)
async def test_html_typed_into_the_form_comes_back_escaped(client: TestClient[Any, Any], name: str) -> None:
    # An invalid phone makes the form come back with what was typed in it.
    page = await client.post("/request", data={**FORM, "first_name": name, "last_name": name, "phone": "x"})
    assert page.status == 422
    html = await page.text()
    assert name not in html
    assert f'value="{escape(name)}"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp


async def test_template_syntax_typed_into_the_form_is_shown_not_run(client: TestClient[Any, Any]) -> None:
    page = await client.post("/request", data={**FORM, "first_name": "{{ 7*7 }}", "phone": "x"})
    html = await page.text()
    assert 'value="{{ 7*7 }}"' in html and 'value="49"' not in html


async def test_template_syntax_in_a_name_is_neither_run_nor_texted(
    client: TestClient[Any, Any], auth: dict[str, str], services: Services, db_sessionmaker: Any
) -> None:
    name = "{{ business }}{% if true %}X{% endif %}"
    created = await (await client.post(API, json=intake_body(first_name=name), headers=auth)).json()
    async with db_sessionmaker() as session:
        contact = await session.get(Contact, created["contact_id"])
        request = await session.get(CallbackRequest, created["id"])
        assert contact is not None and request is not None
        # The message the lifecycle writes after a missed call, from the shipped templates.
        message = await services.lifecycle.outreach.queue_sms(
            session, contact, request, "missed_call", key="attack", when="tomorrow at 10 AM"
        )
        await session.commit()
    # Stored as typed, but not a name: the text says none (and the template syntax ran nowhere).
    assert contact.first_name == name
    business = services.settings.business.name
    assert message.body == (
        f"Sorry we missed you. {business} will call again tomorrow at 10 AM. Reply STOP to opt out."
    )


# -- size and rate --------------------------------------------------------------------------------


# Routes that read a body: each must answer 413 to a large one in the type it reads.
BODY_READERS = {
    "/request",
    API,
    f"{API}/1/close",
    "/api/v1/dnc",
    "/api/v1/dnc/import",
    "/hooks/kannel/inbound",
    "/hooks/twilio/inbound",
    "/hooks/twilio/status",
    "/hooks/webhook/inbound",
    "/hooks/webhook/dlr",
}


async def test_a_one_megabyte_body_is_refused_on_every_route(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    big = b"x" * (1536 * 1024)  # past the 1 MiB of the largest (the do-not-call import)
    posted = [(m, p) for m, _, p, _ in _routes(client) if m in ("POST", "PUT", "PATCH")]
    assert len(posted) >= 8
    too_large: set[str] = set()
    for method, path in posted:
        for content_type in ("application/json", "application/x-www-form-urlencoded", "text/csv"):
            answer = await client.request(
                method, path, data=io.BytesIO(big), headers={**auth, "Content-Type": content_type}
            )
            # 413 once read; a route may also refuse unread (wrong type, no provider secret, no such id).
            assert 400 <= answer.status < 500, (method, path, content_type, answer.status)
            if answer.status == 413:
                too_large.add(path)
    assert BODY_READERS <= too_large, BODY_READERS - too_large
    assert await _stored(db_sessionmaker) == (0, 0, 0)


async def test_a_burst_from_one_address_is_cut_at_the_limit_loopback_included(
    make_services: Any, db_sessionmaker: Any
) -> None:
    # Default limits: 10 per address per minute. Every request here comes from 127.0.0.1.
    settings = make_settings(limits={"per_ip_per_minute": 10, "per_number_per_day": 1000})
    client = await start_client(make_services(settings))
    try:
        statuses = []
        for n in range(15):
            answer = await client.post("/request", data={**FORM, "phone": f"+1201555{n:04d}"})
            statuses.append(answer.status)
        assert statuses == [200] * 10 + [429] * 5
        assert int(answer.headers["Retry-After"]) >= 1
        assert await count_rows(db_sessionmaker, CallbackRequest) == 10
    finally:
        await client.close()


async def test_a_burst_for_one_number_is_cut_at_three_a_day(
    make_services: Any, auth: dict[str, str], db_sessionmaker: Any
) -> None:
    settings = make_settings(limits={"per_ip_per_minute": 1000, "per_number_per_day": 3})
    client = await start_client(make_services(settings))
    try:
        for n in range(1, 4):
            created = await client.post(API, json=intake_body(), headers=auth)
            assert created.status == 201
            # Closed by hand, so the next one is a new request (an open one would merge: no call is added).
            close = await client.post(f"{API}/{n}/close", json={"action": "cancel"}, headers=auth)
            assert close.status == 200
        fourth = await client.post(API, json=intake_body(), headers=auth)
        assert fourth.status == 429 and (await fourth.json())["details"]["field"] == "phone"
        page = await client.post("/request", data=FORM)
        assert page.status == 429
        assert await count_rows(db_sessionmaker, CallbackRequest) == 3
    finally:
        await client.close()


# -- who may call what ----------------------------------------------------------------------------

# What someone without credentials gets from each public route (with a harmless or forged request).
PUBLIC_ANSWERS = {
    ("GET", "/"): {200},
    ("POST", "/request"): {422},
    ("GET", "/static/{name}"): {404},
    ("GET", "/healthz"): {200},
    ("GET", "/readyz"): {200, 503},
    ("GET", "/hooks/kannel/inbound"): {403},
    ("POST", "/hooks/kannel/inbound"): {403},
    ("GET", "/hooks/kannel/dlr"): {400, 403, 422},
    ("POST", "/hooks/twilio/inbound"): {403},
    ("POST", "/hooks/twilio/status"): {403},
    ("POST", "/hooks/webhook/inbound"): {403},
    ("POST", "/hooks/webhook/dlr"): {403},
    ("GET", "/media/{tail}"): {403, 404},
    ("GET", "/embed.js"): {200},
    ("GET", "/form/slots"): {200},  # the form's time choice: read-only, nothing stored
    ("GET", "/metrics"): {200, 401, 403},  # loopback may read it unless configured otherwise
    ("GET", "/admin/login"): {200},
    ("POST", "/admin/login"): {400, 403, 422},  # no CSRF token, no credentials
}
# A new public route (marked @public) fails the table test until it is listed above with its expected answer.
LOGIN_REDIRECTS = {302, 303}


async def test_every_route_without_credentials_is_refused_unless_declared_public(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    routes = _routes(client)
    public = {(m, c) for m, c, _, why in routes if why is not None}
    assert public <= set(PUBLIC_ANSWERS), (
        f"public routes without an expected answer: {public - set(PUBLIC_ANSWERS)}"
    )
    for method, canonical, path, why in routes:
        answer = await client.request(method, path, json={}, allow_redirects=False)
        if why is None:
            assert answer.status in {401, 403} | LOGIN_REDIRECTS, (method, canonical, answer.status)
            if answer.status in LOGIN_REDIRECTS:
                assert "login" in answer.headers["Location"], (method, canonical)
        else:
            assert answer.status in PUBLIC_ANSWERS[(method, canonical)], (method, canonical, answer.status)
        assert answer.status < 500
    assert await _stored(db_sessionmaker) == (0, 0, 0)


async def test_security_headers_are_on_every_answer(client: TestClient[Any, Any]) -> None:
    for method, _, path, _ in _routes(client):
        answer = await client.request(method, path, allow_redirects=False)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors" in answer.headers["Content-Security-Policy"], path


# -- forged provider hooks ------------------------------------------------------------------------


async def _world(db: Any) -> tuple[Any, ...]:
    async with db() as session:
        contact = await session.scalar(select(Contact))
        notes = await session.scalar(select(func.count()).select_from(Note))
        events = await session.scalar(select(func.count()).select_from(ContactEvent))
        sms = [(m.id, m.status) for m in await session.scalars(select(SmsOutbox).order_by(SmsOutbox.id))]
        request = await session.scalar(select(CallbackRequest.status))
    assert contact is not None
    return (contact.sms_opted_out, contact.pipeline_stage, notes, events, sms, request)


async def test_forged_provider_hooks_are_refused_and_change_nothing(
    client: TestClient[Any, Any], auth: dict[str, str], services: Services, db_sessionmaker: Any
) -> None:
    created = await (await client.post(API, json=intake_body(), headers=auth)).json()
    async with db_sessionmaker() as session:
        contact = await session.get(Contact, created["contact_id"])
        assert contact is not None
        message = await services.lifecycle.outreach.queue_sms(session, contact, None, "help", key="forged")
        await session.commit()
    key = message.idempotency_key
    before = await _world(db_sessionmaker)
    stop = {"from": "+12015550123", "to": "5550100", "text": "STOP"}
    forged = [
        ("GET", "/hooks/kannel/inbound?" + urlencode(stop), {}, None),
        ("GET", "/hooks/kannel/inbound?" + urlencode({**stop, "secret": "guess"}), {}, None),
        ("GET", "/hooks/kannel/inbound?" + urlencode({**stop, "secret": INBOUND_SECRET[:-1]}), {}, None),
        (
            "POST",
            "/hooks/kannel/inbound",
            {"Content-Type": "application/x-www-form-urlencoded"},
            urlencode(stop),
        ),
        ("GET", "/hooks/kannel/dlr?" + urlencode({"key": key, "type": "1"}), {}, None),
        ("GET", "/hooks/kannel/dlr?" + urlencode({"key": key, "type": "1", "sig": "0" * 64}), {}, None),
        ("POST", "/hooks/twilio/inbound", {}, {"From": "+12015550123", "Body": "STOP", "MessageSid": "SM1"}),
        (
            "POST",
            "/hooks/twilio/inbound",
            {SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl"},
            {"From": "+12015550123", "Body": "STOP", "MessageSid": "SM1"},
        ),
        (
            "POST",
            "/hooks/twilio/status?" + urlencode({"key": key}),
            {SIGNATURE_HEADER: "AAAA"},
            {"MessageSid": "SM2", "MessageStatus": "delivered"},
        ),
        ("POST", "/hooks/webhook/inbound", {WEBHOOK_SIGNATURE: "t=1,v1=00"}, json.dumps(stop)),
        (
            "POST",
            "/hooks/webhook/inbound",
            {WEBHOOK_SIGNATURE: sign_webhook("guess", json.dumps(stop).encode())},
            json.dumps(stop),
        ),
        ("POST", "/hooks/webhook/dlr", {}, json.dumps({"idempotency_key": key, "status": "delivered"})),
    ]
    for method, path, headers, data in forged:
        answer = await client.request(method, path, headers=headers, data=data)
        assert answer.status in (400, 403), (method, path, answer.status)
    assert await _world(db_sessionmaker) == before
