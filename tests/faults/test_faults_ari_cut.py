"""The network between a worker and the PBX is cut mid-call (a TCP proxy drops the ARI WebSocket and refuses
reconnects for a while): the call's end happens while nobody listens.

The worker reconnects, re-reads its live channels, and the attempt ends in a final outcome with one lead dial;
a request that arrived during the cut is called once the PBX is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from faults_harness import FaultStack, leg_id, wait_for
from tcp_proxy import TcpProxy

from ari_app.calls.runner import UNREAD_EVENTS

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.postgres]

LEAD = "+12125550101"
LATER_LEAD = "+12125550102"
ADMIN = {
    "match": "PJSIP/admin",
    "behaviour": "answer",
    "answer_after": 1.0,
    "dtmf": "1",
    "dtmf_after": "playback",
}


@pytest.fixture
async def proxy(faults: FaultStack) -> AsyncIterator[TcpProxy]:
    p = TcpProxy(faults.sim_port)
    faults.ari_url = p.url
    await p.start()
    try:
        yield p
    finally:
        await p.close()


async def test_ari_socket_cut_while_bridged_ends_the_call_after_reconnecting(
    faults: FaultStack, proxy: TcpProxy
) -> None:
    # 16 s of simulated talk is 4 s of wall time: the lead hangs up while the worker is cut off.
    faults.scenario = {
        "callee": [
            ADMIN,
            {"match": LEAD, "behaviour": "answer", "answer_after": 2.0, "talk": 16.0},
            {"match": LATER_LEAD, "behaviour": "answer", "answer_after": 2.0, "talk": 12.0},
        ]
    }
    await faults.start_simulator()
    await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    await faults.wait_bridged(attempt)
    await proxy.cut()
    later_id = await faults.submit(LATER_LEAD)  # queued while the worker can't reach the PBX

    async def lead_gone() -> bool:
        return (await faults.sim_get("calls/" + leg_id(attempt, "lead"))).get("destroyed") is not None

    await wait_for(lead_gone, "the lead to hang up during the cut", within=20.0)
    # The worker's channels stayed in its application while it was away, as on Asterisk.
    apps = await faults.sim_get("channels")
    assert any(c["id"] == leg_id(attempt, "admin") and c.get("stasis_app") == "w1" for c in apps)
    await asyncio.sleep(1.0)  # a few refused reconnects
    await proxy.start()

    assert await faults.wait_closed(request_id) == "completed"
    assert await faults.wait_closed(later_id) == "completed"
    for rid in (request_id, later_id):
        await faults.assert_consistent(rid)
        assert [a.outcome for a in await faults.attempts(rid)] == ["completed"]
        assert await faults.sms_kinds(rid) == ["confirmation"]
    later_attempt = (await faults.attempts(later_id))[0].id
    assert await faults.lead_dials() == {attempt: 1, later_attempt: 1}
    # The admin leg the worker held through the cut was hung up by it, not left ringing in Stasis.
    assert await faults.channel(leg_id(attempt, "admin")) is None
    assert (await faults.sim_get("calls/" + leg_id(attempt, "lead")))["hangup_by"] == "callee"


async def test_pbx_restart_while_bridged_ends_the_attempt_and_the_lead_is_not_dialled_twice(
    faults: FaultStack,
) -> None:
    faults.scenario = {
        "callee": [ADMIN, {"match": LEAD, "behaviour": "answer", "answer_after": 2.0, "talk": 16.0}]
    }
    await faults.start_simulator()
    await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)
    attempt = await faults.first_attempt(request_id)

    await faults.wait_bridged(attempt)
    await faults.restart_simulator()  # every channel is gone, the worker's socket with them

    async def filtered_again() -> bool:  # the new PBX knows nothing of the old one's filter
        app = await faults.application("w1")
        return app is not None and [f["type"] for f in app["events_disallowed"]] == list(UNREAD_EVENTS)

    await wait_for(filtered_again, "the reconnected worker to set its event filter again", within=20.0)

    # The worker learns from the restarted PBX that its channels are gone: the call was bridged, so it
    # counts as the lead's attempt, judged by its talk time (a short call is tried again).
    assert await faults.wait_closed(request_id) == "completed"
    await faults.assert_consistent(request_id)
    attempts = await faults.attempts(request_id)
    assert [a.outcome for a in attempts] in (["completed"], ["short_call", "completed"])
    assert await faults.lead_dials() == {a.id: 1 for a in attempts}
