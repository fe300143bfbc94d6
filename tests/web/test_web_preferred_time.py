"""The lead chooses when: the form's time choice, the API's ``preferred_at``, what the dashboard shows, and
the one SMS when a chosen time can no longer be kept (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from webkit import count_rows, intake_body, make_settings, start_client

from ari_app.clock import VirtualClock
from ari_app.lifecycle import Lifecycle
from ari_app.services import Services
from ari_app.settings import Settings
from ari_app.store.claims import claim_due_attempts
from ari_app.store.models import Attempt, CallbackRequest, Contact, Note, SmsOutbox
from ari_app.web.dashboard_auth import add_user

API = "/api/v1/callback-requests"
LA_LEAD = "+12132345678"  # Los Angeles: three hours behind the office
# The office is open 09:00-17:00 New York time on weekdays; the tests start Tuesday 4 March 2025, 10:00 EST.
OFFICE = {"always_open": False, "weekdays": [{"start": "09:00", "end": "17:00"}]}
WED_NOON = "2025-03-05T17:00:00+00:00"  # Wednesday 12:00 EST = 09:00 PST
FORM = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "phone": "213-234-5678",
    "reason": "Order",
    "consent": "yes",
}


@pytest.fixture
def settings() -> Settings:
    return make_settings(calendar=OFFICE, web={"public_url": ""})


def _text(html: str) -> str:
    return html.replace("&#39;", "'")


# -- the API -------------------------------------------------------------------------------------------


async def test_the_api_plans_the_first_call_at_the_chosen_time(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    answer = await client.post(API, json=intake_body(preferred_at="2025-03-05T12:00:00-05:00"), headers=auth)
    assert answer.status == 201, await answer.text()
    body = await answer.json()
    assert body["planned_at"] == WED_NOON
    detail = await (await client.get(f"{API}/{body['id']}", headers=auth)).json()
    assert detail["preferred_at"] == WED_NOON
    [attempt] = detail["attempts"]
    assert attempt["due_at"] == WED_NOON and attempt["evidence"]["preferred_at"] == WED_NOON


async def test_as_soon_as_possible_is_the_default_and_may_be_said(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    answer = await client.post(API, json=intake_body(as_soon_as_possible=True), headers=auth)
    assert answer.status == 201
    body = await answer.json()
    assert body["planned_at"].startswith("2025-03-04T15:01")
    detail = await (await client.get(f"{API}/{body['id']}", headers=auth)).json()
    assert detail["preferred_at"] is None


async def test_a_second_request_with_a_time_moves_the_open_requests_next_call(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    first = await (await client.post(API, json=intake_body(), headers=auth)).json()
    again = await client.post(
        API, json=intake_body(reason="Tomorrow is better", preferred_at=WED_NOON), headers=auth
    )
    assert again.status == 200
    body = await again.json()
    assert body["merged"] is True and body["id"] == first["id"] and body["planned_at"] == WED_NOON
    detail = await (await client.get(f"{API}/{first['id']}", headers=auth)).json()
    assert detail["preferred_at"] == WED_NOON
    assert [a["due_at"] for a in detail["attempts"]] == [WED_NOON]  # moved, never a second call
    contact = await (await client.get(f"/api/v1/contacts/{first['contact_id']}", headers=auth)).json()
    assert any(n["text"].endswith("the next call moves there)") for n in contact["notes"])


async def test_a_second_request_with_a_time_leaves_a_call_already_claimed_alone(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    first = await (await client.post(API, json=intake_body(), headers=auth)).json()
    at = datetime.fromisoformat(first["planned_at"])
    assert await claim_due_attempts(db_sessionmaker, now=at, worker="w1", lease_seconds=60.0, limit=5)
    again = await client.post(API, json=intake_body(preferred_at=WED_NOON), headers=auth)
    assert again.status == 200
    assert (await again.json())["planned_at"] == first["planned_at"]
    detail = await (await client.get(f"{API}/{first['id']}", headers=auth)).json()
    assert detail["preferred_at"] is None
    contact = await (await client.get(f"/api/v1/contacts/{first['contact_id']}", headers=auth)).json()
    assert any(n["text"].endswith("a call is under way, the plan stays)") for n in contact["notes"])


async def test_a_saturday_is_refused_with_the_next_allowed_time_and_nothing_is_stored(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    answer = await client.post(API, json=intake_body(preferred_at="2025-03-08T11:00:00-05:00"), headers=auth)
    assert answer.status == 422
    body = await answer.json()
    # Monday 09:00 in New York, after the change to summer time (EDT, UTC-4).
    assert body["details"]["next_allowed_at"] == "2025-03-10T13:00:00+00:00"
    field = body["details"]["fields"]["preferred_at"]
    assert field["code"] == "outside_hours"
    assert "Mon 10 Mar at 9:00 AM Eastern time (EDT)" in field["message"]
    assert await count_rows(db_sessionmaker, CallbackRequest) == 0


async def test_a_time_in_the_past_is_refused_naming_now(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    answer = await client.post(API, json=intake_body(preferred_at="2025-03-04T14:00:00Z"), headers=auth)
    assert answer.status == 422
    body = await answer.json()
    assert body["details"]["fields"]["preferred_at"]["code"] == "in_the_past"
    assert body["details"]["next_allowed_at"].startswith("2025-03-04T15:0")
    assert await count_rows(db_sessionmaker, Contact) == 0


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"preferred_at": "2025-03-05T12:00:00"}, "preferred_at", "no_offset"),
        ({"preferred_at": "tomorrow at 3"}, "preferred_at", "not_a_time"),
        ({"preferred_at": 1741194000}, "preferred_at", "not_a_time"),
        ({"preferred_at": WED_NOON, "as_soon_as_possible": True}, "as_soon_as_possible", "conflict"),
        ({"as_soon_as_possible": False}, "preferred_at", "missing"),
        ({"as_soon_as_possible": "yes"}, "as_soon_as_possible", "bool_type"),
    ],
)
async def test_unclear_choices_are_refused_by_field(
    client: TestClient[Any, Any], auth: dict[str, str], changes: dict[str, Any], field: str, code: str
) -> None:
    answer = await client.post(API, json=intake_body(**changes), headers=auth)
    assert answer.status == 422
    assert (await answer.json())["details"]["fields"][field]["code"] == code


async def test_the_openapi_document_describes_the_choice(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    doc = await (await client.get("/api/v1/openapi.json", headers=auth)).json()
    props = doc["components"]["schemas"]["CallbackRequestIn"]["properties"]
    assert {"type": "string", "format": "date-time"} in props["preferred_at"]["anyOf"]
    assert "next_allowed_at" in props["preferred_at"]["description"]
    assert "preferred_at" in doc["components"]["schemas"]["CallbackRequestDetail"]["required"]


# -- the form ------------------------------------------------------------------------------------------


def _options(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', html)


async def test_the_form_offers_as_soon_as_possible_first_and_times_in_the_business_zone(
    client: TestClient[Any, Any],
) -> None:
    html = await (await client.get("/")).text()
    assert '<label for="preferred_at">When should we call?</label>' in html
    assert 'aria-describedby="preferred_at-zone"' in html
    assert "Times are in <span data-zone-label>Eastern time (EST)</span>." in html
    options = _options(html)
    assert options[0] == ("", "As soon as possible")
    assert " selected" not in html  # nothing chosen: as soon as possible
    # 10:00 now: 10:15 is too soon, 17:00 is closed; three days are offered.
    assert options[1] == ("2025-03-04T15:30:00+00:00", "Tue 4 Mar, 10:30 AM")
    assert ("2025-03-04T21:30:00+00:00", "Tue 4 Mar, 4:30 PM") in options
    assert not any(value.startswith("2025-03-04T22:00") for value, _ in options)
    assert re.findall(r'<optgroup label="([^"]+)">', html) == ["Tue 4 Mar", "Wed 5 Mar", "Thu 6 Mar"]


async def test_the_form_script_gets_times_in_the_browsers_zone_for_the_number_typed(
    client: TestClient[Any, Any],
) -> None:
    la = await (
        await client.get("/form/slots", params={"tz": "America/Los_Angeles", "phone": "213-234-5678"})
    ).json()
    assert (la["zone"], la["zone_label"], la["browser_zone"]) == (
        "America/Los_Angeles",
        "Pacific time (PST)",
        "America/Los_Angeles",
    )
    # 07:00 in Los Angeles: the lead's quiet hours start at 08:00 their time.
    assert la["days"][0]["slots"][0] == {"value": "2025-03-04T16:00:00+00:00", "label": "Tue 4 Mar, 8:00 AM"}
    # A New Jersey number read in Los Angeles: its own quiet hours, the browser's clock.
    nj = await (
        await client.get("/form/slots", params={"tz": "America/Los_Angeles", "phone": "201-555-0123"})
    ).json()
    assert nj["days"][0]["slots"][0] == {"value": "2025-03-04T15:30:00+00:00", "label": "Tue 4 Mar, 7:30 AM"}
    odd = await (
        await client.get("/form/slots", params={"tz": "../../etc/passwd", "phone": "<script>"})
    ).json()
    assert (odd["zone"], odd["browser_zone"]) == ("America/New_York", "")


async def test_the_form_stores_the_chosen_time_and_confirms_it_in_the_zone_shown(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    data = {**FORM, "preferred_at": WED_NOON, "tz": "America/Los_Angeles", "shown_tz": "America/Los_Angeles"}
    answer = await client.post("/request", data=data)
    assert answer.status == 200, await answer.text()
    assert "We'll call you on Wed 5 Mar at 9:00 AM Pacific time (PST), the time you chose." in _text(
        await answer.text()
    )
    async with db_sessionmaker() as session:
        request = await session.scalar(select(CallbackRequest))
        attempt = await session.scalar(select(Attempt))
    assert request is not None and attempt is not None
    assert request.preferred_at == datetime(2025, 3, 5, 17, 0, tzinfo=UTC)
    assert request.preferred_tz == "America/Los_Angeles"
    assert attempt.due_at == request.preferred_at


async def test_a_form_time_no_longer_offered_comes_back_with_the_next_time_and_nothing_stored(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    # A time in Los Angeles before 08:00 (the page sat open in New York): the number's quiet hours refuse it.
    data = {**FORM, "preferred_at": "2025-03-05T14:00:00+00:00", "shown_tz": "America/New_York"}
    answer = await client.post("/request", data=data)
    assert answer.status == 422
    html = _text(await answer.text())
    assert 'id="preferred_at-error"' in html and 'aria-invalid="true"' in html
    assert (
        "We can't call at that time. The next time we can call is Wed 5 Mar at 11:00 AM Eastern time" in html
    )
    # The page comes back in the number's zone (no script told us the browser's), as soon as possible chosen.
    assert "Pacific time (PST)" in html and " selected" not in html
    assert await count_rows(db_sessionmaker, CallbackRequest) == 0


async def test_as_soon_as_possible_on_the_form_needs_nothing_else(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    answer = await client.post("/request", data={**FORM, "preferred_at": ""})
    assert answer.status == 200
    assert "We'll call you today at" in _text(await answer.text())
    async with db_sessionmaker() as session:
        request = await session.scalar(select(CallbackRequest))
    assert request is not None and request.preferred_at is None


async def test_the_board_and_the_contact_page_show_the_chosen_time(
    services: Services, client: TestClient[Any, Any]
) -> None:
    data = {**FORM, "preferred_at": WED_NOON, "tz": "America/Los_Angeles", "shown_tz": "America/Los_Angeles"}
    assert (await client.post("/request", data=data)).status == 200
    await add_user(services.sessions, "ops", "correct horse battery")
    page = await client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf
    form = {"username": "ops", "password": "correct horse battery", "csrf": csrf.group(1), "next": "/admin/"}
    assert (await client.post("/admin/login", data=form, allow_redirects=False)).status == 303
    board = await (await client.get("/admin/")).text()
    assert "<dt>Lead asked for</dt><dd data-preferred>Wed 5 Mar, 12:00 EST (lead: 09:00 PST)</dd>" in board
    contact = await (await client.get("/admin/contacts/1")).text()
    assert "<dt>Lead asked for</dt><dd>Wed 5 Mar, 12:00 EST (lead: 09:00 PST)</dd>" in contact


# -- when the chosen time comes and can't be kept ------------------------------------------------------


async def test_a_chosen_time_that_became_a_holiday_moves_and_the_lead_is_told_once(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    answer = await client.post(API, json=intake_body(phone=LA_LEAD, preferred_at=WED_NOON), headers=auth)
    assert answer.status == 201
    # The operator makes Wednesday and Thursday holidays and restarts; the worker claims the attempt at noon.
    closed = make_settings(calendar={**OFFICE, "holidays": ["2025-03-05", "2025-03-06"]})
    for claimed_at, expected in (
        (datetime(2025, 3, 5, 17, 0, 5, tzinfo=UTC), datetime(2025, 3, 7, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 7, 16, 0, 5, tzinfo=UTC), None),
    ):
        lifecycle = Lifecycle(closed, VirtualClock(claimed_at, speed=1.0))
        if expected is None:  # the moved call, in its turn moved again (a Friday that closed too)
            lifecycle = Lifecycle(
                make_settings(calendar={**OFFICE, "holidays": ["2025-03-05", "2025-03-06", "2025-03-07"]}),
                VirtualClock(claimed_at, speed=1.0),
            )
        [attempt_id] = await claim_due_attempts(
            db_sessionmaker, now=claimed_at, worker="w1", lease_seconds=60.0, limit=5
        )
        async with db_sessionmaker.begin() as session:
            assert await lifecycle.attempts.begin(session, attempt_id, app="callback", server="pbx") is None
        async with db_sessionmaker() as session:
            attempt = await session.get(Attempt, attempt_id)
            assert attempt is not None and attempt.status == "scheduled"
            if expected is not None:
                # Friday 08:00 in Los Angeles (11:00 in New York): the lead's quiet hours, the office open.
                assert attempt.due_at == expected
    async with db_sessionmaker() as session:
        texts = list(await session.scalars(select(SmsOutbox)))
    assert len(texts) == 1  # moved twice, told once
    async with db_sessionmaker() as session:
        notes = [n.text for n in await session.scalars(select(Note).order_by(Note.id))]
    assert notes[-2:] == [
        "Attempt moved: the time the lead chose is no longer allowed; a text tells the lead",
        "Attempt moved: outside the allowed hours now",
    ]
    [sms] = texts
    assert sms.kind == "preferred_time_moved" and sms.to_phone == LA_LEAD
    assert sms.body.endswith(
        ": sorry Ada, we can't call at the time you chose. We will call you on Friday at 8:00 AM instead. "
        "Reply STOP to opt out."
    )


async def test_a_chosen_time_still_allowed_is_dialled_without_a_text(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any, settings: Settings
) -> None:
    assert (await client.post(API, json=intake_body(preferred_at=WED_NOON), headers=auth)).status == 201
    at = datetime(2025, 3, 5, 17, 0, 5, tzinfo=UTC)
    lifecycle = Lifecycle(settings, VirtualClock(at, speed=1.0))
    [attempt_id] = await claim_due_attempts(db_sessionmaker, now=at, worker="w1", lease_seconds=60.0, limit=5)
    async with db_sessionmaker.begin() as session:
        start = await lifecycle.attempts.begin(session, attempt_id, app="callback", server="pbx")
    assert start is not None
    assert await count_rows(db_sessionmaker, SmsOutbox) == 0


async def test_the_form_in_the_embed_keeps_the_choice(make_services: Any) -> None:
    client = await start_client(make_services(make_settings(calendar=OFFICE, web={"public_url": ""})))
    try:
        html = await (await client.get("/", params={"embed": "1"})).text()
    finally:
        await client.close()
    assert (
        'class="embedded"' in html and 'name="preferred_at"' in html and 'action="/request?embed=1"' in html
    )
