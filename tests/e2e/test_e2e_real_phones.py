"""What real phones taught us (issue 15), as whole stories on the simulator, which follows the recordings of a
real Asterisk 22 (tests/recordings 14-16): a dial before StasisStart is refused, a stop during spoken digits
doesn't stop them, and keys in a plain mixing bridge never reach the application."""

from __future__ import annotations

import pytest
from e2ekit import Stack
from sqlalchemy import select

from ari_app.calls.ids import parse_leg_id
from ari_app.store.models import Attempt

TALK = 30.0


async def _detail(stack: Stack, request_id: int) -> str | None:
    """What the first attempt's record says happened (the orchestrator's own verdict)."""
    assert stack.runtime.services is not None
    async with stack.runtime.services.sessions() as session:
        return await session.scalar(
            select(Attempt.outcome_detail).where(Attempt.request_id == request_id, Attempt.number == 1)
        )


async def test_admin_pressing_1_during_the_spoken_number_stops_the_whisper_and_talks_in_full(
    stack: Stack,
) -> None:
    lead = "+12025550161"
    await stack.scenario(
        [
            # The whisper says "You have a callback request..." (3.2 s), then the number digit by digit:
            # 4 s after answering the admin is in the middle of the digits.
            {
                "match": "PJSIP/admin",
                "behaviour": "answer",
                "answer_after": 1.0,
                "dtmf": "1",
                "dtmf_after": 4.0,
            },
            {"match": lead, "behaviour": "answer", "answer_after": 1.0, "talk": TALK},
        ]
    )
    request_id = await stack.submit(lead)
    assert await stack.wait_request(request_id) == "completed"
    assert await stack.outcomes(request_id) == ["completed"]

    dials = await stack.sim("dials")
    admin = next(d["channel_id"] for d in dials if "-admin-" in d["channel_id"])
    whisper = [p for p in (await stack.sim("media")).get(admin, []) if "admin-whisper" in p["media_uri"]]
    assert whisper and whisper[0]["cut"] and not whisper[0]["finished"], whisper  # really stopped
    assert len(whisper) == 1  # accepted in the first round: no second whisper
    lead_leg = next(d["channel_id"] for d in dials if "-lead-" in d["channel_id"])
    record = await stack.sim(f"calls/{lead_leg}")
    assert record["hangup_by"] == "callee"  # the lead talked until they hung up


async def test_twenty_leads_in_a_row_are_each_dialled_once_and_none_refused(stack: Stack) -> None:
    leads = [f"+1202555{n:04d}" for n in range(200, 220)]
    await stack.scenario(
        [{"match": phone, "behaviour": "answer", "answer_after": 0.5, "talk": 20.0} for phone in leads]
    )
    requests = [await stack.submit(phone) for phone in leads]
    for request_id in requests:
        assert await stack.wait_request(request_id, within=120.0) == "completed"
        assert await stack.outcomes(request_id) == ["completed"]
    lead_dials = [d for d in await stack.sim("dials") if "-lead-" in d["channel_id"]]
    assert len(lead_dials) == 20
    assert len({parse_leg_id(d["channel_id"]) for d in lead_dials}) == 20  # one dial per lead leg


async def test_admin_pressing_9_on_a_voicemail_box_leaves_the_drop_and_goes(stack: Stack) -> None:
    lead = "+12025550162"
    await stack.scenario(
        [
            # Presses 1 after the whisper, then 9 four seconds into the bridge, while it hears the greeting
            # (8 s of it left): timed from the bridge, so a slow start can't move the key out of it.
            {
                "match": "PJSIP/admin",
                "behaviour": "answer",
                "answer_after": 1.0,
                "dtmf": "1",
                "dtmf_after": "playback",
                "presses": [{"dtmf": "9", "after": 4.0, "since": "bridged"}],
            },
            {"match": lead, "behaviour": "machine", "answer_after": 2.0, "greeting": 12.0, "beep": 1.0},
        ]
    )
    request_id = await stack.submit(lead)
    outcomes = await stack.wait_outcomes(request_id, 1)
    assert outcomes[0] == "lead_machine"
    detail = await _detail(stack, request_id)
    assert detail == "admin pressed the drop key; voicemail left"  # our own verdict agrees: played whole

    lead_leg = next(d["channel_id"] for d in await stack.lead_dials(lead))
    admin_leg = lead_leg.replace("-lead-", "-admin-")
    admin = await stack.sim(f"calls/{admin_leg}")
    assert "9" in admin["dtmf_to_app"], admin  # the key reached us: the bridge was not native
    drops = [p for p in (await stack.sim("media")).get(lead_leg, []) if "voicemail-drop" in p["media_uri"]]
    assert drops and drops[0]["finished"], drops  # the message went onto the box, whole,
    assert not drops[0]["early"], drops  # after the greeting's beep, although 9 was pressed during it
    state = await stack.state(request_id)
    assert state["sms"][0][0] == "missed_call"  # wf-1.2: the lead hears from us, and we try again


# -- issue 21: the voicemail drop's timing, on greetings like real ones ----------------------------------

FINAL_ONLY = {"calls": {"max_attempts": 1}}  # the first attempt is the final one: AMD and the drop
GREETINGS = {
    "3 s greeting": {"greeting": 3.0},
    "10 s greeting": {"greeting": 10.0},
    "25 s greeting": {"greeting": 25.0},
    "2 s pause in the greeting": {"greeting": 8.0, "pause_at": 3.0, "pause": 2.0},
    "no audio after the beep": {"greeting": 6.0, "audio_after_beep": False},
}


@pytest.mark.parametrize("stack_overrides", [FINAL_ONLY])
@pytest.mark.parametrize("box", list(GREETINGS.values()), ids=list(GREETINGS))
async def test_the_drop_goes_onto_the_recording_after_the_beep(stack: Stack, box: dict[str, float]) -> None:
    lead = "+12025550163"
    await stack.scenario([{"match": lead, "behaviour": "machine", "answer_after": 1.0, "beep": 0.5, **box}])
    request_id = await stack.submit(lead)
    assert await stack.wait_outcomes(request_id, 1) == ["voicemail_left"], await _detail(stack, request_id)

    lead_leg = next(d["channel_id"] for d in await stack.lead_dials(lead))
    drops = [p for p in (await stack.sim("media")).get(lead_leg, []) if "voicemail-drop" in p["media_uri"]]
    assert len(drops) == 1 and drops[0]["finished"], drops
    assert not drops[0]["early"], drops  # never over the greeting
    # Listening began at the answer, not after the admin's release prompt: the drop may start while the
    # admin still hears it. (Before, a 3 s greeting left the whole prompt's length of dead air.) An
    # order, not a time, so a loaded machine can't make it flaky.
    admin_leg = lead_leg.replace("-lead-", "-admin-")
    release = [
        p for p in (await stack.sim("media")).get(admin_leg, []) if "lead-machine-admin" in p["media_uri"]
    ]
    if box["greeting"] <= 3.0:
        assert release and drops[0]["started"] < release[0]["ended"], (drops, release)


@pytest.mark.parametrize("stack_overrides", [FINAL_ONLY])
async def test_a_person_saying_hello_on_the_final_attempt_is_bridged(stack: Stack) -> None:
    lead = "+12025550164"
    await stack.scenario(
        [{"match": lead, "behaviour": "answer", "answer_after": 1.0, "hello": 1.5, "talk": 30}]
    )
    request_id = await stack.submit(lead)
    assert await stack.wait_outcomes(request_id, 1) == ["completed"]
