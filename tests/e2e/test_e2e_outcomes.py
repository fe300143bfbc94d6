"""Every row of the outcome taxonomy, end to end: HTTP intake → schedule → worker → ARI simulator → outcome
→ tags, stage, notes and SMS, read back from the database and the simulator's own record."""

from __future__ import annotations

from typing import Any

import pytest
from e2ekit import Stack

from ari_app.calls.ids import parse_leg_id

PENDING = "Request to Callback Pending"
INCOMPLETE = "Request to Callback Incomplete"
COMPLETE = "Request to Callback Complete"

pytestmark = pytest.mark.e2e


async def test_answered_first_time_completes_with_confirmation(stack: Stack) -> None:
    phone = "+12025550123"
    await stack.scenario([{"match": phone, "behaviour": "answer", "answer_after": 2.0, "talk": 30.0}])
    request_id = await stack.submit(phone, "Ada", "Lovelace", "Quote for a new roof")

    assert await stack.wait_request(request_id) == "completed"
    state = await stack.state(request_id)
    assert await stack.outcomes(request_id) == ["completed"]
    assert state["tags"] == [COMPLETE]
    assert state["stage"] == "Connected"
    assert state["sms"] == [("confirmation", "sent")]
    assert "Ada" in state["sms_bodies"][0]
    assert any("Callback requested: Quote for a new roof" in n for n in state["notes"])
    # The admin was rung first and the lead exactly once, by create + dial, with our channel ids.
    dials = await stack.sim("dials")
    kinds = [(parse_leg_id(d["channel_id"]).role, d["kind"]) for d in dials]
    assert kinds == [("admin", "originate"), ("lead", "dial")]
    # The whisper was played to the admin before the lead was dialled.
    media = await stack.sim("media")
    admin_channel = dials[0]["channel_id"]
    played = [p["media_uri"] for p in media[admin_channel]]
    assert any("admin-whisper" in uri for uri in played)


async def test_short_call_is_incomplete_and_retried(stack: Stack) -> None:
    phone = "+12025550124"
    await stack.scenario(
        [
            {
                "match": phone,
                "sequence": [{"behaviour": "answer", "talk": 5.0}, {"behaviour": "answer", "talk": 30.0}],
            }
        ]
    )
    request_id = await stack.submit(phone)
    outcomes = await stack.wait_outcomes(request_id, 1)
    assert outcomes[0] == "short_call"
    assert await stack.wait_request(request_id) == "completed"
    state = await stack.state(request_id)
    assert await stack.outcomes(request_id) == ["short_call", "completed"]
    assert [k for k, _ in state["sms"]] == ["missed_call", "confirmation"]
    assert state["tags"] == [COMPLETE]


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ("noanswer", "lead_no_answer"),
        ("busy", "lead_busy"),
        ("reject", "lead_rejected"),
        ("congestion", "lead_unreachable"),
    ],
)
async def test_missed_then_answered(stack: Stack, behaviour: str, outcome: str) -> None:
    phone = {"noanswer": "+16175550100", "busy": "+16175550101", "reject": "+16175550102"}.get(
        behaviour, "+16175550103"
    )
    await stack.scenario(
        [{"match": phone, "sequence": [{"behaviour": behaviour}, {"behaviour": "answer", "talk": 30.0}]}]
    )
    request_id = await stack.submit(phone, "Grace", "Hopper")

    await stack.wait_outcomes(request_id, 1)
    # After the miss: Incomplete (never two status tags), a missed-call SMS saying when we call again.
    mid = await stack.state(request_id)
    assert mid["tags"] in ([INCOMPLETE], [COMPLETE])

    assert await stack.wait_request(request_id) == "completed"
    state = await stack.state(request_id)
    assert await stack.outcomes(request_id) == [outcome, "completed"]
    assert state["tags"] == [COMPLETE]
    assert [k for k, _ in state["sms"]] == ["missed_call", "confirmation"]
    assert "Grace" in state["sms_bodies"][0] and "call again" in state["sms_bodies"][0]
    assert len(await stack.lead_dials(phone)) == 2


async def test_missed_twice_machine_gets_the_voicemail_drop(stack: Stack) -> None:
    phone = "+13125550199"
    await stack.scenario(
        [
            {
                "match": phone,
                "sequence": [
                    {"behaviour": "busy"},
                    {"behaviour": "machine", "answer_after": 4.0, "greeting": 6.0, "beep": 1.0},
                ],
            }
        ]
    )
    request_id = await stack.submit(phone, "Alan", "Turing")
    assert await stack.wait_request(request_id) == "incomplete"
    state = await stack.state(request_id)
    assert await stack.outcomes(request_id) == ["lead_busy", "voicemail_left"]
    assert state["tags"] == [INCOMPLETE]
    assert state["stage"] == "Callback missed"
    assert [k for k, _ in state["sms"]] == ["missed_call"]  # no text after the final miss by default
    dials = await stack.lead_dials(phone)
    assert len(dials) == 2
    call = await stack.sim(f"calls/{dials[-1]['channel_id']}")
    drops = [p for p in call["playbacks"] if "voicemail-drop" in p["media_uri"]]
    assert len(drops) == 1
    assert drops[0]["finished"] is True
    assert drops[0]["started"] >= call["beep_end"]


async def test_unallocated_number_is_invalid_no_sms_no_retry(stack: Stack) -> None:
    phone = "+12025550125"
    await stack.scenario([{"match": phone, "behaviour": "unallocated"}])
    request_id = await stack.submit(phone)
    assert await stack.wait_request(request_id) == "incomplete"
    state = await stack.state(request_id)
    assert await stack.outcomes(request_id) == ["lead_invalid"]
    assert state["tags"] == [INCOMPLETE]
    assert state["sms"] == []
    assert state["number_invalid"] is True
    assert len(await stack.lead_dials(phone)) == 1


async def test_admin_unavailable_retries_without_using_the_leads_attempt(stack: Stack) -> None:
    phone = "+12125551234"
    await stack.scenario(
        [
            {"match": phone, "behaviour": "answer", "talk": 30.0},
            {
                "match": "PJSIP/admin",
                "sequence": [
                    {"behaviour": "noanswer"},
                    {"behaviour": "answer", "dtmf": "1", "dtmf_after": "playback"},
                ],
            },
        ]
    )
    request_id = await stack.submit(phone, "Katherine", "Johnson")
    assert await stack.wait_request(request_id) == "completed"
    state = await stack.state(request_id)
    assert await stack.outcomes(request_id) == ["admin_unavailable", "completed"]
    assert [k for k, _ in state["sms"]] == ["confirmation"]  # the lead is not texted about our trouble
    assert len(await stack.lead_dials(phone)) == 1
    assert state["lead_attempts_used"] == 1


async def test_admin_who_does_not_press_1_is_unavailable(stack: Stack) -> None:
    phone = "+12125551235"
    await stack.scenario(
        [
            {"match": phone, "behaviour": "answer", "talk": 30.0},
            # The first time the admin answers but never presses a key; the second time they press 1.
            {"match": "PJSIP/admin", "sequence": [{"behaviour": "answer", "dtmf_after": 3600.0}, {}]},
        ]
    )
    request_id = await stack.submit(phone)
    assert await stack.wait_request(request_id) == "completed"
    assert await stack.outcomes(request_id) == ["admin_unavailable", "completed"]
    # The whisper was repeated once before giving up, and the lead was only dialled on the second try.
    dials = await stack.sim("dials")
    first_admin = next(d["channel_id"] for d in dials if "-admin-" in d["channel_id"])
    media = await stack.sim("media")
    whispers = [p for p in media[first_admin] if "admin-whisper" in p["media_uri"]]
    assert len(whispers) == 2
    assert len(await stack.lead_dials(phone)) == 1


@pytest.mark.parametrize("stack_overrides", [{"ari": {"trunk_template": "PJSIP/{number}@nosuchtrunk"}}])
async def test_bad_trunk_is_a_system_error_that_spares_the_lead(stack: Stack) -> None:
    phone = "+12025550126"
    request_id = await stack.submit(phone)
    outcomes = await stack.wait_outcomes(request_id, 1)
    assert outcomes[0] == "system_error"
    state = await stack.state(request_id)
    assert state["lead_attempts_used"] == 0
    assert state["sms"] == []
    assert state["tags"] == [PENDING]  # not the lead's fault: the status stays
    assert await stack.lead_dials(phone) == []


@pytest.mark.parametrize("stack_overrides", [{"calls": {"amd": "every"}}])
async def test_machine_on_a_first_attempt_is_lead_machine(stack: Stack) -> None:
    phone = "+12025550127"
    await stack.scenario(
        [
            {
                "match": phone,
                "sequence": [
                    {"behaviour": "machine", "greeting": 6.0},
                    {"behaviour": "answer", "talk": 30.0},
                ],
            }
        ]
    )
    request_id = await stack.submit(phone)
    assert await stack.wait_request(request_id) == "completed"
    assert await stack.outcomes(request_id) == ["lead_machine", "completed"]


async def test_lost_dial_answer_is_resolved_from_events_never_redialled(stack: Stack) -> None:
    phone = "+12025550128"
    await stack.scenario([{"match": phone, "behaviour": "answer", "talk": 30.0}])
    async with stack.http.post(
        f"{stack.sim_url}/_simulator/faults", json={"drop_after": "dial", "count": 1}, headers=stack.sim_auth
    ) as resp:
        assert resp.status == 200
    request_id = await stack.submit(phone)
    assert await stack.wait_request(request_id) == "completed"
    assert await stack.outcomes(request_id) == ["completed"]
    assert len(await stack.lead_dials(phone)) == 1


async def test_duplicate_submission_is_merged_never_a_second_call(stack: Stack) -> None:
    phone = "+12025550129"
    await stack.scenario([{"match": phone, "behaviour": "answer", "talk": 30.0}])
    first = await stack.submit(phone)
    body: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "L",
        "phone": phone,
        "reason": "again",
        "consent": True,
    }
    async with stack.http.post(
        f"{stack.web}/api/v1/callback-requests", json=body, headers={"Authorization": f"Bearer {stack.token}"}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == first
    assert await stack.wait_request(first) == "completed"
    assert len(await stack.lead_dials(phone)) == 1


@pytest.mark.parametrize(
    "stack_overrides",
    [{"calls": {"sounds": "http", "max_attempts": 1}, "sounds": {"url_secret": "e2e-media-secret-0123456"}}],
)
async def test_prompts_over_signed_http_urls_play_whole(stack: Stack) -> None:
    """calls.sounds = "http": the PBX fetches each prompt from our /media route with a signed URL."""
    phone = "+13125550198"
    await stack.scenario([{"match": phone, "behaviour": "machine", "greeting": 4.0, "beep": 1.0}])
    request_id = await stack.submit(phone, "Alan", "Http")
    assert await stack.wait_request(request_id) == "incomplete"
    assert await stack.outcomes(request_id) == ["voicemail_left"]
    [dial] = await stack.lead_dials(phone)
    call = await stack.sim(f"calls/{dial['channel_id']}")
    [drop] = [p for p in call["playbacks"] if "voicemail-drop" in p["media_uri"]]
    assert drop["media_uri"].startswith(f"sound:{stack.web}/media/v1/")
    assert "&" not in drop["media_uri"]
    assert drop["finished"] is True
    # The admin's whisper came over HTTP too, and played (a refused fetch would have failed it).
    admin = next(d["channel_id"] for d in await stack.sim("dials") if "-admin-" in d["channel_id"])
    whisper = [p for p in (await stack.sim("media"))[admin] if "admin-whisper" in p["media_uri"]]
    assert whisper and whisper[0]["media_uri"].startswith(f"sound:{stack.web}/media/v1/")
    assert whisper[0]["failed"] is False and whisper[0]["finished"] is True
