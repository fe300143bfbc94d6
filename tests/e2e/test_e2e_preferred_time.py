"""The lead chose a time: the worker leaves the request alone until then and calls at that time, through
the ARI simulator; what it dialled is read back from the simulator's own record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from e2ekit import Stack
from sqlalchemy import select

from ari_app.calls.ids import parse_leg_id
from ari_app.store.models import Attempt, CallbackRequest

pytestmark = pytest.mark.e2e
AHEAD = timedelta(minutes=20)  # 12 s of wall time at the stack's speed


async def test_the_first_call_waits_for_the_time_the_lead_chose(stack: Stack) -> None:
    phone = "+12025550161"
    await stack.scenario([{"match": phone, "behaviour": "answer", "answer_after": 2.0, "talk": 30.0}])
    services = stack.runtime.services
    assert services is not None
    chosen = (services.clock.now() + AHEAD).replace(second=0, microsecond=0)
    body = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": phone,
        "reason": "After my meeting, please",
        "consent": True,
        "preferred_at": chosen.isoformat(),
    }
    async with stack.http.post(
        f"{stack.web}/api/v1/callback-requests", json=body, headers={"Authorization": f"Bearer {stack.token}"}
    ) as resp:
        answer = await resp.json()
        assert resp.status == 201, answer
    assert answer["planned_at"] == chosen.isoformat()

    assert await stack.wait_request(answer["id"], within=120.0) == "completed"
    async with services.sessions() as session:
        request = await session.get(CallbackRequest, answer["id"])
        [attempt] = list(await session.scalars(select(Attempt).where(Attempt.request_id == answer["id"])))
    assert request is not None and request.preferred_at == chosen
    assert attempt.started_at is not None and attempt.started_at >= chosen  # not one ring before
    assert attempt.outcome == "completed"
    dials = await stack.sim("dials")
    assert [parse_leg_id(d["channel_id"]).role for d in dials] == ["admin", "lead"]
