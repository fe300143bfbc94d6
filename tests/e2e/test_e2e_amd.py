"""AMD you can trust, end to end with the simulator as the PBX: the final attempt reaches a machine, AMD
runs with this route's parameters, its verdict and timings are kept, the admin labels the call and the
report counts it; a press of 9 during a call is a "machine" label given by that admin."""

from __future__ import annotations

from typing import Any

import pytest
from e2ekit import Stack

pytestmark = pytest.mark.e2e

# The first attempt is the final one (AMD and the drop); the route "trunk" allows longer greetings.
TUNED = {
    "calls": {"max_attempts": 1},
    "amd": {"routes": {"trunk": {"greeting": 1800, "maximum_number_of_words": 3}}},
}


async def _api(stack: Stack, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with stack.http.request(
        method, f"{stack.web}{path}", headers={"Authorization": f"Bearer {stack.token}"}, **kw
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("stack_overrides", [TUNED])
async def test_a_machine_on_the_final_attempt_keeps_amds_verdict_and_the_admin_labels_it(
    stack: Stack,
) -> None:
    phone = "+12025550171"
    await stack.scenario(
        [
            {
                "match": phone,
                "behaviour": "machine",
                "answer_after": 2.0,
                "greeting": 5.0,
                "beep": 1.0,
                # What AMD says on this box with the route's parameters (any other set: the default verdict).
                "amd": [
                    {"greeting": 1800, "status": "MACHINE", "cause": "LONGGREETING-1800-1800", "after": 2.0}
                ],
            }
        ]
    )
    request_id = await stack.submit(phone, "Grace", "Hopper")
    assert await stack.wait_request(request_id) == "incomplete"
    assert await stack.outcomes(request_id) == ["voicemail_left"]

    # The PBX ran AMD with this route's parameters, set on the lead's channel as variables.
    [dial] = await stack.lead_dials(phone)
    call = await stack.sim(f"calls/{dial['channel_id']}")
    assert call["amd"]["params"]["greeting"] == 1800
    assert call["amd"]["params"]["maximum_number_of_words"] == 3
    assert call["amd"]["params"]["initial_silence"] == 2500  # not overridden: Asterisk's default

    status, detail = await _api(stack, "GET", f"/api/v1/callback-requests/{request_id}")
    assert status == 200
    [attempt] = detail["attempts"]
    lead = next(leg for leg in attempt["legs"] if leg["role"] == "lead")
    assert (lead["amd_status"], lead["amd_cause"]) == ("MACHINE", "LONGGREETING-1800-1800")
    assert lead["amd_seconds"] is not None and lead["amd_seconds"] > 0
    assert lead["greeting_end_seconds"] is not None and lead["greeting_end_seconds"] > 0
    assert lead["drop_early"] is False  # the drop waited for the beep
    assert attempt["lead_label"] is None  # AMD's verdict is not a label: an admin's word is

    status, labelled = await _api(
        stack, "POST", f"/api/v1/attempts/{attempt['id']}/label", json={"label": "machine"}
    )
    assert status == 200 and labelled["lead_label"] == "machine"

    status, report = await _api(
        stack, "GET", "/api/v1/reports/amd", params={"from": "2026-03-01", "to": "2026-03-31"}
    )
    assert status == 200
    [route] = report["routes"]
    assert route["route"] == "trunk"
    assert (route["answered"], route["labelled"], route["machines"]) == (1, 1, 1)
    assert route["correct"] == {"count": 1, "base": 1, "percent": None}  # one label: no percentage
    assert route["drops"] == 1 and route["drops_early"]["count"] == 0


async def test_pressing_9_during_a_call_labels_it_a_machine_in_that_admins_name(stack: Stack) -> None:
    lead = "+12025550172"
    await stack.scenario(
        [
            {
                "match": "PJSIP/admin",
                "behaviour": "answer",
                "answer_after": 1.0,
                "dtmf": "1",
                "dtmf_after": "playback",
                # Long after the bridge (about 15 s in), while the greeting still plays: no tight margin.
                "presses": [{"dtmf": "9", "after": 60.0}],
            },
            {"match": lead, "behaviour": "machine", "answer_after": 2.0, "greeting": 90.0, "beep": 1.0},
        ]
    )
    request_id = await stack.submit(lead)
    assert (await stack.wait_outcomes(request_id, 1))[0] == "lead_machine"
    status, detail = await _api(stack, "GET", f"/api/v1/callback-requests/{request_id}")
    first = detail["attempts"][0]
    assert (first["lead_label"], first["lead_label_by"]) == ("machine", "Admin")
    state = await stack.state(request_id)
    assert any("Admin says a machine answered" in n for n in state["notes"])
