"""kill -9 a worker mid-call, then restart it (same application name) or let another worker take over.

After each: no request lost, at most one lead dial per attempt (exactly one for an attempt that counted as
the lead's), every attempt final, one status tag.
"""

from __future__ import annotations

import pytest
from faults_harness import FaultStack, leg_id, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.postgres]

LEAD = "+12125550101"


def scenario(admin_answer_after: float = 1.0, lead: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "callee": [
            {
                "match": "PJSIP/admin",
                "behaviour": "answer",
                "answer_after": admin_answer_after,
                "dtmf": "1",
                "dtmf_after": "playback",
            },
            {"match": LEAD, **(lead or {"behaviour": "answer", "answer_after": 2.0, "talk": 16.0})},
        ]
    }


async def test_worker_killed_while_the_admin_rings_restarts_and_calls_once(faults: FaultStack) -> None:
    faults.scenario = scenario(admin_answer_after=12.0)
    await faults.start_simulator()
    worker = await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    await wait_for(lambda: faults.channel(leg_id(attempt, "admin")), "the admin's phone to ring")
    worker.kill9()
    await faults.start_worker("w1")

    assert await faults.wait_closed(request_id) == "completed"
    await faults.assert_consistent(request_id)
    outcomes = [a.outcome for a in await faults.attempts(request_id)]
    assert outcomes == ["system_error", "completed"]
    assert await faults.lead_dials() == {attempt + 1: 1}


async def test_worker_killed_while_bridged_is_taken_over_by_another_worker(faults: FaultStack) -> None:
    faults.scenario = scenario(lead={"behaviour": "answer", "answer_after": 2.0, "talk": 40.0})
    await faults.start_simulator()
    worker = await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    await faults.wait_bridged(attempt)
    worker.kill9()
    await faults.age_leases("w1")
    await faults.start_worker("w2")

    # w2 moves both channels into its application and follows the conversation to its end.
    assert await faults.wait_closed(request_id) == "completed"
    await faults.assert_consistent(request_id)
    assert [a.outcome for a in await faults.attempts(request_id)] == ["completed"]
    assert await faults.lead_dials() == {attempt: 1}
    call = await faults.sim_get("calls/" + leg_id(attempt, "lead"))
    assert call["hangup_by"] == "callee"  # the lead talked until they hung up: nobody cut them off


async def test_worker_killed_while_bridged_restarts_and_readopts_the_call(faults: FaultStack) -> None:
    faults.scenario = scenario(lead={"behaviour": "answer", "answer_after": 2.0, "talk": 24.0})
    await faults.start_simulator()
    worker = await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    await faults.wait_bridged(attempt)
    worker.kill9()
    await faults.start_worker("w1")

    assert await faults.wait_closed(request_id) == "completed"
    await faults.assert_consistent(request_id)
    assert [a.outcome for a in await faults.attempts(request_id)] == ["completed"]
    assert await faults.lead_dials() == {attempt: 1}
    assert (await faults.sim_get("calls/" + leg_id(attempt, "lead")))["hangup_by"] == "callee"


async def test_worker_killed_while_the_voicemail_drop_plays_restarts_without_dialling_again(
    faults: FaultStack,
) -> None:
    faults.calls = {"max_attempts": 1}  # the first attempt is the final one: AMD and the drop
    faults.scenario = scenario(lead={"behaviour": "machine", "answer_after": 2.0, "greeting": 6.0})
    await faults.start_simulator()
    worker = await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    async def drop_playing() -> bool:
        media = await faults.sim_get("media")
        return any(
            "voicemail-drop" in str(p.get("media_uri")) and not p.get("ended")
            for p in media.get(leg_id(attempt, "lead"), [])
        )

    await wait_for(drop_playing, "the voicemail drop to play")
    worker.kill9()
    await faults.start_worker("w1")

    assert await faults.wait_closed(request_id) == "incomplete"
    await faults.assert_consistent(request_id)
    assert [a.outcome for a in await faults.attempts(request_id)] == ["lead_machine"]  # the drop was cut
    assert await faults.lead_dials() == {attempt: 1}


async def test_sigterm_lets_a_live_call_finish_before_the_worker_leaves(faults: FaultStack) -> None:
    faults.scenario = scenario(lead={"behaviour": "answer", "answer_after": 2.0, "talk": 16.0})
    await faults.start_simulator()
    worker = await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    await faults.wait_bridged(attempt)
    worker.term()

    assert await worker.wait_exit(within=40.0) == 0
    assert [a.outcome for a in await faults.attempts(request_id)] == ["completed"]
    await faults.start_worker("w1")  # the SMS the call queued goes out with the next worker
    assert await faults.wait_closed(request_id) == "completed"
    await faults.assert_consistent(request_id)
    assert [a.outcome for a in await faults.attempts(request_id)] == ["completed"]
