"""AMD you can trust, over HTTP: labels from the API and the dashboard (CSRF), the press of 9 as a label,
and the accuracy report (API, report page, Prometheus), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from webkit import START, intake_body, make_settings

from ari_app.domain.attempts import AttemptResult
from ari_app.domain.outcomes import Outcome
from ari_app.services import Services
from ari_app.settings import Settings
from ari_app.store.models import Attempt, ContactEvent, Leg, Note
from ari_app.web.dashboard_auth import add_user

PASSWORD = "correct horse battery"


@pytest.fixture
def settings() -> Settings:
    # Plain http here, so the test client's cookie jar sends the (not Secure) session cookie back.
    return make_settings(web={"public_url": ""})


def _bearer() -> dict[str, str]:
    from webkit import API_TOKEN

    return {"Authorization": f"Bearer {API_TOKEN}"}


async def _request(client: TestClient[Any, Any], n: int) -> int:
    """A new request from lead number ``n``; its first attempt's id."""
    answer = await client.post(
        "/api/v1/callback-requests", json=intake_body(phone=f"+1201555{n:04d}"), headers=_bearer()
    )
    assert answer.status == 201, await answer.text()
    detail = await (
        await client.get(f"/api/v1/callback-requests/{(await answer.json())['id']}", headers=_bearer())
    ).json()
    return int(detail["attempts"][0]["id"])


async def _call(
    services: Services,
    attempt_id: int,
    *,
    answered: bool = True,
    amd: str | None = "MACHINE",
    cause: str = "LONGGREETING-1500-1500",
    seconds: float = 3.0,
    drop_early: bool | None = None,
    endpoint: str = "PJSIP/12015550000@trunk",
    result: AttemptResult | None = None,
) -> None:
    """The attempt ran (its lead leg as the call journals it), then ended."""
    now = services.clock.now()
    async with services.sessions() as session:
        attempt = await session.get(Attempt, attempt_id)
        assert attempt is not None
        attempt.status, attempt.started_at, attempt.admin_name = "running", now, "Admin"
        session.add(
            Leg(
                attempt_id=attempt_id,
                role="lead",
                try_no=1,
                channel_id=f"cb-test-{attempt_id}-lead-1",
                endpoint=endpoint,
                state="ended",
                amd_status=amd if answered else None,
                amd_cause=cause if answered and amd else None,
                amd_seconds=seconds if answered and amd else None,
                drop_early=drop_early,
                answered_at=now + timedelta(seconds=5) if answered else None,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        outcome = Outcome.VOICEMAIL_LEFT if answered else Outcome.LEAD_NO_ANSWER
        await services.lifecycle.attempts.finish(
            session, attempt_id, result or AttemptResult(outcome, "test")
        )
        await session.commit()


async def _login(client: TestClient[Any, Any], services: Services) -> str:
    await add_user(services.sessions, "ops", PASSWORD)
    page = await client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf
    answer = await client.post(
        "/admin/login",
        data={"username": "ops", "password": PASSWORD, "csrf": csrf.group(1), "next": "/admin/"},
        allow_redirects=False,
    )
    assert answer.status == 303
    board = await (await client.get("/admin/")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', board)
    assert found
    return found.group(1)


# -- labels through the API ---------------------------------------------------------------------------


async def test_the_api_labels_an_answered_attempt_and_a_later_label_replaces_it_on_the_timeline(
    client: TestClient[Any, Any], services: Services
) -> None:
    attempt_id = await _request(client, 1)
    await _call(services, attempt_id)
    answer = await client.post(
        f"/api/v1/attempts/{attempt_id}/label", json={"label": "person"}, headers=_bearer()
    )
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert (body["lead_label"], body["lead_label_by"]) == ("person", "api")
    lead = body["legs"][0]
    assert (lead["amd_status"], lead["amd_cause"], lead["amd_seconds"]) == (
        "MACHINE",
        "LONGGREETING-1500-1500",
        3.0,
    )

    again = await client.post(
        f"/api/v1/attempts/{attempt_id}/label", json={"label": "machine"}, headers=_bearer()
    )
    assert (await again.json())["lead_label"] == "machine"
    contact = await (await client.get("/api/v1/contacts/1", headers=_bearer())).json()
    assert contact["attempts"][0]["lead_label"] == "machine"
    labelled = [e["data"] for e in contact["events"] if e["type"] == "attempt.labelled"]
    assert {(e["label"], e["previous"]) for e in labelled} == {("person", None), ("machine", "person")}
    notes = [n["text"] for n in contact["notes"] if n["kind"] == "label"]
    assert any("says a machine answered (was labelled person)" in n for n in notes)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"label": "robot"}, 422, "validation-failed"),
        ({}, 422, "validation-failed"),
        ({"label": "person", "x": 1}, 422, "validation-failed"),
    ],
)
async def test_a_bad_label_is_refused_with_the_field_named(
    client: TestClient[Any, Any], services: Services, body: dict[str, Any], status: int, error: str
) -> None:
    attempt_id = await _request(client, 2)
    await _call(services, attempt_id)
    answer = await client.post(f"/api/v1/attempts/{attempt_id}/label", json=body, headers=_bearer())
    assert answer.status == status
    assert (await answer.json())["error"] == error


async def test_only_a_finished_attempt_whose_lead_answered_can_be_labelled(
    client: TestClient[Any, Any], services: Services
) -> None:
    waiting = await _request(client, 3)  # scheduled, never ran
    answer = await client.post(
        f"/api/v1/attempts/{waiting}/label", json={"label": "person"}, headers=_bearer()
    )
    assert answer.status == 409 and "not ended" in (await answer.json())["message"]
    rang_out = await _request(client, 4)
    await _call(services, rang_out, answered=False)
    answer = await client.post(
        f"/api/v1/attempts/{rang_out}/label", json={"label": "person"}, headers=_bearer()
    )
    assert answer.status == 409 and "nobody answered" in (await answer.json())["message"]
    missing = await client.post("/api/v1/attempts/999999/label", json={"label": "person"}, headers=_bearer())
    assert missing.status == 404
    unauth = await client.post(f"/api/v1/attempts/{rang_out}/label", json={"label": "person"})
    assert unauth.status == 401
    async with services.sessions() as session:
        assert (
            list(await session.scalars(select(Attempt.lead_label).where(Attempt.lead_label.is_not(None))))
            == []
        )


async def test_pressing_the_drop_key_is_a_machine_label_given_by_that_admin(
    client: TestClient[Any, Any], services: Services
) -> None:
    attempt_id = await _request(client, 5)
    await _call(
        services,
        attempt_id,
        amd=None,
        result=AttemptResult(
            Outcome.VOICEMAIL_LEFT, "admin pressed the drop key", admin_name="Alice", admin_said_machine=True
        ),
    )
    async with services.sessions() as session:
        attempt = await session.get(Attempt, attempt_id)
        assert attempt is not None
        assert (attempt.lead_label, attempt.lead_label_by) == ("machine", "Alice")
        assert attempt.lead_label_at is not None and attempt.ended_at is not None  # labelled as it ended
        events = list(await session.scalars(select(ContactEvent.type)))
        assert "attempt.labelled" in events


# -- labels from the dashboard -------------------------------------------------------------------------


async def test_the_contact_page_and_the_board_offer_one_tap_labels_guarded_by_csrf(
    client: TestClient[Any, Any], services: Services
) -> None:
    attempt_id = await _request(client, 6)
    await _call(services, attempt_id, drop_early=True)
    csrf = await _login(client, services)
    page = await (await client.get("/admin/contacts/1")).text()
    assert f'action="/admin/attempts/{attempt_id}/label"' in page
    assert "a machine (a long greeting: 1500 ms, limit 1500 ms), in 3.0 s" in page
    assert "started before the beep" in page
    board = await (await client.get("/admin/board")).text()  # the live fragment carries the token too
    assert f'action="/admin/attempts/{attempt_id}/label"' in board and f'value="{csrf}"' in board

    forged = await client.post(
        f"/admin/attempts/{attempt_id}/label",
        data={"label": "person", "csrf": "forged"},
        allow_redirects=False,
    )
    assert forged.status == 403
    async with services.sessions() as session:
        assert (await session.get(Attempt, attempt_id)).lead_label is None  # type: ignore[union-attr]

    done = await client.post(
        f"/admin/attempts/{attempt_id}/label",
        data={"label": "person", "csrf": csrf, "next": "/admin/contacts/1"},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/admin/contacts/1?done=label"
    page = await (await client.get("/admin/contacts/1?done=label")).text()
    assert "Label saved" in page and 'value="person" class="secondary" aria-pressed="true"' in page
    assert "A person, said by admin:ops" in page
    from_board = await client.post(
        f"/admin/attempts/{attempt_id}/label",
        data={"label": "machine", "csrf": csrf, "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert from_board.headers["Location"] == "/admin/?done=label"  # never another site
    async with services.sessions() as session:
        notes = list(await session.scalars(select(Note.text).where(Note.kind == "label")))
    assert any("admin:ops says a machine answered (was labelled person)" in n for n in notes)


async def test_a_label_on_an_unanswered_attempt_says_why_on_the_contact_page(
    client: TestClient[Any, Any], services: Services
) -> None:
    attempt_id = await _request(client, 7)
    await _call(services, attempt_id, answered=False)
    csrf = await _login(client, services)
    page = await (await client.get("/admin/contacts/1")).text()
    assert '/label"' not in page  # nothing to label: nobody answered
    answer = await client.post(f"/admin/attempts/{attempt_id}/label", data={"label": "person", "csrf": csrf})
    assert answer.status == 409
    assert "nobody answered" in await answer.text()


# -- the report ----------------------------------------------------------------------------------------


async def _labelled(
    client: TestClient[Any, Any], services: Services, n: int, label: str, **call: Any
) -> None:
    attempt_id = await _request(client, n)
    await _call(services, attempt_id, **call)
    answer = await client.post(
        f"/api/v1/attempts/{attempt_id}/label", json={"label": label}, headers=_bearer()
    )
    assert answer.status == 200


async def test_the_report_counts_labels_and_shows_no_percentage_below_twenty(
    client: TestClient[Any, Any], services: Services
) -> None:
    await _labelled(
        client, services, 10, "person", amd="MACHINE", seconds=3.5, drop_early=True
    )  # a person hung up on
    await _labelled(client, services, 11, "machine", amd="HUMAN", cause="HUMAN-800-800", seconds=1.0)
    await _labelled(client, services, 12, "machine", amd="MACHINE", seconds=4.0, drop_early=False)
    attempt_id = await _request(client, 13)
    await _call(services, attempt_id)  # answered, not labelled
    report = await (await client.get("/api/v1/reports/amd", headers=_bearer())).json()
    assert report["min_labels"] == 20 and report["to"] == START.date().isoformat()
    [route] = report["routes"]
    assert route["route"] == "trunk"
    assert (route["answered"], route["labelled"], route["people"], route["machines"]) == (4, 3, 1, 2)
    assert route["person_as_machine"] == {"count": 1, "base": 1, "percent": None}
    assert route["machine_as_person"] == {"count": 1, "base": 2, "percent": None}
    assert route["correct"] == {"count": 1, "base": 3, "percent": None}
    assert route["drops"] == 2 and route["drops_early"]["count"] == 1
    assert route["decide_median"] == 3.25 and route["decided"] == 4  # of 1.0, 3.0, 3.5, 4.0

    csrf = await _login(client, services)
    assert csrf
    page = await (await client.get("/admin/report")).text()
    assert "data-amd-report" in page and '1 of 1 <span class="muted">(too few for a percentage)' in page
    assert "3.2 s / " in page

    earlier = (START - timedelta(days=40)).date().isoformat()
    empty = await (
        await client.get(f"/api/v1/reports/amd?from={earlier}&to={earlier}", headers=_bearer())
    ).json()
    assert empty["routes"] == [] and empty["total"] is None
    reversed_ = await client.get(
        f"/api/v1/reports/amd?from={START.date().isoformat()}&to={earlier}", headers=_bearer()
    )
    assert reversed_.status == 422 and "from" in (await reversed_.json())["details"]["fields"]
    bad = await client.get("/api/v1/reports/amd?from=yesterday", headers=_bearer())
    assert bad.status == 422
    page = await client.get(f"/admin/report?from={START.date().isoformat()}&to={earlier}")
    assert page.status == 422 and "pick two days" in await page.text()


async def test_from_twenty_labels_the_report_gives_percentages_per_route_and_to_prometheus(
    client: TestClient[Any, Any], services: Services
) -> None:
    for n in range(20):  # 20 people: AMD took 2 of them for machines
        await _labelled(
            client, services, 100 + n, "person", amd="MACHINE" if n < 2 else "HUMAN", cause="HUMAN-800-800"
        )
    await _labelled(client, services, 200, "machine", endpoint="PJSIP/12015550000@carrier2")
    report = await (await client.get("/api/v1/reports/amd", headers=_bearer())).json()
    trunk, carrier2 = sorted(report["routes"], key=lambda r: r["route"] != "trunk")
    assert trunk["person_as_machine"] == {"count": 2, "base": 20, "percent": 10.0}
    assert trunk["correct"] == {"count": 18, "base": 20, "percent": 90.0}
    assert carrier2["route"] == "carrier2" and carrier2["machine_as_person"] == {
        "count": 0,
        "base": 1,
        "percent": None,
    }
    assert report["total"]["labelled"] == 21

    metrics = await (await client.get("/metrics")).text()
    assert 'callback_amd_labelled_calls{label="person",route="trunk"} 20.0' in metrics
    assert 'callback_amd_mistakes{kind="person_as_machine",route="trunk"} 2.0' in metrics
    assert 'callback_amd_mistake_ratio{kind="person_as_machine",route="trunk"} 0.1' in metrics
    assert 'callback_amd_mistake_ratio{kind="machine_as_person",route="carrier2"}' not in metrics  # 1 label
