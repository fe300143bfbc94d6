"""The SMS gateway is down when a missed call queues its text: the message waits, queued with the reason, and
goes out exactly once when a gateway answers on that port again.

The stand-in gateway is a real HTTP server speaking the generic webhook gateway's protocol
(``ari_app/sms/webhook.py``): it checks the signature and counts what it received.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from faults_harness import FaultStack, free_port, wait_for

from ari_app.sms.webhook import SIGNATURE_HEADER, verify_webhook_signature

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.postgres]

LEAD = "+12125550101"
SECRET = "stand-in-gateway-secret"


@dataclass
class StandInGateway:
    port: int
    received: list[dict[str, object]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/sms", self._send)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_webhook_signature(SECRET, body, request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "bad signature"}, status=401)
        message = json.loads(body)
        self.received.append(message)
        return web.json_response({"id": f"gw-{len(self.received)}", "status": "queued"})

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def gateway(faults: FaultStack) -> AsyncIterator[StandInGateway]:
    gw = StandInGateway(free_port())  # nothing listens there until the test starts it
    faults.sms = {"gateway": "webhook", "url": f"http://127.0.0.1:{gw.port}/sms", "password": SECRET}
    try:
        yield gw
    finally:
        await gw.close()


async def test_sms_gateway_down_keeps_the_missed_call_text_queued_then_sends_it_once(
    faults: FaultStack, gateway: StandInGateway
) -> None:
    faults.scenario = {
        "callee": [
            {"match": "PJSIP/admin", "behaviour": "answer", "answer_after": 1.0, "dtmf": "1",
             "dtmf_after": "playback"},
            {"match": LEAD, "behaviour": "busy"},
        ]
    }  # fmt: skip
    await faults.start_simulator()
    await faults.start_worker("w1")
    request_id = await faults.submit(LEAD)

    async def tried_and_waiting() -> bool:
        rows = await faults.sms_rows(request_id)
        return bool(rows) and rows[0].tries >= 1 and rows[0].status == "queued"

    await wait_for(tried_and_waiting, "the missed-call SMS to fail its first send", within=30.0)
    (waiting,) = await faults.sms_rows(request_id)
    assert waiting.kind == "missed_call"
    assert "cannot connect to the SMS gateway" in (waiting.error or "")
    assert waiting.sent_at is None

    await gateway.start()
    await faults.age_sms()  # due now, rather than after the sender's backoff

    assert await faults.wait_closed(request_id, within=30.0) == "incomplete"
    (sent,) = await faults.sms_rows(request_id)
    assert (sent.status, sent.provider_message_id) == ("sent", "gw-1")
    assert [(m["to"], m["idempotency_key"]) for m in gateway.received] == [(LEAD, sent.idempotency_key)]
    await faults.assert_consistent(request_id)
    attempts = await faults.attempts(request_id)
    assert [a.outcome for a in attempts] == ["lead_busy", "lead_busy"]
    assert await faults.lead_dials() == {a.id: 1 for a in attempts}
