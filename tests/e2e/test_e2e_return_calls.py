"""A lead calls the business back: the simulator places the call as the carrier and Asterisk's dialplan would
(StasisStart ``inbound,<caller>,<dialled>``), the app recognises the lead, rings the admin with a whisper and
bridges them, or takes a message; the outcome is read back from the database and the simulator's record."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from e2ekit import Stack
from sqlalchemy import select

from ari_app.store.models import Attempt, ContactEvent

COMPLETE = "Request to Callback Complete"
PENDING = "Request to Callback Pending"

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack_overrides(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    # The first outbound call an hour away (the lead calls back before it), unless a test says otherwise.
    return {
        "calendar": {"first_call_delay": 3600.0},
        "returns": {"recordings_dir": str(tmp_path / "recordings")},
        **getattr(request, "param", {}),
    }


async def call_in(stack: Stack, caller: str, **script: Any) -> str:
    body = {"caller": caller, "app": stack.settings.ari.app, **script}
    async with stack.http.post(
        f"{stack.sim_url}/_simulator/inbound", json=body, headers=stack.sim_auth
    ) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["channel_id"])


async def return_calls(
    stack: Stack, request_id: int, *, done: int = 1, within: float = 30.0
) -> list[Attempt]:
    """The request's return calls, once ``done`` of them have ended."""
    services = stack.runtime.services
    assert services is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with services.sessions() as session:
            rows = list(
                await session.scalars(
                    select(Attempt).where(Attempt.request_id == request_id, Attempt.kind == "return_call")
                )
            )
        if sum(1 for a in rows if a.status == "done") >= done:
            return rows
        assert loop.time() < deadline, f"return calls: {[(a.status, a.outcome) for a in rows]}"
        await asyncio.sleep(0.05)


async def event_types(stack: Stack, contact_id: int) -> list[str]:
    services = stack.runtime.services
    assert services is not None
    async with services.sessions() as session:
        rows = await session.scalars(
            select(ContactEvent.type).where(ContactEvent.contact_id == contact_id).order_by(ContactEvent.id)
        )
        return list(rows)


async def test_the_lead_calls_back_talks_and_the_request_closes_complete(stack: Stack) -> None:
    phone = "+12025550142"
    request_id = await stack.submit(phone, "Ada", "Lovelace", "quote for a new roof")
    # As the carrier sends it: a national number, normalised as intake does.
    channel = await call_in(stack, "2025550142", talk=40.0)

    [call] = await return_calls(stack, request_id)
    assert (call.outcome, call.admin_name) == ("completed", "Admin")
    assert call.talk_seconds is not None and call.talk_seconds >= 15
    assert await stack.wait_request(request_id) == "completed"
    state = await stack.state(request_id)
    assert state["tags"] == [COMPLETE]
    assert state["stage"] == "Connected"
    assert state["sms"] == [("confirmation", "sent")]
    assert state["lead_attempts_used"] == 0  # the lead's own call is none of their attempts
    assert any("Return call: the lead called (completed)" in n for n in state["notes"])
    assert "return_call.ended" in await event_types(stack, state["contact_id"])
    # The outbound attempt planned for later was cancelled; nobody dialled the lead.
    assert await stack.lead_dials(phone) == []
    # The simulator's record: answered by us, the admin rung with the return-call whisper, then bridged.
    record = await stack.sim(f"calls/{channel}")
    assert record["answered"] is not None and record["bridged"] is not None
    assert any("return-call-welcome" in p["media_uri"] for p in record["playbacks"])
    [admin_dial] = await stack.sim("dials")
    admin_media = (await stack.sim("media"))[admin_dial["channel_id"]]
    assert any("return-call-whisper" in p["media_uri"] for p in admin_media)


async def test_no_admin_answers_the_lead_leaves_a_message_which_is_kept(stack: Stack, tmp_path: Path) -> None:
    await stack.scenario([{"match": "PJSIP/admin", "behaviour": "noanswer"}])
    phone = "+12025550143"
    request_id = await stack.submit(phone, "Grace", "Hopper", "a new kitchen")
    await call_in(stack, phone, message=8.0)

    [call] = await return_calls(stack, request_id)
    assert call.outcome == "message_left"
    message = call.evidence["message"]
    assert 7 <= message["seconds"] <= 9
    kept = tmp_path / "recordings" / message["file"]
    assert kept.read_bytes()[:4] == b"RIFF"
    # Fetched, then not left on the PBX.
    assert await stack.sim("recordings") == []
    state = await stack.state(request_id)
    assert state["status"] in ("pending", "calling")
    assert any("called back, left a message" in n for n in state["notes"])
    # An immediate attempt: the one planned an hour away now falls due at once (the calendar is open).
    services = stack.runtime.services
    assert services is not None
    async with services.sessions() as session:
        planned = list(
            await session.scalars(
                select(Attempt).where(Attempt.request_id == request_id, Attempt.kind == "lead")
            )
        )
    assert planned and min(a.due_at for a in planned) <= stack.runtime.clock.now()


async def wait_sim_call(stack: Stack, channel: str, check: Any, within: float = 20.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        record = dict(await stack.sim(f"calls/{channel}"))
        if check(record):
            return record
        assert loop.time() < deadline, record
        await asyncio.sleep(0.05)


async def test_an_unknown_caller_is_handed_back_to_the_dialplan(stack: Stack) -> None:
    channel = await call_in(stack, "+12025550999", talk=10.0)
    record = await wait_sim_call(stack, channel, lambda r: r["inbound"]["handed_back"])
    assert record["inbound"]["fallback_dialled"] == "PJSIP/admin,30"
    assert record["answered"] is None  # the PBX's own routing answers, not callback
    assert await stack.sim("dials") == []  # no admin rung by callback


async def test_a_withheld_number_is_handed_back_too(stack: Stack) -> None:
    channel = await call_in(stack, "anonymous")
    record = await wait_sim_call(stack, channel, lambda r: r["inbound"]["handed_back"])
    assert record["inbound"]["stasis_status"] == "SUCCESS"


TWO_ADMINS = [
    {"name": "Admin", "endpoint": "PJSIP/admin"},
    {"name": "Bob", "endpoint": "PJSIP/admin2"},
]


@pytest.mark.parametrize(
    "stack_overrides",
    [{"calendar": {"first_call_delay": 30.0}, "admins": TWO_ADMINS}],
    indirect=True,
)
async def test_an_attempt_due_while_the_lead_is_on_a_return_call_does_not_dial_them(stack: Stack) -> None:
    await stack.scenario(
        [{"match": "PJSIP/admin2", "behaviour": "answer", "dtmf": "1", "dtmf_after": "playback"}]
    )
    phone = "+12025550144"
    request_id = await stack.submit(phone, "Alan", "Turing", "solar panels")
    await call_in(stack, phone, talk=120.0)
    [call] = await return_calls(stack, request_id, within=60.0)
    assert call.outcome == "completed"
    assert await stack.wait_request(request_id) == "completed"
    # The outbound attempt fell due during the call, found the lead on the phone with us, and waited; the
    # completed return call then cancelled it. The lead was never dialled.
    assert await stack.lead_dials(phone) == []
    state = await stack.state(request_id)
    assert any("the lead is on a return call" in n for n in state["notes"])
    assert await stack.outcomes(request_id) == ["completed"]


@pytest.mark.parametrize(
    "stack_overrides",
    # The admin's phone rings long enough (1.2 s of wall time) for the lead's call to arrive meanwhile.
    [{"calendar": {"first_call_delay": 1.0}, "calls": {"admin_ring_timeout": 120}}],
    indirect=True,
)
async def test_an_outbound_attempt_ringing_the_admin_gives_way_to_the_leads_own_call(stack: Stack) -> None:
    # The admin's phone rings on for our outbound call, then answers the lead's own call at once.
    slow, quick = (
        {"behaviour": "noanswer"},
        {"behaviour": "answer", "answer_after": 1.0, "dtmf": "1", "dtmf_after": "playback"},
    )
    await stack.scenario([{"match": "PJSIP/admin", "sequence": [slow, quick]}])
    phone = "+12025550145"
    request_id = await stack.submit(phone, "Ada", "Lovelace", "quote for a new roof")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await stack.sim("dials"):  # our outbound call is ringing the admin
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    await call_in(stack, phone, talk=40.0, patience=900.0)

    [call] = await return_calls(stack, request_id, within=60.0)
    assert call.outcome == "completed"
    assert await stack.wait_request(request_id) == "completed"
    # The outbound attempt ended superseded, used none of the lead's attempts, and its retry was cancelled.
    assert await stack.outcomes(request_id) == ["superseded", "completed"]
    state = await stack.state(request_id)
    assert state["lead_attempts_used"] == 0
    assert await stack.lead_dials(phone) == []
    # The admin was rung twice (ours, given up; then the lead's call), never at the same time.
    dials = await stack.sim("dials")
    assert [d["endpoint"] for d in dials] == ["PJSIP/admin", "PJSIP/admin"]
    first = await stack.sim(f"calls/{dials[0]['channel_id']}")
    assert first["destroyed"] <= dials[1]["at"]


async def test_a_number_on_the_do_not_call_list_may_call_in_but_no_call_follows(stack: Stack) -> None:
    await stack.scenario([{"match": "PJSIP/admin", "behaviour": "noanswer"}])
    phone = "+12025550147"
    request_id = await stack.submit(phone, "Edsger", "Dijkstra", "a quote")
    async with stack.http.post(
        f"{stack.web}/api/v1/dnc",
        json={"phone": phone, "reason": "asked on the phone"},
        headers={"Authorization": f"Bearer {stack.token}"},
    ) as resp:
        assert resp.status == 201, await resp.text()
    await call_in(stack, phone, message=5.0)

    [call] = await return_calls(stack, request_id)
    assert call.outcome == "message_left"  # their own call in is taken, and the message kept
    services = stack.runtime.services
    assert services is not None
    async with services.sessions() as session:
        planned = list(
            await session.scalars(
                select(Attempt).where(Attempt.request_id == request_id, Attempt.kind == "lead")
            )
        )
    # Nothing brought forward: the planned attempt still waits its hour (and will be cancelled at its start).
    assert [a.due_at > stack.runtime.clock.now() for a in planned] == [True]
    assert await stack.lead_dials(phone) == []


async def test_no_second_thank_you_within_the_day(stack: Stack) -> None:
    phone = "+12025550148"
    first = await stack.submit(phone, "Ada", "Lovelace", "a roof")
    await call_in(stack, phone, talk=30.0)
    await return_calls(stack, first)
    assert await stack.wait_request(first) == "completed"
    second = await stack.submit(phone, "Ada", "Lovelace", "and the gutters")
    assert second != first
    await call_in(stack, phone, talk=30.0)
    await return_calls(stack, second)
    assert await stack.wait_request(second) == "completed"
    state = await stack.state(second)
    assert [kind for kind, _ in state["sms"]] == ["confirmation"]  # the first call's, not a second
    assert state["tags"] == [COMPLETE]


@pytest.mark.parametrize("stack_overrides", [{"returns": {"unknown": "ring"}}], indirect=True)
async def test_with_unknown_ring_an_unknown_caller_reaches_an_admin_with_a_plain_whisper(
    stack: Stack,
) -> None:
    channel = await call_in(stack, "+12025550998", talk=20.0)
    record = await wait_sim_call(stack, channel, lambda r: r["destroyed"] is not None, within=30.0)
    assert record["answered"] is not None and record["bridged"] is not None
    assert record["inbound"]["handed_back"] is False
    [admin_dial] = await stack.sim("dials")
    admin_media = (await stack.sim("media"))[admin_dial["channel_id"]]
    assert any("inbound-call-whisper" in p["media_uri"] for p in admin_media)
    services = stack.runtime.services
    assert services is not None
    async with services.sessions() as session:
        assert list(await session.scalars(select(Attempt.id))) == []  # no request, no attempt


@pytest.mark.parametrize("stack_overrides", [{"returns": {"unknown": "ring"}}], indirect=True)
async def test_with_unknown_ring_and_no_admin_the_call_goes_back_to_the_dialplan(stack: Stack) -> None:
    await stack.scenario([{"match": "PJSIP/admin", "behaviour": "noanswer"}])
    channel = await call_in(stack, "+12025550997", patience=900.0)
    record = await wait_sim_call(stack, channel, lambda r: r["inbound"]["handed_back"], within=30.0)
    assert record["answered"] is None
