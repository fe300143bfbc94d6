"""The do-not-call list is checked when the call is about to be made, not only when the request arrived."""

from __future__ import annotations

import pytest
from e2ekit import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("stack_overrides", [{"calendar": {"first_call_delay": 300.0}}])
async def test_a_number_listed_while_its_call_is_scheduled_is_never_dialled(stack: Stack) -> None:
    phone = "+12025550188"
    await stack.scenario([{"match": phone, "behaviour": "answer", "answer_after": 1.0, "talk": 30.0}])
    request_id = await stack.submit(phone)
    async with stack.http.post(
        f"{stack.web}/api/v1/dnc",
        json={"phone": phone, "reason": "asked on the phone"},
        headers={"Authorization": f"Bearer {stack.token}"},
    ) as resp:
        assert resp.status == 201, await resp.text()

    assert await stack.wait_request(request_id) == "cancelled"
    assert await stack.lead_dials(phone) == []
    assert await stack.sim("dials") == []  # no admin was rung for it either
    state = await stack.state(request_id)
    assert state["tags"] == [] and state["stage"] == "Callback cancelled"
    assert any("do-not-call" in note for note in state["notes"])
    assert state["sms"] == []
