"""The read API and closing a request by hand."""

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from webkit import LEAD, intake_body

API = "/api/v1/callback-requests"


async def _create(client: TestClient[Any, Any], auth: dict[str, str], **changes: Any) -> dict[str, Any]:
    answer = await client.post(API, json=intake_body(**changes), headers=auth)
    assert answer.status == 201
    body: dict[str, Any] = await answer.json()
    return body


async def test_list_and_detail_show_the_contact_and_the_next_call(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    first = await _create(client, auth)
    await _create(client, auth, phone="+12015550124", first_name="Bob")
    listing = await (await client.get(API, headers=auth)).json()
    assert listing["total"] == 2 and [i["first_name"] for i in listing["items"]] == ["Bob", "Ada"]
    ada = listing["items"][1]
    assert ada["phone"] == LEAD and ada["next_attempt_at"] == first["planned_at"]

    page = await (
        await client.get(API, params={"status": "pending", "limit": 1, "offset": 1}, headers=auth)
    ).json()
    assert [i["id"] for i in page["items"]] == [first["id"]] and page["total"] == 2
    assert (await (await client.get(API, params={"status": "completed"}, headers=auth)).json())["items"] == []

    detail = await (await client.get(f"{API}/{first['id']}", headers=auth)).json()
    assert detail["contact"]["phone"] == LEAD
    assert detail["next_attempt_at"] == first["planned_at"]
    assert detail["attempts"][0]["legs"] == []


@pytest.mark.parametrize("params", [{"status": "nope"}, {"limit": "0"}, {"limit": "abc"}, {"offset": "-1"}])
async def test_bad_list_parameters_are_named(
    client: TestClient[Any, Any], auth: dict[str, str], params: dict[str, str]
) -> None:
    answer = await client.get(API, params=params, headers=auth)
    assert answer.status == 422
    assert list((await answer.json())["details"]["fields"]) == list(params)


@pytest.mark.parametrize(
    ("action", "tags", "stage", "status"),
    [
        ("complete", ["Request to Callback Complete"], "Connected", "completed"),
        ("cancel", [], "Callback cancelled", "cancelled"),
    ],
)
async def test_closing_by_hand_changes_tags_and_stage(
    client: TestClient[Any, Any],
    auth: dict[str, str],
    action: str,
    tags: list[str],
    stage: str,
    status: str,
) -> None:
    created = await _create(client, auth)
    closed = await client.post(
        f"{API}/{created['id']}/close", json={"action": action, "note": "done"}, headers=auth
    )
    assert closed.status == 200
    body = await closed.json()
    assert body["status"] == status and body["next_attempt_at"] is None
    contact = await (await client.get(f"/api/v1/contacts/{created['contact_id']}", headers=auth)).json()
    assert contact["tags"] == tags and contact["pipeline_stage"] == stage
    assert [a["status"] for a in contact["attempts"]] == ["cancelled"]
    again = await client.post(f"{API}/{created['id']}/close", json={"action": action}, headers=auth)
    assert again.status == 409


async def test_close_needs_a_known_action(client: TestClient[Any, Any], auth: dict[str, str]) -> None:
    created = await _create(client, auth)
    answer = await client.post(f"{API}/{created['id']}/close", json={"action": "delete"}, headers=auth)
    assert answer.status == 422 and "action" in (await answer.json())["details"]["fields"]
    missing = await client.post(f"{API}/424242/close", json={"action": "cancel"}, headers=auth)
    assert missing.status == 404


async def test_opt_out_by_api_stops_sms_and_cancels_the_callback(
    client: TestClient[Any, Any], auth: dict[str, str]
) -> None:
    created = await _create(client, auth)
    answer = await client.post(f"/api/v1/contacts/{created['contact_id']}/opt-out", headers=auth)
    assert answer.status == 200
    contact = await answer.json()
    assert contact["sms_opted_out"] is True
    assert contact["pipeline_stage"] == "Callback cancelled" and contact["tags"] == []
    assert contact["requests"][0]["status"] == "cancelled"
