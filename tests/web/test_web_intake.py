"""Intake over HTTP: the JSON API and the public form, as a browser or an integration sees them."""

import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from webkit import LEAD, count_rows, intake_body, make_settings, start_client

from ari_app.domain.validation import FALLBACK
from ari_app.store.models import Attempt, CallbackRequest, Consent, Contact, IdempotencyKey, Note

API = "/api/v1/callback-requests"
UA = "Mozilla/5.0 (test browser)"


async def test_intake_creates_a_pending_request_with_its_first_call_planned(
    client: TestClient[Any, Any], auth: dict[str, str], wakes: list[int]
) -> None:
    answer = await client.post(
        API, json=intake_body(page_url="https://shop.example/contact"), headers={**auth, "User-Agent": UA}
    )
    assert answer.status == 201
    body = await answer.json()
    assert body["status"] == "pending" and body["merged"] is False
    assert body["planned_at"].startswith("2025-03-04T15:01")
    assert wakes == [1]

    contact = await (await client.get(f"/api/v1/contacts/{body['contact_id']}", headers=auth)).json()
    assert contact["phone"] == LEAD
    assert contact["tags"] == ["Request to Callback Pending"]
    assert contact["pipeline_stage"] == "Callback requested"
    assert any(n["text"] == "Callback requested: Question about my invoice" for n in contact["notes"])
    [consent] = contact["consents"]
    assert consent["ip"] == "127.0.0.1"
    assert consent["user_agent"] == UA
    assert consent["page_url"] == "https://shop.example/contact"
    assert consent["source"] == "api"
    assert consent["text"].startswith("I agree to receive a phone call")  # the configured text
    [attempt] = contact["attempts"]
    assert attempt["status"] == "scheduled" and attempt["due_at"] == body["planned_at"]


async def test_consent_text_given_by_the_caller_is_stored_verbatim(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    answer = await client.post(API, json=intake_body(consent_text="Yes, call me."), headers=auth)
    assert answer.status == 201
    async with db_sessionmaker() as session:
        consent = await session.scalar(select(Consent))
    assert consent is not None and consent.text == "Yes, call me."


async def test_a_second_request_from_the_same_number_is_merged(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    first = await (await client.post(API, json=intake_body(), headers=auth)).json()
    again = await client.post(
        API, json=intake_body(phone="+1 201 555 0123", reason="Still waiting"), headers=auth
    )
    assert again.status == 200
    body = await again.json()
    assert body["id"] == first["id"] and body["merged"] is True
    assert await count_rows(db_sessionmaker, CallbackRequest) == 1
    assert await count_rows(db_sessionmaker, Attempt) == 1


async def test_idempotency_key_replays_the_answer_and_refuses_another_body(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    headers = {**auth, "Idempotency-Key": "order-17"}
    first = await client.post(API, json=intake_body(), headers=headers)
    replay = await client.post(API, json=intake_body(), headers=headers)
    assert (first.status, replay.status) == (201, 201)
    assert await replay.json() == await first.json()
    other = await client.post(API, json=intake_body(reason="Something else"), headers=headers)
    assert other.status == 409
    assert (await other.json())["error"] == "conflict"
    assert await count_rows(db_sessionmaker, IdempotencyKey) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "1234&Local/evil"}, "phone"),
        ({"phone": "+1 201 555 0123\nChannel: PJSIP/evil"}, "phone"),
        ({"phone": "+12015550123,,1"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"consent": ...}, "consent"),
        ({"consent": "true"}, "consent"),
        ({"consent": False}, "consent"),
        ({"reason": "x" * 2048}, "reason"),
        ({"first_name": "A" * 101}, "first_name"),
        ({"last_name": "   "}, "last_name"),
        ({"first_name": 42}, "first_name"),
        ({"admin": True}, "admin"),
    ],
)
async def test_each_invalid_field_is_named_and_nothing_is_stored(
    client: TestClient[Any, Any],
    auth: dict[str, str],
    db_sessionmaker: Any,
    changes: dict[str, Any],
    field: str,
) -> None:
    answer = await client.post(API, json=intake_body(**changes), headers=auth)
    assert answer.status == 422
    body = await answer.json()
    assert body["error"] == "validation-failed"
    assert list(body["details"]["fields"]) == [field]
    assert body["details"]["fields"][field]["message"]
    for model in (Contact, CallbackRequest, Consent, Note, Attempt):
        assert await count_rows(db_sessionmaker, model) == 0


async def test_several_invalid_fields_are_all_named(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    answer = await client.post(API, json={"phone": "abc", "consent": "yes", "extra": 1}, headers=auth)
    assert answer.status == 422
    fields = (await answer.json())["details"]["fields"]
    assert fields.keys() == {"first_name", "last_name", "reason", "phone", "consent", "extra"}
    assert fields["phone"]["code"] == "invalid_chars"
    assert fields["extra"]["code"] == "extra_forbidden"
    assert fields["first_name"]["code"] == "missing"
    # One voice: our words for every field, never pydantic's ("Input should be True").
    assert fields["consent"] == {"code": "literal_error", "message": "must be true"}
    assert fields["extra"]["message"] == "unknown field"
    assert fields["first_name"]["message"] == "this field is required"
    assert fields["phone"]["message"].startswith("A phone number may contain only")


@pytest.mark.parametrize(
    "changes",
    [
        {"consent": "yes"},
        {"first_name": 42},
        {"first_name": "x" * 101},
        {"reason": ["a"]},
        {"page_url": {"a": 1}},
        {"consent": None},
        {"admin": True},
    ],
)
async def test_no_field_message_is_pydantic_text(
    client: TestClient[Any, Any], auth: dict[str, str], changes: dict[str, Any]
) -> None:
    answer = await client.post(API, json=intake_body(**changes), headers=auth)
    assert answer.status == 422
    body = await answer.json()
    for entry in body["details"]["fields"].values():
        message = entry["message"]
        assert not message[:1].isupper() and "Input should" not in message and "inputs" not in message
        assert message != FALLBACK, entry["code"]


async def test_a_body_that_is_not_json_is_told_where_in_our_words(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    answer = await client.post(
        API, data=b'{"first_name": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert answer.status == 400
    body = await answer.json()
    assert body == {"error": "malformed-json", "message": "the body is not valid JSON (line 1, column 16)"}


async def test_aiohttp_refusals_speak_our_words(client: TestClient[Any, Any], auth: dict[str, str]) -> None:
    answer = await client.put(API, json={}, headers=auth)
    assert answer.status == 405
    assert (await answer.json()) == {
        "error": "method-not-allowed",
        "message": "this method is not allowed here",
    }


async def test_html_in_names_is_stored_as_text(
    client: TestClient[Any, Any], auth: dict[str, str], db_sessionmaker: Any
) -> None:
    name = "<script>alert(1)</script>"
    answer = await client.post(
        API, json=intake_body(first_name=name, reason="a\x00b\x1b[31mc\r\nd"), headers=auth
    )
    assert answer.status == 201
    async with db_sessionmaker() as session:
        contact = await session.scalar(select(Contact))
        request = await session.scalar(select(CallbackRequest))
    assert contact is not None and contact.first_name == name
    assert request is not None and request.reason == "ab[31mc\nd"  # control characters gone, newline kept


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [
        (b'{"first_name": "Ada",', "application/json", 400, "malformed-json"),
        (b"\xff\xfe", "application/json", 400, "malformed-json"),
        (b"[1, 2]", "application/json", 422, "validation-failed"),
        (b"first_name=Ada", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ],
)
async def test_bodies_that_are_not_a_json_object_are_refused(
    client: TestClient[Any, Any], auth: dict[str, str], raw: bytes, content_type: str, status: int, error: str
) -> None:
    answer = await client.post(API, data=raw, headers={**auth, "Content-Type": content_type})
    assert answer.status == status
    assert (await answer.json())["error"] == error


async def test_a_one_megabyte_body_is_refused_with_413(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    big = b'{"reason": "' + b"x" * (1024 * 1024) + b'"}'
    form = b"first_name=" + b"x" * (1024 * 1024)
    for path, raw, content_type in (
        (API, big, "application/json"),
        ("/request", form, "application/x-www-form-urlencoded"),
    ):
        answer = await client.post(path, data=io.BytesIO(raw), headers={**auth, "Content-Type": content_type})
        assert answer.status == 413
        assert (await answer.json())["error"] == "body-too-large"


async def test_the_form_page_is_accessible_and_self_contained(client: TestClient[Any, Any]) -> None:
    answer = await client.get("/")
    assert answer.status == 200
    html = await answer.text()
    for label in ("First name", "Last name", "Phone", "Reason"):
        assert f">{label}</label>" in html
    assert 'type="checkbox"' in html and " checked" not in html
    assert "I agree to receive a phone call" in html
    assert "http://" not in html and "https://" not in html  # no third-party requests
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"]
    css = await client.get("/static/form.css")
    assert css.status == 200 and css.content_type == "text/css"


FORM = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "phone": "201-555-0123",
    "reason": "New order",
    "consent": "yes",
}


async def test_the_form_confirms_when_we_will_call(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    answer = await client.post(
        "/request", data=FORM, headers={"Referer": "https://shop.example/p", "User-Agent": UA}
    )
    assert answer.status == 200
    assert "We'll call you today at 10:01 AM." in (await answer.text()).replace("&#39;", "'")
    async with db_sessionmaker() as session:
        consent = await session.scalar(select(Consent))
    assert consent is not None
    assert (consent.source, consent.page_url, consent.ip, consent.user_agent) == (
        "form",
        "https://shop.example/p",
        "127.0.0.1",
        UA,
    )
    assert consent.text.startswith("I agree to receive a phone call")


async def test_the_form_shows_errors_inline_and_escapes_what_was_typed(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    data = {**FORM, "first_name": "<b>Bold</b>", "phone": "1234&Local/evil"}
    del data["consent"]
    answer = await client.post("/request", data=data)
    assert answer.status == 422
    html = await answer.text()
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html and "<b>Bold</b>" not in html
    assert 'id="phone-error"' in html and 'id="consent-error"' in html
    assert 'id="first_name-error"' not in html
    assert await count_rows(db_sessionmaker, Contact) == 0


async def test_the_honeypot_pretends_success_and_stores_nothing(
    client: TestClient[Any, Any], db_sessionmaker: Any
) -> None:
    answer = await client.post("/request", data={**FORM, "website": "http://spam.example"})
    assert answer.status == 200
    assert "call you" in await answer.text()
    assert await count_rows(db_sessionmaker, Contact) == 0


async def test_the_form_is_rate_limited_per_address(make_services: Any, db_sessionmaker: Any) -> None:
    services = make_services(make_settings(limits={"per_ip_per_minute": 2}))
    client = await start_client(services)
    try:
        statuses = []
        for n in range(3):
            answer = await client.post("/request", data={**FORM, "phone": f"201-555-01{n:02d}"})
            statuses.append(answer.status)
        assert statuses == [200, 200, 429]
        assert int(answer.headers["Retry-After"]) > 0
        assert await count_rows(db_sessionmaker, CallbackRequest) == 2
    finally:
        await client.close()


async def test_new_requests_per_number_are_limited_per_day(
    make_services: Any, auth: dict[str, str], db_sessionmaker: Any
) -> None:
    services = make_services(make_settings(limits={"per_number_per_day": 1}))
    client = await start_client(services)
    try:
        first = await (await client.post(API, json=intake_body(), headers=auth)).json()
        merged = await client.post(API, json=intake_body(), headers=auth)
        assert merged.status == 200  # an open request: merged, nobody called twice, not limited
        closed = await client.post(f"{API}/{first['id']}/close", json={"action": "complete"}, headers=auth)
        assert closed.status == 200
        limited = await client.post(API, json=intake_body(), headers=auth)
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert (await limited.json())["error"] == "rate-limited"
        assert await count_rows(db_sessionmaker, CallbackRequest) == 1
    finally:
        await client.close()


@pytest.mark.parametrize(
    "body",
    [
        b'{"first_name": "\\u0000\\ud800", "last_name": "x", "phone": "+12015550123", '
        b'"reason": "r", "consent": true}',
        b'{"first_name": "A", "last_name": "B", "phone": "+12015550123", '
        b'"reason": "\\u0000", "consent": true}',
        b'{"first_name": NaN}',
        b"[" * 5000 + b"]" * 5000,
        b'{"phone": 12015550123}',
        b'{"page_url": "\\u0000", "consent_text": "\\ud83d"}',
        b"null",
        b"",
    ],
)
async def test_odd_bodies_never_cause_a_server_error(
    client: TestClient[Any, Any], auth: dict[str, str], body: bytes
) -> None:
    answer = await client.post(API, data=body, headers={**auth, "Content-Type": "application/json"})
    assert 400 <= answer.status < 500, await answer.text()
    assert (await answer.json())["error"]
